import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { UserError } from "../command.ts";
import { containerHostCommand, startContainerHost } from "./container-host.ts";

const tmp = mkdtempSync(path.join(os.tmpdir(), "oa-cli-chost-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function capture() {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (c: Buffer) => {
    text += c.toString("utf8");
  });
  return { stream, text: () => text };
}

async function until<T>(read: () => T | undefined, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("openagents container-host", () => {
  it("prints the ready line and a generated token, serves the API, and stops on abort", async () => {
    const out = capture();
    const err = capture();
    const controller = new AbortController();
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, XDG_STATE_HOME: path.join(tmp, "state") };
    const exit = containerHostCommand.handler(
      { port: "0" },
      { stdout: out.stream, stderr: err.stream, env, cwd: tmp, signal: controller.signal, isTTY: false },
    );
    const url = await until(() => /^listening on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(out.text())?.[1]);
    const token = /container host token: (\S+)/.exec(err.text())?.[1];
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);

    expect((await fetch(`${url}/containers/a`)).status).toBe(401);
    const status = await fetch(`${url}/containers/a`, { headers: { authorization: `Bearer ${token}` } });
    expect(await status.json()).toEqual({ running: false });

    controller.abort();
    expect(await exit).toBe(0);
    await expect(fetch(`${url}/containers/a`)).rejects.toThrow();
  });

  it("keeps a given token secret (not printed)", async () => {
    const out = capture();
    const err = capture();
    const controller = new AbortController();
    const exit = containerHostCommand.handler(
      { port: "0", token: "given-token", root: "boxes" },
      { stdout: out.stream, stderr: err.stream, env: {}, cwd: tmp, signal: controller.signal, isTTY: false },
    );
    const url = await until(() => /^listening on (\S+)\n/.exec(out.text())?.[1]);
    expect(err.text()).not.toContain("given-token");
    const r = await fetch(`${url}/containers/a.b/start`, {
      method: "POST",
      headers: { authorization: "Bearer given-token" },
    });
    expect(r.status).toBe(400);
    controller.abort();
    expect(await exit).toBe(0);
  });

  it("rejects a bad --port as a user error", async () => {
    const io = {
      stdout: new PassThrough(),
      stderr: new PassThrough(),
      env: {},
      cwd: tmp,
      signal: new AbortController().signal,
      isTTY: false,
    };
    await expect(containerHostCommand.handler({ port: "http" }, io)).rejects.toBeInstanceOf(UserError);
  });

  it("starts in-process with startContainerHost and closes", async () => {
    const hostd = await startContainerHost({ port: 0, root: path.join(tmp, "inproc"), env: {} });
    expect(hostd.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const r = await fetch(`${hostd.url}/containers/x`, {
      headers: { authorization: `Bearer ${hostd.token}` },
    });
    expect(r.status).toBe(200);
    await hostd.close();
  });
});
