import { AGENTS, COMPUTE_KINDS, NETWORK_MODES, PHASES, RUN_EVENT_TYPES } from "@openagents/protocol";
import { TASK_STATUSES } from "./db/tasks.ts";
import { keysCreditsPaths } from "./openapi-keys-credits.ts";
import { tunnelPaths } from "./openapi-tunnel.ts";

type Json = Record<string, unknown>;

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Json, description = "OK"): Json => ({
  description,
  content: { "application/json": { schema } },
});
const errors = (...statuses: number[]): Json =>
  Object.fromEntries(statuses.map((s) => [String(s), { $ref: `#/components/responses/E${s}` }]));
const idParam = {
  name: "id",
  in: "path",
  required: true,
  schema: { type: "string", pattern: "^t_[0-9a-f]{24}$" },
};
const afterParam = {
  name: "after",
  in: "query",
  description: "Only events with a greater seq (0: from the start).",
  schema: { type: "integer", minimum: 0, default: 0 },
};
const body = (schema: Json): Json => ({ required: true, content: { "application/json": { schema } } });

/**
 * The OpenAPI 3.1 description of the edge API, served at `GET /api/openapi.json`. Hand-written to
 * stay readable; a test checks that every route of the app appears here.
 */
export const openApiDocument = {
  openapi: "3.1.0",
  info: {
    title: "OpenAgents Compute edge API",
    version: "0.1.0",
    description:
      "Start coding-agent tasks on a git repository, watch their RunEvents live, cancel them or follow up. " +
      "Errors are `{error:{code,message,path?}}` with the code's HTTP status; bodies are limited to 1 MiB.",
  },
  servers: [{ url: "/" }],
  security: [{ bearer: [] }, { session: [] }],
  paths: {
    "/api/task/start": {
      post: {
        summary: "Start a task",
        operationId: "startTask",
        requestBody: body(ref("Task")),
        responses: {
          "201": json(
            { type: "object", required: ["id"], properties: { id: { type: "string" } } },
            "Created",
          ),
          ...errors(400, 401, 413, 415),
        },
      },
    },
    "/api/task/ws/{id}": {
      get: {
        summary: "Watch a task (WebSocket)",
        description:
          "Upgrade to a WebSocket; every message is one RunEvent (JSON). Events after `after` are replayed first, " +
          'then new ones follow in seq order. Send "ping" to get "pong". Authenticate with the bearer header or the cookie.',
        operationId: "watchTask",
        parameters: [idParam, afterParam],
        responses: { "101": { description: "Switching Protocols" }, ...errors(400, 401, 404) },
      },
    },
    "/api/tasks": {
      get: {
        summary: "List my tasks, newest first",
        operationId: "listTasks",
        parameters: [
          { name: "limit", in: "query", schema: { type: "integer", minimum: 0, maximum: 200, default: 50 } },
          {
            name: "before",
            in: "query",
            description: "Page back: tasks created before this time.",
            schema: { type: "string", format: "date-time" },
          },
        ],
        responses: {
          "200": json({ type: "object", properties: { tasks: { type: "array", items: ref("TaskRow") } } }),
          ...errors(400, 401),
        },
      },
    },
    "/api/tasks/{id}": {
      get: {
        summary: "Show a task: status, usage, result summary",
        operationId: "getTask",
        parameters: [idParam],
        responses: { "200": json(ref("TaskInfo")), ...errors(401, 404) },
      },
    },
    "/api/tasks/{id}/events": {
      get: {
        summary: "Read a task's events (JSON, for polling clients)",
        operationId: "getTaskEvents",
        parameters: [
          idParam,
          afterParam,
          {
            name: "limit",
            in: "query",
            schema: { type: "integer", minimum: 0, maximum: 5000, default: 1000 },
          },
        ],
        responses: {
          "200": json({ type: "object", properties: { events: { type: "array", items: ref("RunEvent") } } }),
          ...errors(400, 401, 404),
        },
      },
    },
    "/api/tasks/{id}/cancel": {
      post: {
        summary: "Cancel a task",
        operationId: "cancelTask",
        parameters: [idParam],
        responses: { "202": json(ref("TaskStatusAnswer"), "Accepted"), ...errors(401, 404, 409) },
      },
    },
    "/api/tasks/{id}/messages": {
      post: {
        summary: "Follow-up turn on an ended task (same workspace, same event log)",
        operationId: "followUpTask",
        parameters: [idParam],
        requestBody: body({
          type: "object",
          required: ["prompt"],
          additionalProperties: false,
          properties: { prompt: { type: "string", minLength: 1 } },
        }),
        responses: {
          "202": json(
            {
              allOf: [ref("TaskStatusAnswer")],
              properties: { after: { type: "integer", description: "Watch from this seq." } },
            },
            "Accepted",
          ),
          ...errors(400, 401, 404, 409, 413),
        },
      },
    },
    "/api/container": {
      get: {
        summary: "My container's state",
        operationId: "getContainer",
        responses: { "200": json(ref("ContainerStatus")), ...errors(401) },
      },
      delete: {
        summary: "Stop my container and free its workspace",
        operationId: "destroyContainer",
        responses: { "200": json(ref("ContainerStatus")), ...errors(401) },
      },
    },
    "/api/container/stop": {
      post: {
        summary: "Stop my container now (SIGTERM, then SIGKILL after a grace)",
        operationId: "stopContainer",
        responses: { "200": json(ref("ContainerStatus")), ...errors(401) },
      },
    },
    "/api/me": {
      get: {
        summary: "Who am I",
        operationId: "me",
        responses: { "200": json(ref("User")), ...errors(401) },
      },
    },
    "/api/session": {
      post: {
        summary: "Browser sign-in: trade an API token for an HttpOnly session cookie",
        operationId: "createSession",
        security: [],
        requestBody: body({ type: "object", required: ["token"], properties: { token: { type: "string" } } }),
        responses: {
          "200": json({ type: "object", properties: { user: ref("User") } }),
          ...errors(400, 401, 413, 415),
        },
      },
      delete: {
        summary: "Sign out",
        operationId: "deleteSession",
        security: [],
        responses: { "204": { description: "Signed out" } },
      },
    },
    "/api/auth/github": {
      get: {
        summary: "Whether this server offers sign-in with GitHub",
        operationId: "githubAuthInfo",
        security: [],
        responses: {
          "200": json({
            type: "object",
            required: ["configured", "loginUrl"],
            properties: { configured: { type: "boolean" }, loginUrl: { type: "string" } },
          }),
        },
      },
    },
    "/api/auth/github/token": {
      get: {
        summary:
          "Whether the platform holds a GitHub token for you (for private repositories), never the token",
        operationId: "githubTokenStatus",
        responses: {
          "200": json({
            type: "object",
            required: ["connected", "expires", "renewable", "scope"],
            properties: {
              connected: { type: "boolean" },
              expires: { type: ["string", "null"], format: "date-time" },
              renewable: { type: "boolean" },
              scope: { type: ["string", "null"] },
            },
          }),
          ...errors(401),
        },
      },
      delete: {
        summary: "Forget your GitHub token (private repositories then need a new sign-in with GitHub)",
        operationId: "deleteGithubToken",
        responses: { "204": { description: "Forgotten" }, ...errors(401) },
      },
    },
    "/api/auth/github/login": {
      get: {
        summary:
          "Sign in with GitHub: redirects to GitHub's authorize page (scope GITHUB_SCOPE, default read:user)",
        description:
          "Sets a 10-minute HttpOnly SameSite=Lax `oa_oauth_state` cookie holding the OAuth state. " +
          "404 `not_found` when GitHub login is not configured (no GITHUB_CLIENT_ID).",
        operationId: "githubLogin",
        security: [],
        responses: { "302": { description: "To GitHub's authorize URL" }, ...errors(404) },
      },
    },
    "/api/auth/github/callback": {
      get: {
        summary: "GitHub's redirect back: opens a session (oa_session cookie) and redirects to /",
        description:
          "Checks `state` against the `oa_oauth_state` cookie (single use), trades `code` for a token, reads " +
          "the GitHub user and finds or creates the user by GitHub id. The GitHub token is kept sealed " +
          "(AES-GCM, per-user key) for at most GITHUB_TOKEN_TTL, used only by the git egress to fetch the " +
          "user's repositories for their tasks, and never returned. " +
          "400 for a missing, mismatched, expired or reused state or a missing code; 401 when GitHub " +
          "refuses the code or does not return the user.",
        operationId: "githubCallback",
        security: [],
        parameters: [
          { name: "code", in: "query", schema: { type: "string" } },
          { name: "state", in: "query", schema: { type: "string" } },
          {
            name: "error",
            in: "query",
            description: "Set by GitHub when the user declined.",
            schema: { type: "string" },
          },
        ],
        responses: { "302": { description: "Signed in; to /" }, ...errors(400, 401, 404) },
      },
    },
    ...keysCreditsPaths,
    ...tunnelPaths,
    "/api/openapi.json": {
      get: {
        summary: "This document",
        operationId: "openapi",
        security: [],
        responses: { "200": json({ type: "object" }) },
      },
    },
  },
  components: {
    securitySchemes: {
      bearer: {
        type: "http",
        scheme: "bearer",
        description: "An API token (`openagents up` prints the local one).",
      },
      session: { type: "apiKey", in: "cookie", name: "oa_session" },
    },
    responses: Object.fromEntries(
      [
        [400, "Bad input (invalid_request, invalid_task)"],
        [401, "Not signed in"],
        [402, "Insufficient credits or over budget (insufficient_credits)"],
        [404, "No such task (or not yours)"],
        [409, "Not possible in the task's state"],
        [413, "Body larger than 1 MiB"],
        [415, "Body is not JSON"],
      ].map(([status, description]) => [`E${status}`, json(ref("Error"), String(description))]),
    ),
    schemas: {
      Error: {
        type: "object",
        required: ["error"],
        properties: {
          error: {
            type: "object",
            required: ["code", "message"],
            properties: { code: { type: "string" }, message: { type: "string" }, path: { type: "string" } },
          },
        },
      },
      Task: {
        type: "object",
        required: ["repo", "agent"],
        additionalProperties: false,
        properties: {
          repo: { type: "string", description: "A git URL (or, on a local stack, a path)." },
          ref: { type: "string" },
          agent: { enum: [...AGENTS] },
          prompt: { type: "string", description: "For agents." },
          script: { type: "string", description: 'For agent "shell".' },
          setup: { type: "string" },
          env: { type: "object", additionalProperties: { type: "string" } },
          network: {
            type: "object",
            required: ["mode"],
            properties: {
              mode: { enum: [...NETWORK_MODES] },
              allow: { type: "array", items: { type: "string" } },
            },
          },
          timeoutSec: { type: "integer", minimum: 1 },
          compute: { enum: [...COMPUTE_KINDS], default: "cloud" },
          machine: { type: "string" },
        },
      },
      RunEvent: {
        type: "object",
        required: ["seq", "time", "type"],
        description: "seq starts at 1 and grows by one with no gaps; the last event of a turn is `result`.",
        properties: {
          seq: { type: "integer", minimum: 1 },
          time: { type: "string", format: "date-time" },
          type: { enum: [...RUN_EVENT_TYPES] },
          phase: { enum: [...PHASES] },
        },
        additionalProperties: true,
      },
      TaskRow: {
        type: "object",
        properties: {
          id: { type: "string" },
          status: { enum: [...TASK_STATUSES] },
          created: { type: "string", format: "date-time" },
          updated: { type: "string", format: "date-time" },
          repo: { type: "string" },
          agent: { enum: [...AGENTS] },
          compute: { enum: [...COMPUTE_KINDS] },
          title: { type: "string" },
        },
      },
      TaskInfo: {
        type: "object",
        properties: {
          id: { type: "string" },
          status: { enum: [...TASK_STATUSES] },
          created: { type: "string", format: "date-time" },
          task: { type: "object", description: "The Task, with `envNames` instead of `env`." },
          lastSeq: { type: "integer" },
          usage: {
            type: "object",
            properties: {
              inputTokens: { type: "integer" },
              outputTokens: { type: "integer" },
              costUsd: { type: "number" },
              containerSeconds: { type: "integer" },
            },
          },
          result: {
            oneOf: [
              { type: "null" },
              {
                type: "object",
                properties: {
                  ok: { type: "boolean" },
                  exitCode: { type: ["integer", "null"] },
                  summary: { type: "string" },
                  diffstat: { type: "object" },
                  seq: { type: "integer", description: "The result event (with the patch)." },
                },
              },
            ],
          },
        },
      },
      TaskStatusAnswer: {
        type: "object",
        properties: { id: { type: "string" }, status: { enum: [...TASK_STATUSES] } },
      },
      ContainerStatus: {
        type: "object",
        properties: {
          state: { enum: ["cold", "starting", "running", "sleeping"] },
          backend: { enum: ["cloudflare", "local", "none"] },
          startedAt: { type: ["string", "null"], format: "date-time" },
          lastActivity: { type: ["string", "null"], format: "date-time" },
          inflight: { type: "integer" },
          sleepAfterMs: { type: "integer" },
          usageSeconds: { type: "integer" },
          lastStop: { type: ["string", "null"] },
        },
      },
      User: {
        type: "object",
        properties: { id: { type: "string" }, login: { type: "string" }, name: { type: ["string", "null"] } },
      },
    },
  },
} as const;
