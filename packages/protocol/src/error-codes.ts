/**
 * Error codes that cross a wire (HTTP bodies, `error` RunEvents, CLI `--json`). Adding a code without
 * its HTTP status is a type error, because `httpStatus` is a `Record<ErrorCode, number>`.
 *
 * @example
 * res.status(httpStatus[ErrorCode.NotFound]).json({ error: { code: ErrorCode.NotFound, message } });
 */
export const ErrorCode = {
  InvalidRequest: "invalid_request",
  InvalidTask: "invalid_task",
  Unauthorized: "unauthorized",
  Forbidden: "forbidden",
  NotFound: "not_found",
  Conflict: "conflict",
  PayloadTooLarge: "payload_too_large",
  UnsupportedMediaType: "unsupported_media_type",
  RateLimited: "rate_limited",
  InsufficientCredits: "insufficient_credits",
  RepoNotFound: "repo_not_found",
  RefNotFound: "ref_not_found",
  CloneFailed: "clone_failed",
  SetupFailed: "setup_failed",
  AgentNotInstalled: "agent_not_installed",
  AgentFailed: "agent_failed",
  ScriptFailed: "script_failed",
  SandboxUnavailable: "sandbox_unavailable",
  Timeout: "timeout",
  Cancelled: "cancelled",
  RunnerLost: "runner_lost",
  /** The server lacks what the request needs (e.g. no Lightning wallet): an operator's choice, not a fault. */
  NotConfigured: "not_configured",
  Internal: "internal",
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The HTTP status each code maps to when it is the answer to a request. */
export const httpStatus: Record<ErrorCode, number> = {
  invalid_request: 400,
  invalid_task: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  insufficient_credits: 402,
  repo_not_found: 422,
  ref_not_found: 422,
  clone_failed: 502,
  setup_failed: 422,
  agent_not_installed: 501,
  agent_failed: 502,
  script_failed: 422,
  sandbox_unavailable: 503,
  timeout: 504,
  cancelled: 409,
  runner_lost: 502,
  not_configured: 501,
  internal: 500,
};

const codes = new Set<string>(Object.values(ErrorCode));

/** True when `value` is one of the known error codes. */
export const isErrorCode = (value: unknown): value is ErrorCode =>
  typeof value === "string" && codes.has(value);
