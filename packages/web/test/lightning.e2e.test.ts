// biome-ignore-all lint/performance/useDomNodeTextContent: these are Playwright locators; innerText() is the text the user sees.
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NwcWalletDouble } from "../../nostr/test/nwc-wallet.ts";
import { startNostrRelay, type TestRelay } from "../../nostr/test/relays.ts";
import { type LocalStack, startLocalStack } from "./local-stack.ts";

// Buying credits with Lightning in a real Chromium against the real local stack (`openagents up`)
// whose Worker has a platform wallet: PLATFORM_NWC_URI names the NIP-47 wallet service double on a
// real relay (`nostr-relay` from PyPI, on loopback), SATS_PER_USD sets the rate. The Worker asks the
// wallet for invoices and their status over the relay; only the payment itself is simulated
// (`wallet.settle`, as a payer's HTLC settling would).

const TOKEN = "oa_lightning_e2e_token_0123456789";
const CHROMIUM = "/usr/bin/chromium";
const SHOTS = process.env.WEB_SCREENSHOTS_DIR ?? path.join(tmpdir(), "openagents-web-screenshots");

let relay: TestRelay;
let wallet: NwcWalletDouble;
let stack: LocalStack;
let browser: Browser;
let page: Page;

const text = (sel: string) => page.locator(sel).first().innerText();

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  relay = await startNostrRelay();
  wallet = await NwcWalletDouble.start({ relays: [relay.url] });
  stack = await startLocalStack({
    token: TOKEN,
    // wrangler hands up's environment to the Worker as vars (CLOUDFLARE_INCLUDE_PROCESS_ENV).
    env: { PLATFORM_NWC_URI: wallet.uri, SATS_PER_USD: "1000" },
  });
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
  await page.goto(`${stack.url}/#token=${TOKEN}`);
  await page.locator(".topbar").waitFor();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  const left = (await stack?.stop()) ?? [];
  wallet?.close();
  await relay?.stop();
  expect(left, "processes of openagents up still running after SIGTERM").toEqual([]);
}, 60_000);

describe("Buy credits with Lightning", () => {
  it("shows the invoice to pay, keeps checking it across a reload, and credits the balance once paid", async () => {
    await page.goto(`${stack.url}/#/settings`);
    const panel = page.locator("[data-testid=credits-panel]");
    await panel.locator("[data-testid=balance]").waitFor();
    expect(await text("[data-testid=balance]")).toBe("$0");
    await page.fill("#buy-amount", "2.50");
    await panel.getByRole("button", { name: "Buy with Lightning" }).click();

    // $2.50 at 1000 sats per dollar: 2500 sats, for 2,500,000 credits.
    const invoice = panel.locator("[data-testid=invoice]");
    await invoice.waitFor({ timeout: 30_000 });
    expect(await invoice.locator("p").first().innerText()).toMatch(
      /^Pay 2,500 sats for \$2\.50 \(2,500,000 credits\), before \d\d:\d\d:\d\d\.$/,
    );
    const bolt11 = await text("[data-testid=bolt11]");
    const issued = [...wallet.invoices.values()];
    expect(issued).toHaveLength(1);
    expect(bolt11).toBe(issued[0]!.invoice);
    expect(await invoice.getByRole("link", { name: "Open in wallet" }).getAttribute("href")).toBe(
      `lightning:${bolt11}`,
    );
    expect(await invoice.getByRole("button", { name: "Copy invoice" }).count()).toBe(1);
    await expect.poll(() => text("[data-testid=invoice-state]")).toBe("Waiting for the payment…");
    await page.screenshot({ path: path.join(SHOTS, "settings-invoice-1280.png"), fullPage: true });

    // A reload picks the unpaid invoice up again (the edge credits it only when it is checked).
    await page.reload();
    await panel.locator("[data-testid=invoice]").waitFor();
    expect(await text("[data-testid=bolt11]")).toBe(bolt11);

    wallet.settle(issued[0]!.payment_hash);
    await expect.poll(() => panel.locator("[data-testid=buy-done]").count(), { timeout: 30_000 }).toBe(1);
    expect(await text("[data-testid=buy-done]")).toBe("Paid: credited $2.50 (2,500,000 credits).");
    await expect.poll(() => text("[data-testid=balance]")).toBe("$2.50");
    const credits = await stack.api("GET", "/api/credits");
    expect(credits.json).toMatchObject({ balance: 2_500_000 });

    // Done: a reload shows the form again, and the purchase is not credited twice.
    await page.reload();
    await panel.locator("[data-testid=buy-form]").waitFor();
    expect(await panel.locator("[data-testid=invoice]").count()).toBe(0);
    expect(await text("[data-testid=balance]")).toBe("$2.50");
    await page.screenshot({ path: path.join(SHOTS, "settings-credited-1280.png"), fullPage: true });
  }, 120_000);
});
