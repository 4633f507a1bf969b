import { ErrorCode, MAX_PROMPT_CHARS, parseTask, type Result } from "@openagents/protocol";
import { Hono } from "hono";
import type { AppEnv } from "../app-env.ts";
import { requireUser } from "../auth.ts";
import { checkTaskStart } from "../billing.ts";
import { isTaskId, newTaskId } from "../crypto.ts";
import { getOwnedTask, insertTask, listTasks, type TaskRow, titleOf } from "../db/tasks.ts";
import type { Env } from "../env.ts";
import { checkTaskRepo } from "../github-access.ts";
import { HttpError } from "../http-error.ts";
import { readJson } from "../read-json.ts";

/**
 * Tasks: start, list, show, watch (WebSocket), read events, cancel, follow up. Every route looks
 * the task up by id *and* owner, so another user's task is a 404 like a missing one.
 */
export const taskRoutes = new Hono<AppEnv>();

const taskStub = (env: Env, id: string) => env.TASK.get(env.TASK.idFromName(id));

const unwrap = <T>(r: Result<T>): T => {
  if (!r.ok) throw HttpError.from(r.error);
  return r.value;
};

/** Non-negative integer query parameter, or `fallback` when absent. */
function intParam(value: string | undefined, name: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === "" || !Number.isSafeInteger(n) || n < 0 || n > max) {
    throw new HttpError(ErrorCode.InvalidRequest, `${name} must be an integer from 0 to ${max}`, {
      path: name,
    });
  }
  return n;
}

async function ownedTask(env: Env, id: string, owner: string): Promise<TaskRow> {
  const row = isTaskId(id) ? await getOwnedTask(env.DB, id, owner) : null;
  if (!row) throw new HttpError(ErrorCode.NotFound, `no task ${id}`);
  return row;
}

taskRoutes.post("/task/start", requireUser, async (c) => {
  const task = unwrap(parseTask(unwrap(await readJson(c.req.raw))));
  const compute = task.compute ?? "cloud";
  if (compute === "market") {
    throw new HttpError(
      ErrorCode.InvalidTask,
      'compute "market" is not started here (use openagents job submit); use "cloud" or "tunnel"',
      { path: "compute" },
    );
  }
  if (task.machine !== undefined && compute !== "tunnel") {
    throw new HttpError(ErrorCode.InvalidTask, 'machine applies only to compute "tunnel"', {
      path: "machine",
    });
  }
  // Refused before anything starts when the estimate would cross the balance or a budget (402). A
  // tunnel task runs on the user's own machine with its own keys: nothing to charge.
  if (compute === "cloud") {
    unwrap(await checkTaskStart(c.env, c.var.user.id, task));
    // A GitHub repository must be one the user can read: refused here, not after a container started.
    unwrap(await checkTaskRepo(c.env, c.var.user.id, task.repo, c.req.url));
  }
  const id = newTaskId();
  const created = new Date().toISOString();
  const user = c.var.user;
  await insertTask(c.env.DB, {
    id,
    owner: user.id,
    status: "queued",
    created,
    updated: created,
    repo: task.repo,
    agent: task.agent,
    compute,
    title: titleOf(task.prompt ?? task.script ?? ""),
  });
  unwrap(await taskStub(c.env, id).start({ id, owner: user.id, task: { ...task, compute }, created }));
  return c.json({ id }, 201, { location: `/api/tasks/${id}` });
});

taskRoutes.get("/task/ws/:id", requireUser, async (c) => {
  const row = await ownedTask(c.env, c.req.param("id"), c.var.user.id);
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new HttpError(ErrorCode.InvalidRequest, "this route is a WebSocket: send Upgrade: websocket");
  }
  const after = intParam(c.req.query("after"), "after", 0, Number.MAX_SAFE_INTEGER);
  return taskStub(c.env, row.id).fetch(`https://task/ws?after=${after}`, {
    headers: { upgrade: "websocket" },
  });
});

taskRoutes.get("/tasks", requireUser, async (c) => {
  const limit = intParam(c.req.query("limit"), "limit", 50, 200);
  const before = c.req.query("before");
  if (before !== undefined && Number.isNaN(Date.parse(before))) {
    throw new HttpError(ErrorCode.InvalidRequest, "before must be an ISO-8601 timestamp", { path: "before" });
  }
  const tasks = await listTasks(
    c.env.DB,
    c.var.user.id,
    before === undefined ? { limit } : { limit, before },
  );
  return c.json({ tasks });
});

taskRoutes.get("/tasks/:id", requireUser, async (c) => {
  const row = await ownedTask(c.env, c.req.param("id"), c.var.user.id);
  const info = unwrap(await taskStub(c.env, row.id).info());
  return c.json({ ...info, repo: row.repo, agent: row.agent, compute: row.compute, title: row.title });
});

taskRoutes.get("/tasks/:id/events", requireUser, async (c) => {
  const row = await ownedTask(c.env, c.req.param("id"), c.var.user.id);
  const after = intParam(c.req.query("after"), "after", 0, Number.MAX_SAFE_INTEGER);
  const limit = intParam(c.req.query("limit"), "limit", 1000, 5000);
  return c.json({ events: await taskStub(c.env, row.id).events(after, limit) });
});

taskRoutes.post("/tasks/:id/cancel", requireUser, async (c) => {
  const row = await ownedTask(c.env, c.req.param("id"), c.var.user.id);
  const info = unwrap(await taskStub(c.env, row.id).cancel());
  return c.json({ id: info.id, status: info.status }, 202);
});

taskRoutes.post("/tasks/:id/messages", requireUser, async (c) => {
  const row = await ownedTask(c.env, c.req.param("id"), c.var.user.id);
  const prompt = readPrompt(unwrap(await readJson(c.req.raw)));
  const info = unwrap(await taskStub(c.env, row.id).followUp(prompt));
  return c.json({ id: info.id, status: info.status, after: info.lastSeq }, 202);
});

function readPrompt(body: unknown): string {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(ErrorCode.InvalidRequest, 'body must be an object: {"prompt": "..."}');
  }
  const extra = Object.keys(body).find((k) => k !== "prompt");
  if (extra !== undefined)
    throw new HttpError(ErrorCode.InvalidRequest, `unknown field "${extra}"`, { path: extra });
  const prompt = (body as { prompt?: unknown }).prompt;
  if (typeof prompt !== "string" || prompt.trim() === "") {
    throw new HttpError(ErrorCode.InvalidRequest, "prompt must be a non-empty string", { path: "prompt" });
  }
  if (prompt.length > MAX_PROMPT_CHARS) {
    throw new HttpError(ErrorCode.InvalidRequest, `prompt is longer than ${MAX_PROMPT_CHARS} characters`, {
      path: "prompt",
    });
  }
  return prompt;
}
