import { request } from "node:http";
import { parseRunEvent, type RunEvent } from "@openagents/protocol";
import { WebSocket } from "ws";

/** One SSE frame as it came off the wire. */
export interface SseFrame {
  id?: string;
  event?: string;
  data: string;
}

export interface SseRead {
  events: RunEvent[];
  frames: SseFrame[];
  /** Comment lines (heartbeats) seen, without the leading colon. */
  comments: string[];
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** True when the server ended the stream (not dropped by us). */
  ended: boolean;
  body?: string;
}

export interface SseReadOptions {
  token?: string;
  lastEventId?: string;
  /** Drop the connection after this many events (to test resume). */
  stopAfter?: number;
  /** Called with each event as it arrives; return true to drop the connection. */
  onEvent?: (event: RunEvent) => boolean | undefined;
  /** Pauses the socket for this long after the first event (a slow reader, to exercise backpressure). */
  stallMs?: number;
}

/**
 * Reads `GET url` as an SSE stream with a strict parser (every event must be a valid RunEvent whose
 * `id:` and `event:` lines match its body), until the server ends it or `stopAfter` is reached.
 */
export function readSse(url: string, opts: SseReadOptions = {}): Promise<SseRead> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { accept: "text/event-stream" };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.lastEventId !== undefined) headers["last-event-id"] = opts.lastEventId;
    const req = request(url, { headers, agent: false }, (res) => {
      const out: SseRead = {
        events: [],
        frames: [],
        comments: [],
        status: res.statusCode ?? 0,
        headers: res.headers,
        ended: false,
      };
      res.setEncoding("utf8");
      if (out.status !== 200) {
        let body = "";
        res.on("data", (c: string) => {
          body += c;
        });
        res.on("end", () => resolve({ ...out, body, ended: true }));
        return;
      }
      let buffer = "";
      let stalled = false;
      let done = false;
      const finish = (ended: boolean) => {
        if (done) return;
        done = true;
        out.ended = ended;
        if (!ended) req.destroy();
        resolve(out);
      };
      res.on("data", (chunk: string) => {
        if (done) return;
        buffer += chunk;
        let cut = buffer.indexOf("\n\n");
        while (cut !== -1 && !done) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          cut = buffer.indexOf("\n\n");
          const frame: SseFrame = { data: "" };
          const data: string[] = [];
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) out.comments.push(line.slice(1).trim());
            else if (line.startsWith("id: ")) frame.id = line.slice(4);
            else if (line.startsWith("event: ")) frame.event = line.slice(7);
            else if (line.startsWith("data: ")) data.push(line.slice(6));
            else if (line !== "") return reject(new Error(`unexpected SSE line: ${line}`));
          }
          if (data.length === 0) continue;
          frame.data = data.join("\n");
          out.frames.push(frame);
          const parsed = parseRunEvent(JSON.parse(frame.data));
          if (!parsed.ok) return reject(new Error(`bad event: ${parsed.error.message}`));
          const event = parsed.value;
          if (frame.id !== String(event.seq) || frame.event !== event.type) {
            return reject(
              new Error(`frame header ${frame.id}/${frame.event} does not match event ${event.seq}`),
            );
          }
          out.events.push(event);
          if (opts.onEvent?.(event) || out.events.length === opts.stopAfter) return finish(false);
          if (opts.stallMs && !stalled) {
            stalled = true;
            res.pause();
            setTimeout(() => res.resume(), opts.stallMs);
          }
        }
      });
      res.on("end", () => finish(true));
      res.on("error", (e) => (done ? undefined : reject(e)));
    });
    req.on("error", (e) => reject(e));
    req.end();
  });
}

export interface WsRead {
  events: RunEvent[];
  code: number;
  reason: string;
}

/** Reads a task's events over a WebSocket until the server closes it. */
export function readWs(url: string, token?: string): Promise<WsRead> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    const events: RunEvent[] = [];
    ws.on("message", (data) => {
      const parsed = parseRunEvent(JSON.parse(String(data)));
      if (!parsed.ok) reject(new Error(`bad event: ${parsed.error.message}`));
      else events.push(parsed.value);
    });
    ws.on("close", (code, reason) => resolve({ events, code, reason: reason.toString() }));
    ws.on("error", reject);
  });
}

/** Tries a WebSocket upgrade that the server should refuse; resolves with its HTTP status and body. */
export function refusedWs(url: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    ws.on("open", () => {
      ws.close();
      reject(new Error("the upgrade was accepted"));
    });
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.on("error", (e) => reject(e));
  });
}
