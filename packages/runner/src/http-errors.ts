import type { IncomingMessage, ServerResponse } from "node:http";
import { type AppError, ErrorCode, httpStatus, type Result } from "@openagents/protocol";

/** Body size accepted by default for JSON requests (a Task with a 200 000-character script fits). */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/**
 * Sends `body` as JSON with `status`. Responses are small, so one `end` call writes them.
 *
 * @example
 * sendJson(res, 201, { id });
 */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    ...headers,
  });
  res.end(text);
}

/**
 * Sends the wire form of an error, `{ "error": { code, message, path? } }`, with the code's HTTP status.
 * Only the code, the message and the path leave the process: never a stack.
 *
 * @example
 * sendError(res, { code: ErrorCode.NotFound, message: "no task abc" });
 */
export function sendError(res: ServerResponse, error: AppError, headers: Record<string, string> = {}): void {
  const body: AppError = { code: error.code, message: error.message };
  if (error.path !== undefined) body.path = error.path;
  sendJson(res, httpStatus[error.code], { error: body }, headers);
}

/** The JSON body of an HTTP error response, for answers written straight on a socket (WebSocket upgrades). */
export function rawErrorResponse(error: AppError, headers: Record<string, string> = {}): string {
  const status = httpStatus[error.code];
  const text = JSON.stringify({ error: { code: error.code, message: error.message } });
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? "Error"}`,
    "Content-Type: application/json; charset=utf-8",
    `Content-Length: ${Buffer.byteLength(text)}`,
    "Connection: close",
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  return `${lines.join("\r\n")}\r\n\r\n${text}`;
}

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  404: "Not Found",
  405: "Method Not Allowed",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

const fail = (code: ErrorCode, message: string): { ok: false; error: AppError } => ({
  ok: false,
  error: { code, message },
});

/**
 * Reads a JSON request body of at most `maxBytes`. Every way the input can be wrong becomes a 4xx
 * `AppError` (415 wrong content type, 413 too large, 400 not JSON); the caller only sends it.
 * On 413 the caller must close the connection (`connection: close`), because the rest of the body
 * is left unread.
 *
 * @example
 * const body = await readJsonBody(req, 1 << 20);
 * if (!body.ok) return sendError(res, body.error);
 */
export function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<Result<unknown>> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json") {
    req.resume();
    return Promise.resolve(
      fail(ErrorCode.UnsupportedMediaType, `content-type must be application/json, got "${type || "none"}"`),
    );
  }
  const tooLarge = fail(ErrorCode.PayloadTooLarge, `request body is larger than ${maxBytes} bytes`);
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.resolve(tooLarge);

  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (r: Result<unknown>) => {
      if (settled) return;
      settled = true;
      req.off("data", onData);
      resolve(r);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        // Stop buffering, but keep reading (and dropping) so the client can read the 413 answer.
        req.resume();
        settle(tooLarge);
        return;
      }
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.on("error", () => settle(fail(ErrorCode.InvalidRequest, "request body could not be read")));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      if (text.trim() === "")
        return settle(fail(ErrorCode.InvalidRequest, "request body is empty; expected JSON"));
      try {
        settle({ ok: true, value: JSON.parse(text) as unknown });
      } catch (e) {
        settle(fail(ErrorCode.InvalidRequest, `request body is not valid JSON: ${(e as Error).message}`));
      }
    });
  });
}
