import type { Duplex } from "node:stream";
import type { WebSocket } from "ws";
import type { EventLog } from "./event-log.ts";
import { EventPump } from "./event-pump.ts";
import { HEARTBEAT_MS } from "./sse.ts";

/** Bytes that may queue on the socket before the stream waits for `drain` (see sse.ts). */
const BUFFER_BYTES = 256 * 1024;

export interface WsStreamOptions {
  heartbeatMs?: number;
}

/** A live WebSocket stream; `end(code)` closes it early (1001 on server shutdown). */
export interface WsStream {
  readonly done: Promise<void>;
  end(code?: number, reason?: string): void;
}

/**
 * Streams a task's events over an accepted WebSocket, one JSON RunEvent per message, from `after`
 * until the `result`, then closes with 1000. `socket` is the upgraded TCP socket: each tick's messages
 * are corked into one write, and a full socket buffer pauses the stream until `drain`.
 *
 * @example
 * wss.handleUpgrade(req, socket, head, (ws) => streamWebSocket(ws, socket, handle.log, after));
 */
export function streamWebSocket(
  ws: WebSocket,
  socket: Duplex,
  log: EventLog,
  after: number,
  opts: WsStreamOptions = {},
): WsStream {
  // 'close' comes after the closing handshake (or a dropped connection): nothing is left to flush.
  const done = new Promise<void>((resolve) => ws.once("close", () => resolve()));
  let ended = false;
  const end = (code = 1000, reason = "") => {
    if (ended) return;
    ended = true;
    clearInterval(heartbeat);
    pump.stop();
    if (ws.readyState === ws.OPEN) ws.close(code, reason);
  };

  const pump = new EventPump(log, after, {
    write(events) {
      if (ws.readyState !== ws.OPEN) return true;
      socket.cork();
      for (const event of events) ws.send(JSON.stringify(event));
      socket.uncork();
      return socket.writableLength < BUFFER_BYTES;
    },
    onDrain(resume) {
      socket.once("drain", resume);
    },
    finish: () => end(1000, "result"),
  });

  // Pings keep idle connections alive through proxies; the client's pong needs no handling.
  const heartbeat = setInterval(() => {
    if (ws.readyState === ws.OPEN && !socket.writableNeedDrain) ws.ping();
  }, opts.heartbeatMs ?? HEARTBEAT_MS);
  heartbeat.unref();

  ws.on("close", () => end());
  ws.on("error", () => end());
  // Watchers only read; whatever they send is ignored rather than treated as an error.
  ws.on("message", () => {});
  return { done, end };
}
