/// <reference path="../nwc-context.d.ts" />
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestProject } from "vitest/node";
import { NwcWalletDouble } from "../../../nostr/test/nwc-wallet.ts";
import { startNostrRelay } from "../../../nostr/test/relays.ts";

/**
 * Node side of the Lightning purchase tests: a real relay (`nostr-relay` from PyPI) and the NIP-47
 * wallet service double on it, whose connection URI becomes the Worker's `PLATFORM_NWC_URI`. The
 * Worker talks NIP-47 to it over the relay; only paying is simulated, through a loopback control
 * endpoint the tests call: `POST /settle/<payment hash>` marks an issued invoice paid (404 if unknown).
 */
export default async function setup(project: TestProject) {
  const relay = await startNostrRelay();
  const wallet = await NwcWalletDouble.start({ relays: [relay.url] });
  const control = createServer((req, res) => {
    const m = /^\/settle\/([0-9a-f]{64})$/.exec(req.url ?? "");
    if (req.method !== "POST" || !m) return res.writeHead(404).end();
    if (!wallet.invoices.has(m[1]!)) return res.writeHead(404).end("no such invoice");
    wallet.settle(m[1]!);
    res.writeHead(204).end();
  });
  await new Promise<void>((ready) => control.listen(0, "127.0.0.1", ready));
  const { port } = control.address() as AddressInfo;
  project.provide("nwc", { uri: wallet.uri, control: `http://127.0.0.1:${port}` });
  return async () => {
    await new Promise((done) => control.close(done));
    wallet.close();
    await relay.stop();
  };
}
