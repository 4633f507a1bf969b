// biome-ignore-all lint/performance/useDomNodeTextContent: these are Playwright locators; innerText() is the text the user sees.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { RunEvent } from "@openagents/protocol";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { git, makeBareRepo } from "../../runner/test/git-fixtures.ts";
import { type ScriptedAnthropic, startScriptedAnthropic } from "../../runner/test/scripted-anthropic.ts";
import { type LocalStack, startLocalStack } from "./local-stack.ts";

// The built app in a real Chromium against the real local stack, `openagents up`: the edge Worker
// in workerd (D1, TaskDO, ContainerDO), the local container host running `runner serve`, tasks in
// the real sandbox on real git repositories. Claude Code talks to a scripted Messages API on
// loopback, so its run is real but its answers are known: the user stores a model key (`/api/keys`,
// as `openagents keys add` does), the edge's egress adds it outside the container and calls
// ANTHROPIC_UPSTREAM, which wrangler takes from up's environment (CLOUDFLARE_INCLUDE_PROCESS_ENV).

const TOKEN = "oa_e2e_token_0123456789";
const MODEL_KEY = "sk-ant-e2e-model-key-0123456789";
const CHROMIUM = "/usr/bin/chromium";
const SHOTS = process.env.WEB_SCREENSHOTS_DIR ?? path.join(tmpdir(), "openagents-web-screenshots");
const LINES = 50_000;

let stack: LocalStack;
let anthropic: ScriptedAnthropic;
let context: BrowserContext;
let page: Page;
let tmp: string;
let repo: string;
const taskIds: { shell?: string; claude?: string } = {};

/** Every task WebSocket the page opened: its `after`, and the seq of each event it received, in order. */
interface SocketRecord {
  after: number;
  seqs: number[];
}
let sockets: SocketRecord[] = [];

const text = (sel: string) => page.locator(sel).first().innerText();
const logCount = async () => Number((await text("[data-testid=log-count]")).replace(/[^\d]/g, ""));

async function startTaskFromForm(fill: { repo: string; agent: string; instructions: string }) {
  await page.goto(`${stack.url}/#/new`);
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

/** Each socket got the events right after its `after`, one by one: a gap or a repeat fails here. */
function expectContiguous(records: SocketRecord[]) {
  for (const s of records) {
    expect(s.seqs, `socket after=${s.after}`).toEqual(s.seqs.map((_, i) => s.after + 1 + i));
  }
}

const seqsOf = (events: RunEvent[]) => events.map((e) => e.seq);
const resultOf = (events: RunEvent[]) => events.findLast((e) => e.type === "result");

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  tmp = mkdtempSync(path.join(tmpdir(), "web-e2e-"));
  repo = makeBareRepo({ "a.txt": "hi\n", "README.md": "# demo\n" }).bare;
  anthropic = await startScriptedAnthropic(
    [
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
        inputTokens: 100,
      },
      { content: [{ type: "text", text: "Appended a line to a.txt." }], inputTokens: 900, outputTokens: 30 },
    ],
    // A request without this key gets a 401: the edge's egress must add it.
    { apiKey: MODEL_KEY },
  );
  stack = await startLocalStack({
    token: TOKEN,
    env: { CLOUDFLARE_INCLUDE_PROCESS_ENV: "true", ANTHROPIC_UPSTREAM: anthropic.url },
  });
  console.log(`e2e: openagents up ready in ${stack.startMs} ms`);
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
  // Lets the test drop the page's sockets as a lost network would (the app cannot tell the difference).
  await context.addInitScript(() => {
    const Native = window.WebSocket;
    const open: WebSocket[] = [];
    (window as unknown as { dropSockets: () => number }).dropSockets = () => {
      const live = open.filter((s) => s.readyState === Native.OPEN);
      for (const s of live) s.close(4000, "dropped by the test");
      return live.length;
    };
    window.WebSocket = class extends Native {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols);
        open.push(this);
      }
    };
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on("websocket", (ws) => {
    const m = /\/api\/task\/ws\/[^?]+\?after=(\d+)/.exec(ws.url());
    if (!m) return;
    const record: SocketRecord = { after: Number(m[1]), seqs: [] };
    sockets.push(record);
    ws.on("framereceived", ({ payload }) => {
      const data = String(payload);
      if (!data.startsWith("{")) return; // the heartbeat's "pong"
      const seq = (JSON.parse(data) as { seq?: unknown }).seq;
      if (typeof seq === "number") record.seqs.push(seq);
    });
  });
  mkdirSync(SHOTS, { recursive: true });
}, 180_000);

