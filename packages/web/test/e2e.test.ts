// biome-ignore-all lint/performance/useDomNodeTextContent: these are Playwright locators; innerText() is the text the user sees.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { credentialsFromEnv, TaskManager } from "@openagents/runner";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { git, makeBareRepo } from "../../runner/test/git-fixtures.ts";
import { type ScriptedAnthropic, startScriptedAnthropic } from "../../runner/test/scripted-anthropic.ts";
import { startTestEdge, type TestEdge } from "./test-edge.ts";

// The built app in a real Chromium against a real runner (TaskManager: clone, sandbox, shell and
// Claude Code agents, patch) behind test-edge.ts, which speaks the edge API. Claude Code talks to a
// scripted Messages API on loopback, so its run is real but its answers are known.

const WEB = path.resolve(import.meta.dirname, "..");
const ROOT = path.resolve(WEB, "../..");
const TOKEN = "oa_e2e_token_0123456789";
const CHROMIUM = "/usr/bin/chromium";
const SHOTS = process.env.WEB_SCREENSHOTS_DIR ?? path.join(tmpdir(), "openagents-web-screenshots");

let edge: TestEdge;
let manager: TaskManager;
let anthropic: ScriptedAnthropic;
let context: BrowserContext;
let page: Page;
let tmp: string;
let repo: string;

const text = (sel: string) => page.locator(sel).first().innerText();
const logCount = async () => Number((await text("[data-testid=log-count]")).replace(/[^\d]/g, ""));

async function startTaskFromForm(fill: { repo: string; agent: string; instructions: string }) {
  await page.goto(`${edge.url}/#/new`);
  await page.fill("#f-repo", fill.repo);
  await page.locator(".segmented label", { hasText: fill.agent }).click();
  await page.fill(fill.agent === "Shell script" ? "#f-script" : "#f-prompt", fill.instructions);
  await page.getByRole("button", { name: "Start task" }).click();
  await page.waitForURL(/#\/tasks\/t_/);
  return decodeURIComponent(page.url().split("#/tasks/")[1]!);
}

async function waitForStatus(status: string, timeout = 60_000) {
  await page.locator(`.task-title [data-status="${status}"]`).waitFor({ timeout });
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  execFileSync(path.join(ROOT, "node_modules/.bin/vite"), ["build", WEB, "--logLevel", "warn"], {
    stdio: "inherit",
  });
  tmp = mkdtempSync(path.join(tmpdir(), "web-e2e-"));
  repo = makeBareRepo({ "a.txt": "hi\n", "README.md": "# demo\n" }).bare;
  anthropic = await startScriptedAnthropic([
    {
      content: [
        { type: "text", text: "I will read the file first." },
        { type: "tool_use", name: "Bash", input: { command: "cat a.txt", description: "Show a.txt" } },
      ],
      inputTokens: 1200,
      outputTokens: 80,
    },
    { content: [{ type: "text", text: "The file says hi." }], inputTokens: 1300, outputTokens: 20 },
    // The follow-up turn.
    {
      content: [{ type: "tool_use", name: "Bash", input: { command: "echo 'follow-up' >> a.txt" } }],
    },
    { content: [{ type: "text", text: "Appended a line to a.txt." }], inputTokens: 900, outputTokens: 30 },
  ]);
  manager = new TaskManager({
    workRoot: path.join(tmp, "work"),
    credentials: credentialsFromEnv({ ANTHROPIC_BASE_URL: anthropic.url, ANTHROPIC_API_KEY: "sk-ant-e2e" }),
    graceMs: 500,
  });
  edge = await startTestEdge({ manager, token: TOKEN, distDir: path.join(WEB, "dist") });
  context = await chromium.launchPersistentContext(path.join(tmp, "profile"), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
  });
  page = context.pages()[0] ?? (await context.newPage());
  mkdirSync(SHOTS, { recursive: true });
}, 180_000);

afterAll(async () => {
  await context?.close();
  await edge?.close();
  await anthropic?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}, 60_000);

