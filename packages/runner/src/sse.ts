import type { ServerResponse } from "node:http";
import type { RunEvent } from "@openagents/protocol";
import type { EventLog } from "./event-log.ts";
import { EventPump } from "./event-pump.ts";

/** Comment line sent when nothing else was, so proxies and clients keep an idle stream open. */
export const HEARTBEAT_MS = 15_000;

/**
 * Bytes of formatted events that may queue in the response before the stream waits for `drain`.
 * Above the socket's high-water mark, so when this is exceeded `write` has returned false and
 * `drain` is sure to come.
 */
const BUFFER_BYTES = 256 * 1024;

export interface SseOptions {
  heartbeatMs?: number;
}

/** One event in the SSE wire format: `id` is the seq, so `Last-Event-ID` resumes exactly after it. */
export const formatSseEvent = (event: RunEvent): string =>
  `id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;

/** A live SSE stream; `end()` closes it early (server shutdown). */
export interface SseStream {
  readonly done: Promise<void>;
  end(): void;
}

/**
 * Streams a task's events as Server-Sent Events from `after` until its `result`, then ends the response.
 * Each tick's events go out in one `write`; when the socket buffer is full the stream waits for
 * `drain`, while the task keeps running (its log holds every event).
 *
 * @example
 * const stream = streamSse(res, handle.log, Number(req.headers["last-event-id"] ?? 0));
 */
export function streamSse(
  res: ServerResponse,
  log: EventLog,
  after: number,
  opts: SseOptions = {},
): SseStream {
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache, no-transform",
    connection: "keep-alive",
    // nginx and similar proxies would otherwise buffer the stream.
    "x-accel-buffering": "no",
  });
  res.flushHeaders();

  // 'close' comes once the last byte was handed to the socket (or the watcher left), so `done` means
  // nothing is left to flush and the connection may be closed.
  const done = new Promise<void>((resolve) => res.once("close", resolve));
  let ended = false;
  const finish = () => {
    if (ended) return;
    ended = true;
    clearInterval(heartbeat);
    pump.stop();
    if (!res.writableEnded) res.end();
  };

  const pump = new EventPump(log, after, {
    write(events) {
      let chunk = "";
      for (const event of events) chunk += formatSseEvent(event);
      res.write(chunk);
      // Up to BUFFER_BYTES may wait in this process: one syscall then carries several batches.
      return res.writableLength < BUFFER_BYTES;
    },
    onDrain(resume) {
      res.once("drain", resume);
    },
    finish,
  });

  const heartbeat = setInterval(() => {
    // A stream waiting to drain is clearly alive; a comment would only add to its buffer.
    if (!res.writableNeedDrain) res.write(": ping\n\n");
  }, opts.heartbeatMs ?? HEARTBEAT_MS);
  heartbeat.unref();

  res.on("close", finish);
  return { done, end: finish };
}
