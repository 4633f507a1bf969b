// biome-ignore-all lint/performance/useDomNodeTextContent: these are Playwright locators; innerText() is the text the user sees.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeBareRepo } from "../../runner/test/git-fixtures.ts";
import { type LocalStack, startLocalStack } from "./local-stack.ts";

// "My machines" and Settings in a real Chromium against the real local stack (`openagents up`): the
// user creates a machine token in the page, copies the command it shows once, a real
// `openagents connect` (tunnel mode) process dials in with it, the page shows the machine connected,
// a task started from the form with "My machine" runs on it, and revoking the token in the page
// disconnects it. Settings: a key added in the page is listed masked and never reaches the page again.
//
// The CLI's `connect` command does not dispatch to the tunnel mode yet, so the machine runs through
// packages/edge/test/support/tunnel-machine-main.ts, which calls the same `runTunnel` the command will.

const TOKEN = "oa_machines_e2e_token_0123456789";
const MODEL_KEY = "sk-ant-machines-e2e-secret-7788";
const CHROMIUM = "/usr/bin/chromium";
const ROOT = path.resolve(import.meta.dirname, "../../..");
const CLI = path.join(ROOT, "packages/cli/bin/openagents.js");
const SHOTS = process.env.WEB_SCREENSHOTS_DIR ?? path.join(tmpdir(), "openagents-web-screenshots");

let stack: LocalStack;
let browser: Browser;
let page: Page;
let tmp: string;
let repo: string;
let machine: { child: ChildProcess; output: string } | undefined;

function startMachine(url: string, token: string, name: string, allowDir: string) {
  const child = spawn(
    process.execPath,
    [CLI, "connect", "--url", url, "--token", token, "--name", name, "--allow-dir", allowDir],
    {
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        XDG_STATE_HOME: path.join(tmp, "machine"),
        XDG_CONFIG_HOME: path.join(tmp, "machine"),
      },
    },
  );
  const m = { child, output: "" };
  child.stdout!.on("data", (d: Buffer) => (m.output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (m.output += d.toString()));
  return m;
}

async function stopMachine(): Promise<void> {
  const child = machine?.child;
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    return;
  }
  await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), "web-machines-e2e-"));
  mkdirSync(SHOTS, { recursive: true });
  repo = makeBareRepo({ "a.txt": "hi\n" }).bare;
  stack = await startLocalStack({ token: TOKEN });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-sync",
    ],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("dialog", (d) => void d.accept());
  await page.goto(`${stack.url}/#token=${TOKEN}`);
  await page.locator(".topbar").waitFor();
}, 180_000);

afterAll(async () => {
  await stopMachine();
  await browser?.close();
  const leftovers = await stack?.stop();
  if (leftovers && leftovers.length > 0) console.warn("machines e2e: leftovers", leftovers);
  rmSync(tmp, { recursive: true, force: true });
}, 60_000);