describe("web app in Chromium", () => {
  it("refuses a wrong token, then logs in from the #token link and strips it from the address bar", async () => {
    await page.goto(`${edge.url}/`);
    await page.fill("input[name=token]", "wrong");
    await page.getByRole("button", { name: "Log in" }).click();
    await expect.poll(() => text("#login-error")).toContain("the token is not valid");

    await page.goto(`${edge.url}/#token=${TOKEN}`);
    await page.getByText("No tasks yet").waitFor();
    expect(page.url()).not.toContain(TOKEN);
    expect(await page.evaluate(() => document.cookie)).not.toContain("oa_session"); // HttpOnly
    expect(await text("[data-testid=container-badge]")).toContain("cold");
    await page.screenshot({ path: path.join(SHOTS, "list-empty-1280.png") });
  });

  it("shows the server's validation messages under each field before sending anything", async () => {
    await page.goto(`${edge.url}/#/new`);
    await page.getByRole("button", { name: "Start task" }).click();
    await expect.poll(() => text("#f-repo-error")).toBe("repo must not be empty");
    expect(await text("#f-prompt-error")).toBe('prompt is required when agent is "claude-code"');
    expect(await page.getAttribute("#f-repo", "aria-invalid")).toBe("true");
    await page.fill("#f-ref", "bad..ref");
    await expect.poll(() => text("#f-ref-error")).toBe("ref is not a valid git ref");
    await page.locator(".segmented label", { hasText: "Shell script" }).click();
    await expect.poll(() => text("#f-script-error")).toBe('script is required when agent is "shell"');
    expect(manager.list()).toHaveLength(0);
    await page.screenshot({ path: path.join(SHOTS, "form-errors-1280.png"), fullPage: true });
  });

  it("follows a shell task live through 50,000 log lines and a dropped connection, then shows the patch", async () => {
    const script = [
      "seq 1 25000 | sed 's/^/line /'",
      "sleep 4",
      "seq 25001 50000 | sed 's/^/line /'",
      "printf 'hi\\nchanged\\n' > a.txt",
      "printf 'export const x = 1;\\n' > new.ts",
      "echo done",
    ].join("\n");
    // Longest gap between animation frames while the log floods in: the page must stay responsive.
    await page.addInitScript(() => {
      const w = window as unknown as { maxFrameGap: number };
      w.maxFrameGap = 0;
      let last = performance.now();
      const tick = (t: number) => {
        w.maxFrameGap = Math.max(w.maxFrameGap, t - last);
        last = t;
        requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
    await page.reload();
    const t0 = Date.now();
    const id = await startTaskFromForm({ repo, agent: "Shell script", instructions: script });
    await expect.poll(logCount, { timeout: 30_000, interval: 100 }).toBeGreaterThanOrEqual(25_000);
    const seenBeforeDrop = manager.get(id)!.log.lastSeq;
    expect(edge.dropSockets()).toBeGreaterThan(0);
    await waitForStatus("succeeded");
    const elapsed = Date.now() - t0;

    const events = manager.get(id)!.log.since(0);
    const logEvents = events.filter((e) => e.type === "log").length;
    // Every line exactly once: a duplicate would raise the count, a gap lower it.
    expect(await logCount()).toBe(logEvents);
    expect(logEvents).toBeGreaterThanOrEqual(50_001);
    expect(edge.socketAfters.length).toBeGreaterThanOrEqual(2);
    expect(edge.socketAfters[0]).toBe(0);
    expect(edge.socketAfters[1]).toBeGreaterThanOrEqual(seenBeforeDrop - 1000);
    expect(edge.socketAfters[1]).toBeGreaterThan(0);
    const statusEvents = events.filter((e) => e.type === "status").length;
    expect(await page.locator(".tl-status-row").count()).toBe(statusEvents);
    // Virtualised: only the lines in view are in the DOM.
    expect(await page.locator(".log-line").count()).toBeLessThan(120);
    expect(await page.locator(".log-line").last().innerText()).toBe("done");
    const maxFrameGap = await page.evaluate(() => (window as unknown as { maxFrameGap: number }).maxFrameGap);
    console.log(
      `e2e: ${logEvents} log lines in ${elapsed} ms; longest frame gap ${Math.round(maxFrameGap)} ms`,
    );
    expect(maxFrameGap).toBeLessThan(1500);

    // The diff: both files, coloured lines, and a download that applies to the repository.
    const diff = page.locator("[data-testid=diff]");
    await expect.poll(() => diff.locator(".diff-file").count()).toBe(2);
    expect(await diff.locator(".diff-path").allInnerTexts()).toEqual(["a.txt", "new.ts"]);
    expect(await diff.locator(".dl-add").count()).toBe(2);
    expect(await diff.locator(".dl-add .code").first().innerText()).toBe("+changed");
    expect(await diff.locator(".change-added").count()).toBe(1);
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Download patch" }).click(),
    ]);
    expect(download.suggestedFilename()).toBe(`${id}.patch`);
    const saved = path.join(tmp, "downloaded.patch");
    await download.saveAs(saved);
    expect(readFileSync(saved, "utf8")).toBe(manager.get(id)!.result()!.patch);
    const checkout = path.join(tmp, "apply-check");
    git(tmp, "clone", "-q", repo, checkout);
    git(checkout, "apply", "--check", saved);
    await page.screenshot({ path: path.join(SHOTS, "task-shell-1280.png"), fullPage: true });
  });

  it("cancels a running task", async () => {
    const id = await startTaskFromForm({
      repo,
      agent: "Shell script",
      instructions: "echo started\nsleep 60",
    });
    await expect
      .poll(() => page.locator(".log-line").allInnerTexts(), { timeout: 30_000 })
      .toContain("started");
    await page.getByRole("button", { name: "Cancel task" }).click();
    await waitForStatus("cancelled", 20_000);
    expect(manager.get(id)!.state()).toBe("cancelled");
    expect(await text("[data-testid=result] h2")).toBe("Cancelled");
    expect(await page.getByRole("button", { name: "Cancel task" }).count()).toBe(0);
  });

  it("shows Claude Code's messages, a collapsed tool call with its output, usage, and a follow-up turn", async () => {
    const id = await startTaskFromForm({ repo, agent: "Claude Code", instructions: "What does a.txt say?" });
    await waitForStatus("succeeded", 90_000);
    const timeline = page.locator("[data-testid=timeline]");
    expect(await timeline.locator(".tl-message").allInnerTexts()).toEqual([
      "I will read the file first.",
      "The file says hi.",
    ]);
    const tool = timeline.locator(".tool").first();
    expect(await tool.locator(".tool-summary").innerText()).toBe("Bash: cat a.txt");
    expect(await tool.locator(".tool-body").count()).toBe(0); // collapsed
    await tool.locator("summary").click();
    expect(await tool.locator(".tool-body pre").nth(1).innerText()).toContain("hi");
    expect(await text("[data-testid=usage]")).toMatch(/Input tokens\s+2\.5k/);
    await page.screenshot({ path: path.join(SHOTS, "task-claude-1280.png"), fullPage: true });

    const socketsBefore = edge.socketAfters.length;
    await page.fill("#follow-up-text", "Append a line to a.txt");
    await page.getByRole("button", { name: "Send" }).click();
    await expect
      .poll(() => timeline.locator(".tl-message").allInnerTexts(), { timeout: 90_000 })
      .toContain("Appended a line to a.txt.");
    await waitForStatus("succeeded", 30_000);
    // The stream had ended with the first result; the app reconnected after its last seq.
    expect(edge.socketAfters.length).toBeGreaterThan(socketsBefore);
    expect(edge.socketAfters.at(-1)).toBeGreaterThan(0);
    expect(await timeline.locator(".tl-result").count()).toBe(2);
    expect(await page.locator(".diff-path").allInnerTexts()).toEqual(["a.txt"]);
    // Usage adds up over both turns: what the runner reported, summed.
    const input = manager
      .get(id)!
      .log.since(0)
      .reduce((n, e) => n + (e.type === "usage" ? e.inputTokens : 0), 0);
    expect(input).toBe(1200 + 1300 + 100 + 900);
    expect(await text("[data-testid=usage]")).toMatch(/Input tokens\s+3\.5k/);
    // One row per event that makes one (a tool result joins its call): nothing doubled across the reconnect.
    const rows = manager
      .get(id)!
      .log.since(0)
      .filter((e) =>
        e.type === "agent" ? e.kind !== "tool_result" : e.type !== "log" && e.type !== "usage",
      );
    expect(await timeline.locator(".tl-item").count()).toBe(rows.length);
  });

  it("fits a 375 px phone screen without sideways scrolling", async () => {
    await page.setViewportSize({ width: 375, height: 812 });
    const pages = [
      ["#/", "list-375"],
      ["#/new", "form-375"],
      [`#/tasks/${manager.list()[0]!.id}`, "task-shell-375"],
      [`#/tasks/${manager.list().at(-1)!.id}`, "task-claude-375"],
    ] as const;
    for (const [hash, name] of pages) {
      await page.goto(`${edge.url}/${hash}`);
      await page.locator(".page > *").first().waitFor();
      // A finished task's events replay from seq 1: wait until its result is in.
      if (hash.startsWith("#/tasks/"))
        await page.locator("[data-testid=result]").waitFor({ timeout: 30_000 });
      await page.waitForTimeout(300);
      expect(await page.evaluate(() => document.documentElement.scrollWidth), name).toBeLessThanOrEqual(375);
      await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
    }
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`${edge.url}/#/`);
    await page.locator("[data-testid=task-list] li").first().waitFor();
    await page.screenshot({ path: path.join(SHOTS, "list-1280.png") });
  });
});