afterAll(async () => {
  await context?.close();
  // The whole stack must go: workerd, wrangler, the container host's runners, the key proxy.
  const left = (await stack?.stop()) ?? [];
  await anthropic?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  if (repo) rmSync(path.dirname(repo), { recursive: true, force: true });
  expect(left, "processes of openagents up still running after SIGTERM").toEqual([]);
}, 60_000);

describe("web app in Chromium against openagents up", () => {
  it("refuses a wrong token, then logs in from the #token link and strips it from the address bar", async () => {
    // The stack has no GITHUB_CLIENT_ID: the server says so, and the login page offers no GitHub button.
    expect(await stack.api("GET", "/api/auth/github")).toEqual({
      status: 200,
      json: { configured: false, loginUrl: "/api/auth/github/login" },
    });
    const asked = page.waitForResponse((r) => new URL(r.url()).pathname === "/api/auth/github");
    await page.goto(`${stack.url}/`);
    expect((await asked).status()).toBe(200);
    await page.locator("input[name=token]").waitFor();
    expect(await page.locator("[data-testid=github-login]").count()).toBe(0);
    await page.fill("input[name=token]", "wrong");
    await page.getByRole("button", { name: "Log in" }).click();
    await expect.poll(() => text("#login-error")).toContain("the token is not valid");

    await page.goto(`${stack.url}/#token=${TOKEN}`);
    await page.getByText("No tasks yet").waitFor();
    expect(page.url()).not.toContain(TOKEN);
    expect(await page.evaluate(() => document.cookie)).not.toContain("oa_session"); // HttpOnly
    await expect.poll(() => text("[data-testid=container-badge]")).toContain("cold");
    await page.screenshot({ path: path.join(SHOTS, "list-empty-1280.png") });
  });

  it("shows the server's validation messages under each field before sending anything", async () => {
    await page.goto(`${stack.url}/#/new`);
    await page.getByRole("button", { name: "Start task" }).click();
    await expect.poll(() => text("#f-repo-error")).toBe("repo must not be empty");
    expect(await text("#f-prompt-error")).toBe('prompt is required when agent is "claude-code"');
    expect(await page.getAttribute("#f-repo", "aria-invalid")).toBe("true");
    await page.fill("#f-ref", "bad..ref");
    await expect.poll(() => text("#f-ref-error")).toBe("ref is not a valid git ref");
    await page.locator(".segmented label", { hasText: "Shell script" }).click();
    await expect.poll(() => text("#f-script-error")).toBe('script is required when agent is "shell"');
    const list = await stack.api("GET", "/api/tasks");
    expect(list).toEqual({ status: 200, json: { tasks: [] } });
    await page.screenshot({ path: path.join(SHOTS, "form-errors-1280.png"), fullPage: true });
  });

  it(`follows a shell task through ${LINES.toLocaleString("en")} log lines, a dropped connection and a reload, then shows the patch`, async () => {
    // The script waits at the gate between its two halves, so the drop and the reload surely
    // happen mid-task, whatever the machine's speed.
    const gate = path.join(tmp, "gate");
    const half = LINES / 2;
    const script = [
      `seq 1 ${half} | sed 's/^/line /'`,
      `while [ ! -e ${gate} ]; do sleep 0.1; done`,
      `seq ${half + 1} ${LINES} | sed 's/^/line /'`,
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
    sockets = [];
    const t0 = Date.now();
    const id = await startTaskFromForm({ repo, agent: "Shell script", instructions: script });
    taskIds.shell = id;
    await expect.poll(logCount, { timeout: 60_000, interval: 200 }).toBeGreaterThanOrEqual(half);
    const firstHalfMs = Date.now() - t0;

    // 1. The network drops: the app reconnects by itself and resumes after the last seq it has.
    const before = sockets.length;
    expect(
      await page.evaluate(() => (window as unknown as { dropSockets: () => number }).dropSockets()),
    ).toBe(1);
    await expect.poll(() => sockets.length, { timeout: 15_000 }).toBeGreaterThan(before);
    const resumed = sockets[before]!;
    // (The old socket may still have received a few frames after the app let go of it.)
    expect(resumed.after).toBeGreaterThanOrEqual(half);
    expect(resumed.after).toBeLessThanOrEqual(sockets[before - 1]!.seqs.at(-1)!);

    // 2. The user reloads: the new page replays the task from the start.
    await page.reload();
    await expect.poll(logCount, { timeout: 60_000, interval: 200 }).toBeGreaterThanOrEqual(half);
    const afterReload = sockets.slice(before + 1);
    expect(afterReload[0]!.after).toBe(0);
    expect(await page.locator(".task-title [data-status]").getAttribute("data-status")).toBe("running");

    writeFileSync(gate, "");
    await waitForStatus("succeeded", 120_000);
    const elapsed = Date.now() - t0;

    // What the browser received and shows, against the task's log as the API keeps it.
    const events = await stack.events(id);
    expect(seqsOf(events)).toEqual(events.map((_, i) => i + 1));
    expectContiguous(sockets);
    const received = new Set(afterReload.flatMap((s) => s.seqs));
    expect([...received].sort((a, b) => a - b)).toEqual(seqsOf(events));
    const logEvents = events.filter((e) => e.type === "log").length;
    expect(logEvents).toBeGreaterThanOrEqual(LINES + 1);
    // Every line exactly once: a duplicate would raise the count, a gap lower it.
    await expect.poll(logCount).toBe(logEvents);
    const statusEvents = events.filter((e) => e.type === "status").length;
    expect(await page.locator(".tl-status-row").count()).toBe(statusEvents);
    // Virtualised: only the lines in view are in the DOM.
    expect(await page.locator(".log-line").count()).toBeLessThan(120);
    expect(await page.locator(".log-line").last().innerText()).toBe("done");
    const maxFrameGap = await page.evaluate(() => (window as unknown as { maxFrameGap: number }).maxFrameGap);
    console.log(
      `e2e: ${logEvents} log events through the edge in ${elapsed} ms (first ${half} lines on screen after ${firstHalfMs} ms); ` +
        `longest frame gap ${Math.round(maxFrameGap)} ms; ${sockets.length} sockets`,
    );
    expect(maxFrameGap).toBeLessThan(1500);

    // The diff: both files, coloured lines, and a download equal to the API's result patch.
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
    const result = resultOf(events);
    expect(result?.type === "result" && result.ok).toBe(true);
    expect(readFileSync(saved, "utf8")).toBe(result?.type === "result" ? result.patch : "");
    const checkout = path.join(tmp, "apply-check");
    git(tmp, "clone", "-q", repo, checkout);
    git(checkout, "apply", "--check", saved);
    await page.screenshot({ path: path.join(SHOTS, "task-shell-1280.png"), fullPage: true });
  }, 150_000);

  it("cancels a running task", async () => {
    const id = await startTaskFromForm({
      repo,
      agent: "Shell script",
      instructions: "echo started\nsleep 60",
    });
    await expect
      .poll(() => page.locator(".log-line").allInnerTexts(), { timeout: 30_000 })
      .toContain("started");
    const t0 = Date.now();
    await page.getByRole("button", { name: "Cancel task" }).click();
    await waitForStatus("cancelled", 20_000);
    console.log(`e2e: cancel click → cancelled on screen in ${Date.now() - t0} ms`);
    const { json } = await stack.api("GET", `/api/tasks/${id}`);
    expect((json as { status: string }).status).toBe("cancelled");
    expect(await text("[data-testid=result] h2")).toBe("Cancelled");
    expect(await page.getByRole("button", { name: "Cancel task" }).count()).toBe(0);
    // The sandboxed `sleep 60` is gone with its task.
    await expect
      .poll(() => stack.processes().filter((cmd) => /^sleep 60$|echo started/.test(cmd)))
      .toEqual([]);
  });

  it("shows Claude Code's messages, a collapsed tool call with its output, usage, and a follow-up turn", async () => {
    const key = await stack.api("POST", "/api/keys", { provider: "anthropic", key: MODEL_KEY, label: "e2e" });
    expect(key.status).toBe(201);
    expect(JSON.stringify(key.json)).not.toContain(MODEL_KEY);
    sockets = [];
    const id = await startTaskFromForm({ repo, agent: "Claude Code", instructions: "What does a.txt say?" });
    taskIds.claude = id;
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

    await page.fill("#follow-up-text", "Append a line to a.txt");
    await page.getByRole("button", { name: "Send" }).click();
    await expect
      .poll(() => timeline.locator(".tl-message").allInnerTexts(), { timeout: 90_000 })
      .toContain("Appended a line to a.txt.");
    await waitForStatus("succeeded", 30_000);
    expect(await timeline.locator(".tl-result").count()).toBe(2);
    expect(await page.locator(".diff-path").allInnerTexts()).toEqual(["a.txt"]);
    expect(anthropic.remaining()).toBe(0);

    const events = await stack.events(id);
    expect(seqsOf(events)).toEqual(events.map((_, i) => i + 1));
    expectContiguous(sockets);
    // Nothing missed and nothing doubled across both turns, whether the socket stayed open or not.
    expect([...new Set(sockets.flatMap((s) => s.seqs))].sort((a, b) => a - b)).toEqual(seqsOf(events));
    // Usage adds up over both turns: what the runner reported, summed.
    const input = events.reduce((n, e) => n + (e.type === "usage" ? e.inputTokens : 0), 0);
    expect(input).toBe(1200 + 1300 + 100 + 900);
    expect(await text("[data-testid=usage]")).toMatch(/Input tokens\s+3\.5k/);
    // One row per event that makes one (a tool result joins its call).
    const rows = events.filter((e) =>
      e.type === "agent" ? e.kind !== "tool_result" : e.type !== "log" && e.type !== "usage",
    );
    expect(await timeline.locator(".tl-item").count()).toBe(rows.length);
    const result = resultOf(events);
    expect(result?.type === "result" ? result.patch : "").toContain("+follow-up");

    // The model key reached the model API only through the edge's egress: not in the task's events,
    // not in clear in the stack's state (D1, Durable Objects, container workspaces).
    expect(
      anthropic.requests.filter((r) => r.scripted).every((r) => r.headers["x-api-key"] === MODEL_KEY),
    ).toBe(true);
    expect(JSON.stringify(events)).not.toContain(MODEL_KEY);
    const leaks = (readdirSync(stack.stateHome, { recursive: true }) as string[]).filter((f) => {
      const file = path.join(stack.stateHome, f);
      try {
        return readFileSync(file).includes(MODEL_KEY);
      } catch {
        return false; // a directory or a socket
      }
    });
    expect(leaks).toEqual([]);
  }, 150_000);

  it("says clearly that this server cannot sell credits when it has no Lightning wallet", async () => {
    // `up` sets no PLATFORM_NWC_URI (nor SATS_PER_USD): the edge says so, and refuses every purchase.
    const standing = await stack.api("GET", "/api/credits");
    expect(standing.json).toMatchObject({ lightning: false });
    const direct = await stack.api("POST", "/api/credits/invoice", { amountUsd: 5 });
    expect(direct.status).toBe(501);
    expect(direct.json).toMatchObject({
      error: { code: "not_configured", message: /Lightning purchases are off/ },
    });

    await page.goto(`${stack.url}/#/settings`);
    const panel = page.locator("[data-testid=credits-panel]");
    await panel.locator("[data-testid=balance]").waitFor();
    // Known before anything is tried: no form to fill in for nothing.
    await expect
      .poll(() => text("[data-testid=buy-off]"))
      .toBe("This server cannot sell credits: it has no Lightning wallet set up.");
    expect(await panel.locator("[data-testid=buy-form]").count()).toBe(0);
    expect(await panel.locator("[data-testid=invoice]").count()).toBe(0);
    await page.screenshot({ path: path.join(SHOTS, "settings-no-lightning-1280.png"), fullPage: true });
  });

  it("fits a 375 px phone screen without sideways scrolling", async () => {
    await page.setViewportSize({ width: 375, height: 812 });
    const pages = [
      ["#/", "list-375"],
      ["#/new", "form-375"],
      [`#/tasks/${taskIds.shell}`, "task-shell-375"],
      [`#/tasks/${taskIds.claude}`, "task-claude-375"],
    ] as const;
    for (const [hash, name] of pages) {
      await page.goto(`${stack.url}/${hash}`);
      await page.locator(".page > *").first().waitFor();
      // A finished task's events replay from seq 1: wait until its result is in.
      if (hash.startsWith("#/tasks/"))
        await page.locator("[data-testid=result]").waitFor({ timeout: 30_000 });
      await page.waitForTimeout(300);
      expect(await page.evaluate(() => document.documentElement.scrollWidth), name).toBeLessThanOrEqual(375);
      await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
    }
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`${stack.url}/#/`);
    await page.locator("[data-testid=task-list] li").first().waitFor();
    expect(await page.locator("[data-testid=task-list] li").count()).toBe(3);
    await page.screenshot({ path: path.join(SHOTS, "list-1280.png") });
  });
});
