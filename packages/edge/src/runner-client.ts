import {
  type AppError,
  ErrorCode,
  err,
  isErrorCode,
  ok,
  parseRunEvent,
  type Result,
  type RunEvent,
  type Task,
} from "@openagents/protocol";
import {
  CONTAINER_NAME_HEADER,
  type ContainerDO,
  type ContainerStatus,
  NO_START_HEADER,
} from "./container-do.ts";
import { readSseBatches } from "./sse.ts";

/**
 * The runner HTTP API (ARCHITECTURE §4), spoken through a user's ContainerDO, which starts the
 * container on demand and adds the runner's token. Calls that must not revive a stopped container
 * (reading events, cancel, follow-up) say so, so a runner that died is reported, not replaced by a
 * fresh one that never heard of the task.
 *
 * @example
 * const runner = new RunnerClient(env.CONTAINER.get(env.CONTAINER.idFromName(owner)), owner);
 * const submitted = await runner.submit(task);
 */
export class RunnerClient {
  readonly #box: DurableObjectStub<ContainerDO>;
  readonly #name: string;

  constructor(box: DurableObjectStub<ContainerDO>, name: string) {
    this.#box = box;
    this.#name = name;
  }

  ensure(): Promise<Result<ContainerStatus>> {
    return this.#box.ensureRunner(this.#name);
  }

  alive(): Promise<boolean> {
    return this.#box.runnerAlive();
  }

  /** `POST /tasks` → the runner's id for the task. */
  async submit(task: Task): Promise<Result<{ id: string }>> {
    const res = await this.#call("POST", "/tasks", { body: task, start: true });
    if (!res.ok) return res;
    const body = (await res.value.json().catch(() => null)) as { id?: unknown } | null;
    if (typeof body?.id !== "string")
      return err(ErrorCode.RunnerLost, "the runner answered POST /tasks without an id");
    return ok({ id: body.id });
  }

  /**
   * `GET /tasks/:id/events?after=N` as validated RunEvents (runner seqs), in the batches they
   * arrived in (each non-empty), so a burst is taken into the log in one transaction.
   */
  async events(runnerTaskId: string, after: number): Promise<Result<AsyncGenerator<RunEvent[]>>> {
    const res = await this.#call("GET", `/tasks/${encodeURIComponent(runnerTaskId)}/events?after=${after}`, {
      accept: "text/event-stream",
    });
    if (!res.ok) return res;
    const body = res.value.body;
    if (!body) return err(ErrorCode.RunnerLost, "the runner's event stream has no body");
    return ok(parseEvents(body));
  }

  /** `POST /tasks/:id/cancel`. */
  async cancel(runnerTaskId: string): Promise<Result<void>> {
    const res = await this.#call("POST", `/tasks/${encodeURIComponent(runnerTaskId)}/cancel`, {});
    if (!res.ok) return res;
    await res.value.body?.cancel();
    return ok(undefined);
  }

  /** `POST /tasks/:id/messages {prompt}`: a follow-up turn on the task's workspace. */
  async followUp(runnerTaskId: string, prompt: string): Promise<Result<void>> {
    const res = await this.#call("POST", `/tasks/${encodeURIComponent(runnerTaskId)}/messages`, {
      body: { prompt },
    });
    if (!res.ok) return res;
    await res.value.body?.cancel();
    return ok(undefined);
  }

  async #call(
    method: string,
    path: string,
    opts: { body?: unknown; start?: boolean; accept?: string },
  ): Promise<Result<Response>> {
    const headers: Record<string, string> = { [CONTAINER_NAME_HEADER]: this.#name };
    if (!opts.start) headers[NO_START_HEADER] = "1";
    if (opts.body !== undefined) headers["content-type"] = "application/json";
    if (opts.accept) headers.accept = opts.accept;
    let res: Response;
    try {
      res = await this.#box.fetch(`http://runner${path}`, {
        method,
        headers,
        body: opts.body === undefined ? null : JSON.stringify(opts.body),
      });
    } catch (e) {
      return err(ErrorCode.RunnerLost, `the runner did not answer: ${(e as Error).message}`);
    }
    if (res.ok) return ok(res);
    return { ok: false, error: await readError(res) };
  }
}

async function* parseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<RunEvent[]> {
  for await (const messages of readSseBatches(body)) {
    const events: RunEvent[] = [];
    for (const message of messages) {
      let json: unknown;
      try {
        json = JSON.parse(message.data);
      } catch {
        continue; // Not an event (a proxy's or a heartbeat's text): nothing to log.
      }
      const event = parseRunEvent(json);
      if (event.ok) events.push(event.value);
    }
    if (events.length > 0) yield events;
  }
}

/** The runner's `{error:{code,message}}` body, or an error made from the status. */
async function readError(res: Response): Promise<AppError> {
  const text = await res.text().catch(() => "");
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    const code = body.error?.code;
    const message = body.error?.message;
    if (isErrorCode(code) && typeof message === "string") return { code, message };
  } catch {
    // Not JSON: fall through.
  }
  const code =
    res.status === 404
      ? ErrorCode.NotFound
      : res.status >= 500
        ? ErrorCode.RunnerLost
        : ErrorCode.InvalidRequest;
  return { code, message: `the runner answered ${res.status}: ${text.slice(0, 200)}` };
}