describe("My machines", () => {
  let token = "";

  it("creates a token in the page and shows the connect command once", async () => {
    await page.getByRole("link", { name: "My machines" }).click();
    await page.locator("[data-testid=machines-page]").waitFor();
    await page.getByText("No machines yet").waitFor();
    await page.fill("#m-label", "e2e-box");
    await page.getByRole("button", { name: "Create token" }).click();
    const command = await page.locator("[data-testid=connect-command]").innerText();
    expect(command).toMatch(new RegExp(`^openagents connect --url ${stack.url} --token oam_[0-9a-f]+$`));
    token = command.split("--token ")[1]!;
    await page.screenshot({ path: path.join(SHOTS, "machines-token.png"), fullPage: true });
    // Once dismissed, the secret is gone from the page; the list shows the token, never connected.
    await page.getByRole("button", { name: "Done, I copied it" }).click();
    expect(await page.content()).not.toContain(token);
    await page.locator('[data-testid=machine][data-state="never"]').waitFor();
  });

  it("shows the machine connected once `openagents connect` runs with the token", async () => {
    machine = startMachine(stack.url, token, "e2e-box", path.dirname(repo));
    const card = page.locator('[data-testid=machine][data-machine="e2e-box"][data-state="connected"]');
    await card.waitFor({ timeout: 30_000 });
    expect(await card.locator("[data-testid=machine-status]").innerText()).toBe("Connected");
    expect(await card.locator("[data-testid=machine-load]").innerText()).toMatch(/^idle \(\d+ slots?\)$/);
    expect(await card.innerText()).toContain("Shell script");
    await page.screenshot({ path: path.join(SHOTS, "machines-connected.png"), fullPage: true });
  });

  it("runs a task started from the form with My machine on it", async () => {
    await page.goto(`${stack.url}/#/new`);
    await page.fill("#f-repo", repo);
    await page.locator(".segmented label", { hasText: "Shell script" }).click();
    await page.fill("#f-script", "echo from-my-machine > out.txt && cat out.txt");
    await page.selectOption("#f-compute", "tunnel");
    await page.locator('#f-machine option[value="e2e-box"]').waitFor({ state: "attached" });
    await page.selectOption("#f-machine", "e2e-box");
    expect(await page.locator("[data-testid=estimate]").innerText()).toMatch(/no credits are spent/);
    await page.getByRole("button", { name: "Start task" }).click();
    await page.waitForURL(/#\/tasks\/t_/);
    const id = decodeURIComponent(page.url().split("#/tasks/")[1]!);
    await page.locator('.task-title [data-status="succeeded"]').waitFor({ timeout: 90_000 });
    const events = await stack.events(id);
    const log = events.map((e) => JSON.stringify(e)).join("\n");
    expect(log).toContain("from-my-machine");
    expect(machine?.output).toContain(id);
  });

  it("revoking the token in the page disconnects the machine at once", async () => {
    await page.goto(`${stack.url}/#/machines`);
    const card = page.locator('[data-testid=machine][data-machine="e2e-box"]');
    await card.waitFor();
    await card.getByRole("button", { name: "Revoke" }).click();
    await card.waitFor({ state: "detached", timeout: 10_000 });
    const r = await stack.api("GET", "/api/tunnel/machines");
    expect((r.json as { machines: unknown[] }).machines).toEqual([]);
    // The edge closed the machine's socket as revoked (4401): `openagents connect` says so and exits 1.
    await expect.poll(() => machine?.child.exitCode, { timeout: 15_000 }).toBe(1);
    expect(machine?.output).toMatch(/openagents: .*revoked/);
  });
});

describe("Settings", () => {
  it("adds a key from a password field, lists it masked, never shows it again", async () => {
    await page.getByRole("link", { name: "Settings" }).click();
    await page.locator("[data-testid=settings-page]").waitFor();
    expect(await page.locator("#k-key").getAttribute("type")).toBe("password");
    await page.fill("#k-label", "e2e");
    await page.fill("#k-key", `${MODEL_KEY}\n`);
    await page.getByRole("button", { name: "Add key" }).click();
    const row = page.locator("[data-testid=key]", { hasText: "e2e" });
    await row.waitFor();
    expect(await row.innerText()).toContain(`…${MODEL_KEY.slice(-4)}`);
    expect(await page.inputValue("#k-key")).toBe("");
    expect(await page.content()).not.toContain(MODEL_KEY);
    // A fresh load (the list from the server) has no trace of it either.
    await page.reload();
    await page.locator("[data-testid=key]").first().waitFor();
    expect(await page.content()).not.toContain(MODEL_KEY);
    await page.screenshot({ path: path.join(SHOTS, "settings.png"), fullPage: true });
  });

  it("saves budgets typed in dollars and shows them back", async () => {
    await page.fill("#b-daily", "2.50");
    await page.fill("#b-weekly", "");
    await page.getByRole("button", { name: "Save budgets" }).click();
    await page.getByText("Saved").waitFor();
    const r = await stack.api("GET", "/api/credits");
    expect(r.json).toMatchObject({ dailyBudget: 2_500_000, weeklyBudget: null });
    await page.reload();
    await page.locator("[data-testid=balance]").waitFor();
    expect(await page.inputValue("#b-daily")).toBe("2.50");
    await page.fill("#b-daily", "lots");
    await page.getByRole("button", { name: "Save budgets" }).click();
    expect(await page.locator(".field-error").first().innerText()).toMatch(/dollars/);
  });

  it("deletes the key", async () => {
    const row = page.locator("[data-testid=key]", { hasText: "e2e" });
    await row.getByRole("button", { name: "Delete" }).click();
    await row.waitFor({ state: "detached" });
    const r = await stack.api("GET", "/api/keys");
    expect((r.json as { keys: unknown[] }).keys).toEqual([]);
  });
});

describe("Credits before a task starts", () => {
  it("shows the estimate's refusal and the 402 of a metered account with no credits", async () => {
    const me = await stack.api("GET", "/api/me");
    const user = (me.json as { id: string }).id;
    const set = await stack.api("PUT", "/api/admin/credits/account", { user, metered: true });
    expect(set.status).toBe(200);
    await page.goto(`${stack.url}/#/new`);
    await page.fill("#f-repo", repo);
    await page.locator(".segmented label", { hasText: "Shell script" }).click();
    await page.fill("#f-script", "true");
    const estimate = page.locator('[data-testid=estimate][data-allowed="false"]');
    await estimate.waitFor({ timeout: 10_000 });
    expect(await estimate.innerText()).toMatch(
      /^Not enough credits for this task\. It is estimated at up to \$0\.006 and your balance is \$0\./,
    );
    await page.getByRole("button", { name: "Start task" }).click();
    const failure = page.locator("[data-testid=start-failure]");
    await failure.waitFor();
    expect(await failure.innerText()).toMatch(/^Not enough credits: the task was not started\./);
    expect(await failure.innerText()).toMatch(/insufficient credits/);
    await page.screenshot({ path: path.join(SHOTS, "new-task-no-credits.png"), fullPage: true });
    // The same task on My machine costs nothing, so nothing refuses it before it starts.
    await page.selectOption("#f-compute", "tunnel");
    expect(await page.locator("[data-testid=estimate]").innerText()).toMatch(/no credits are spent/);
  });
});
