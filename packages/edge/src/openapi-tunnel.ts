import { AGENTS, MAX_ALLOW_PATTERNS, MAX_MACHINE_TASKS } from "@openagents/protocol";

type Json = Record<string, unknown>;

const json = (schema: Json, description = "OK"): Json => ({
  description,
  content: { "application/json": { schema } },
});
const errors = (...statuses: number[]): Json =>
  Object.fromEntries(statuses.map((s) => [String(s), { $ref: `#/components/responses/E${s}` }]));
const time = { type: ["string", "null"], format: "date-time" };
const patterns = {
  type: "array",
  maxItems: MAX_ALLOW_PATTERNS,
  items: { type: "string" },
  description: 'Repository globs: `*` within a path segment, `**` across ("https://github.com/me/*").',
};

const MachineToken: Json = {
  type: "object",
  required: ["id", "label", "allowRepos", "maxTasks", "created", "lastUsed"],
  properties: {
    id: { type: "string", pattern: "^m_[0-9a-f]{16}$" },
    label: { type: "string" },
    allowRepos: patterns,
    maxTasks: { type: "integer", minimum: 1, maximum: MAX_MACHINE_TASKS },
    created: { type: "string", format: "date-time" },
    lastUsed: time,
  },
};

const Machine: Json = {
  type: "object",
  properties: {
    id: { type: "string", description: "The machine token's id." },
    label: { type: "string" },
    name: {
      type: ["string", "null"],
      description: "The name the machine connected with (null: never connected).",
    },
    connected: { type: "boolean", description: "A live, heartbeating connection right now." },
    connectedAt: time,
    lastSeen: time,
    disconnectedAt: time,
    agents: { type: "array", items: { enum: [...AGENTS] } },
    maxTasks: { type: ["integer", "null"], description: "Its claim capped by the token's policy." },
    running: { type: "integer", minimum: 0, description: "Tasks the edge gave it that have not ended." },
    tasks: { type: "array", items: { type: "string" } },
    claimed: {
      type: ["object", "null"],
      description: "What the machine says about itself (the edge enforces `policy` regardless).",
      properties: {
        maxTasks: { type: "integer" },
        allowRepos: patterns,
        allowDirs: { type: "array", items: { type: "string" } },
      },
    },
    policy: { type: "object", properties: { allowRepos: patterns, maxTasks: { type: "integer" } } },
    created: { type: "string", format: "date-time" },
    lastUsed: time,
  },
};

/** The `/api/tunnel/*` part of the OpenAPI document ("My machines" and `openagents connect`). */
export const tunnelPaths: Json = {
  "/api/tunnel/tokens": {
    post: {
      summary: "Create a machine token for `openagents connect` (the token is shown only in this answer)",
      operationId: "createMachineToken",
      requestBody: {
        required: true,
        content: {
          "application/json": {
            schema: {
              type: "object",
              additionalProperties: false,
              properties: {
                label: { type: "string", maxLength: 64, default: "machine" },
                allowRepos: { ...patterns, minItems: 1, default: ["**"] },
                maxTasks: { type: "integer", minimum: 1, maximum: MAX_MACHINE_TASKS, default: 4 },
              },
            },
          },
        },
      },
      responses: {
        "201": json(
          {
            allOf: [
              MachineToken,
              {
                type: "object",
                properties: {
                  token: { type: "string", description: "The secret, shown once." },
                  command: { type: "string", description: "`openagents connect --url … --token …` to copy." },
                },
              },
            ],
          },
          "Created",
        ),
        ...errors(400, 401, 413, 415),
      },
    },
    get: {
      summary: "My machine tokens (never the secrets)",
      operationId: "listMachineTokens",
      responses: {
        "200": json({ type: "object", properties: { tokens: { type: "array", items: MachineToken } } }),
        ...errors(401),
      },
    },
  },
  "/api/tunnel/tokens/{id}": {
    delete: {
      summary: "Revoke a machine token: its live connection closes and its running tasks fail",
      operationId: "revokeMachineToken",
      parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
      responses: { "204": { description: "Revoked" }, ...errors(401, 404) },
    },
  },
  "/api/tunnel/machines": {
    get: {
      summary: "My machines: who is connected now, capabilities, load",
      operationId: "listMachines",
      responses: {
        "200": json({ type: "object", properties: { machines: { type: "array", items: Machine } } }),
        ...errors(401),
      },
    },
  },
  "/api/tunnel/ws": {
    get: {
      summary:
        "The machine's WebSocket (openagents connect), authenticated with a machine token; tunnel frames",
      operationId: "tunnelSocket",
      responses: { "101": { description: "Switching protocols" }, ...errors(400, 401) },
    },
  },
};
