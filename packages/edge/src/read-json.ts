import { ErrorCode, err, ok, type Result } from "@openagents/protocol";

/** Largest request body any route accepts. */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Reads a request body as JSON without trusting it: a declared or actual size over `max` is
 * `payload_too_large`, a non-JSON content type `unsupported_media_type`, and an empty or malformed
 * body `invalid_request` — never an exception.
 *
 * @example
 * const body = await readJson(c.req.raw);
 * if (!body.ok) throw HttpError.from(body.error);
 */
export async function readJson(request: Request, max = MAX_BODY_BYTES): Promise<Result<unknown>> {
  const type = request.headers.get("content-type");
  if (type !== null && !/^application\/([\w.+-]+\+)?json\s*(;|$)/i.test(type)) {
    return err(ErrorCode.UnsupportedMediaType, `content-type must be application/json, got ${type}`);
  }
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > max) return err(ErrorCode.PayloadTooLarge, `body is larger than ${max} bytes`);
  if (!request.body) return err(ErrorCode.InvalidRequest, "body must be JSON, got nothing");

  // Content-Length can be absent (chunked) or wrong, so the cap is enforced while reading.
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      return err(ErrorCode.PayloadTooLarge, `body is larger than ${max} bytes`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return err(ErrorCode.InvalidRequest, "body is not valid UTF-8");
  }
  if (text.trim() === "") return err(ErrorCode.InvalidRequest, "body must be JSON, got nothing");
  try {
    return ok(JSON.parse(text) as unknown);
  } catch (e) {
    return err(ErrorCode.InvalidRequest, `body is not valid JSON: ${(e as Error).message}`);
  }
}
