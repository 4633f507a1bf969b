import { type AppError, type ErrorCode, httpStatus } from "@openagents/protocol";

/**
 * An error answer from a route: thrown inside handlers (they are the edge) and turned into
 * `{ error: { code, message, path? } }` with the code's HTTP status by the app's error handler.
 *
 * @example
 * throw new HttpError(ErrorCode.NotFound, `no task ${id}`);
 */
export class HttpError extends Error {
  readonly code: ErrorCode;
  readonly path: string | undefined;
  readonly headers: Record<string, string>;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { path?: string; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.code = code;
    this.path = opts.path;
    this.headers = opts.headers ?? {};
  }

  static from(error: AppError): HttpError {
    return new HttpError(error.code, error.message, error.path === undefined ? {} : { path: error.path });
  }
}

/**
 * The JSON error response every route and object uses.
 *
 * @example
 * return errorResponse({ code: ErrorCode.Unauthorized, message: "sign in" });
 */
export function errorResponse(error: AppError, headers: Record<string, string> = {}): Response {
  const body = error.path === undefined ? { code: error.code, message: error.message } : error;
  return Response.json({ error: body }, { status: httpStatus[error.code], headers });
}
