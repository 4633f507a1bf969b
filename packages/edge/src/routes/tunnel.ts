import { ErrorCode, MAX_ALLOW_PATTERNS, MAX_MACHINE_TASKS } from "@openagents/protocol";
import { Hono } from "hono";
import type { AppEnv } from "../app-env.ts";
import { requireUser } from "../auth.ts";
import type { Env } from "../env.ts";
import { HttpError } from "../http-error.ts";
import { readJson } from "../read-json.ts";
import { type MachineAuth, TUNNEL_MACHINE_HEADER } from "../tunnel-do.ts";
import {
  createMachineToken,
  deleteMachineToken,
  ensureTunnelSchema,
  isMachineTokenId,
  listMachineTokens,
  machineTokenFor,
} from "../tunnel-tokens.ts";

/**
 * "My machines": machine tokens (create → shown once, list, revoke), the machines connected now,
 * and the machines' own WebSocket (`openagents connect`), authenticated with a machine token.
 */
export const tunnelRoutes = new Hono<AppEnv>();

const tunnel = (env: Env, userId: string) => env.TUNNEL.get(env.TUNNEL.idFromName(userId));
const DEFAULT_MAX_TASKS = 4;
const MAX_LABEL_CHARS = 64;

tunnelRoutes.use("/tunnel/*", async (c, next) => {
  await ensureTunnelSchema(c.env.DB);
  await next();
});

tunnelRoutes.post("/tunnel/tokens", requireUser, async (c) => {
  const body = await readJson(c.req.raw);
  if (!body.ok) throw HttpError.from(body.error);
  const init = parseNewToken(body.value);
  const { token, secret } = await createMachineToken(c.env.DB, c.var.user.id, init);
  const url = new URL(c.req.url).origin;
  return c.json(
    { ...token, token: secret, command: `openagents connect --url ${url} --token ${secret}` },
    201,
    { location: `/api/tunnel/tokens/${token.id}` },
  );
});

tunnelRoutes.get("/tunnel/tokens", requireUser, async (c) =>
  c.json({ tokens: await listMachineTokens(c.env.DB, c.var.user.id) }),
);

tunnelRoutes.delete("/tunnel/tokens/:id", requireUser, async (c) => {
  const id = c.req.param("id");
  const gone = isMachineTokenId(id) && (await deleteMachineToken(c.env.DB, c.var.user.id, id));
  if (!gone) throw new HttpError(ErrorCode.NotFound, `no machine token ${id}`);
  // The row is gone first, so no new connection can authenticate while the live one closes.
  await tunnel(c.env, c.var.user.id).revoke(id);
  return c.body(null, 204);
});

tunnelRoutes.get("/tunnel/machines", requireUser, async (c) => {
  const [tokens, machines] = await Promise.all([
    listMachineTokens(c.env.DB, c.var.user.id),
    tunnel(c.env, c.var.user.id).machines(),
  ]);
  const byId = new Map(machines.map((m) => [m.id, m]));
  return c.json({
    machines: tokens.map((t) => {
      const m = byId.get(t.id);
      return {
        id: t.id,
        label: t.label,
        name: m?.name ?? null,
        connected: m?.connected ?? false,
        connectedAt: m?.connectedAt ?? null,
        lastSeen: m?.lastSeen ?? null,
        disconnectedAt: m?.disconnectedAt ?? null,
        agents: m?.agents ?? [],
        maxTasks: m?.maxTasks ?? null,
        running: m?.running ?? 0,
        tasks: m?.tasks ?? [],
        claimed: m?.claimed ?? null,
        policy: { allowRepos: t.allowRepos, maxTasks: t.maxTasks },
        created: t.created,
        lastUsed: t.lastUsed,
      };
    }),
  });
});

tunnelRoutes.get("/tunnel/ws", async (c) => {
  const match = /^Bearer +(\S+) *$/i.exec(c.req.header("authorization") ?? "");
  const token = match ? await machineTokenFor(c.env.DB, match[1]!) : null;
  if (!token) {
    throw new HttpError(ErrorCode.Unauthorized, "the machine token is not valid (revoked, or never issued)", {
      headers: { "www-authenticate": 'Bearer realm="openagents"' },
    });
  }
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new HttpError(ErrorCode.InvalidRequest, "this route is a WebSocket: send Upgrade: websocket");
  }
  const auth: MachineAuth = {
    id: token.id,
    label: token.label,
    allowRepos: token.allowRepos,
    maxTasks: token.maxTasks,
  };
  return tunnel(c.env, token.userId).fetch("https://tunnel/ws", {
    headers: { upgrade: "websocket", [TUNNEL_MACHINE_HEADER]: JSON.stringify(auth) },
  });
});

function parseNewToken(body: unknown): { label: string; allowRepos: string[]; maxTasks: number } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(
      ErrorCode.InvalidRequest,
      'body must be an object: {"label"?, "allowRepos"?, "maxTasks"?}',
    );
  }
  const extra = Object.keys(body).find((k) => !["label", "allowRepos", "maxTasks"].includes(k));
  if (extra !== undefined)
    throw new HttpError(ErrorCode.InvalidRequest, `unknown field "${extra}"`, { path: extra });
  const { label, allowRepos, maxTasks } = body as Record<string, unknown>;
  if (
    label !== undefined &&
    (typeof label !== "string" || label.trim() === "" || label.length > MAX_LABEL_CHARS)
  ) {
    throw new HttpError(
      ErrorCode.InvalidRequest,
      `label must be a string of 1 to ${MAX_LABEL_CHARS} characters`,
      {
        path: "label",
      },
    );
  }
  let repos = ["**"];
  if (allowRepos !== undefined) {
    const ok =
      Array.isArray(allowRepos) &&
      allowRepos.length > 0 &&
      allowRepos.length <= MAX_ALLOW_PATTERNS &&
      allowRepos.every(
        (p) => typeof p === "string" && p.length > 0 && p.length <= 512 && !/[\x00-\x1f]/.test(p),
      );
    if (!ok) {
      throw new HttpError(
        ErrorCode.InvalidRequest,
        `allowRepos must be 1 to ${MAX_ALLOW_PATTERNS} repository patterns (e.g. "https://github.com/me/*")`,
        { path: "allowRepos" },
      );
    }
    repos = allowRepos as string[];
  }
  let max = DEFAULT_MAX_TASKS;
  if (maxTasks !== undefined) {
    if (
      typeof maxTasks !== "number" ||
      !Number.isInteger(maxTasks) ||
      maxTasks < 1 ||
      maxTasks > MAX_MACHINE_TASKS
    ) {
      throw new HttpError(
        ErrorCode.InvalidRequest,
        `maxTasks must be an integer from 1 to ${MAX_MACHINE_TASKS}`,
        {
          path: "maxTasks",
        },
      );
    }
    max = maxTasks;
  }
  return { label: typeof label === "string" ? label.trim() : "machine", allowRepos: repos, maxTasks: max };
}
