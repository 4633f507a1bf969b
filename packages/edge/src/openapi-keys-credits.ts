import { PROVIDERS } from "./key-store.ts";
import { ENTRY_KINDS } from "./ledger.ts";

type Json = Record<string, unknown>;

const json = (schema: Json, description = "OK"): Json => ({
  description,
  content: { "application/json": { schema } },
});
const errors = (...statuses: number[]): Json =>
  Object.fromEntries(statuses.map((s) => [String(s), { $ref: `#/components/responses/E${s}` }]));
const body = (schema: Json): Json => ({ required: true, content: { "application/json": { schema } } });
const idParam = (pattern: string): Json => ({
  name: "id",
  in: "path",
  required: true,
  schema: { type: "string", pattern },
});
const int = { type: "integer", minimum: 0 };
const budget = { type: ["integer", "null"], minimum: 0, description: "Credits; null: no budget." };

const CreditInvoice: Json = {
  type: "object",
  required: ["invoiceId", "bolt11", "amountMsats", "credits", "status", "created", "expiresAt", "settledAt"],
  properties: {
    invoiceId: { type: "string", pattern: "^[0-9a-f]{64}$", description: "The payment hash." },
    bolt11: { type: "string" },
    amountMsats: int,
    credits: int,
    status: { enum: ["pending", "settled", "expired"] },
    created: { type: "string", format: "date-time" },
    expiresAt: { type: "string", format: "date-time" },
    settledAt: { type: ["string", "null"], format: "date-time" },
  },
};

const MaskedKey: Json = {
  type: "object",
  required: ["id", "provider", "label", "last4", "created", "lastUsed"],
  properties: {
    id: { type: "string", pattern: "^pk_[0-9a-f]{24}$" },
    provider: { enum: [...PROVIDERS] },
    label: { type: "string" },
    last4: { type: "string", description: "The last four characters; the key itself is never returned." },
    created: { type: "string", format: "date-time" },
    lastUsed: { type: ["string", "null"], format: "date-time" },
  },
};
const Standing: Json = {
  type: "object",
  properties: {
    unit: { const: "credits" },
    creditsPerUsd: int,
    lightning: {
      type: "boolean",
      description: "Whether credits can be bought here (POST /api/credits/invoice).",
    },
    balance: int,
    metered: { type: "boolean", description: "False: tasks are not billed (e.g. a local stack's operator)." },
    dailyBudget: budget,
    weeklyBudget: budget,
    spentDay: int,
    spentWeek: int,
    spendable: { ...int, description: "Balance capped by what the budgets leave." },
  },
};
const Entry: Json = {
  type: "object",
  properties: {
    id: int,
    kind: { enum: [...ENTRY_KINDS] },
    amount: { type: "integer", description: "> 0 adds, < 0 spends." },
    taskId: { type: ["string", "null"] },
    model: { type: ["string", "null"] },
    quantity: { type: ["integer", "null"], description: "Tokens or seconds." },
    note: { type: "string" },
    created: { type: "string", format: "date-time" },
  },
};
const Estimate: Json = {
  type: "object",
  properties: { containerSeconds: int, inputTokens: int, outputTokens: int, credits: int },
};

/** The OpenAPI paths of `/api/keys/*`, `/api/credits/*` and `/api/admin/credits/*` (merged into openapi.ts). */
export const keysCreditsPaths: Record<string, Json> = {
  "/api/keys": {
    get: {
      summary: "List your API keys (masked)",
      operationId: "listKeys",
      responses: {
        "200": json({ type: "object", properties: { keys: { type: "array", items: MaskedKey } } }),
        ...errors(401),
      },
    },
    post: {
      summary: "Store an API key (encrypted at rest; never shown again)",
      operationId: "addKey",
      requestBody: body({
        type: "object",
        required: ["provider", "key"],
        additionalProperties: false,
        properties: {
          provider: { enum: [...PROVIDERS] },
          key: { type: "string", minLength: 8, maxLength: 512 },
          label: { type: "string", maxLength: 80 },
        },
      }),
      responses: { "201": json(MaskedKey, "Created"), ...errors(400, 401, 413, 415) },
    },
  },
  "/api/keys/{id}": {
    delete: {
      summary: "Delete an API key",
      operationId: "deleteKey",
      parameters: [idParam("^pk_[0-9a-f]{24}$")],
      responses: { "204": { description: "Deleted" }, ...errors(401, 404) },
    },
  },
  "/api/keys/{id}/test": {
    post: {
      summary: "Check a key against its provider (GET /v1/models, no tokens spent)",
      operationId: "testKey",
      parameters: [idParam("^pk_[0-9a-f]{24}$")],
      responses: {
        "200": json({
          type: "object",
          properties: {
            id: { type: "string" },
            provider: { enum: [...PROVIDERS] },
            ok: { type: "boolean" },
            status: { type: "integer", description: "The provider's HTTP status." },
            message: { type: "string" },
            lastUsed: { type: ["string", "null"] },
          },
        }),
        ...errors(401, 404),
      },
    },
  },
  "/api/credits": {
    get: {
      summary: "Balance, budgets and recent spend",
      operationId: "credits",
      responses: { "200": json(Standing), ...errors(401) },
    },
  },
  "/api/credits/entries": {
    get: {
      summary: "Ledger entries, newest first",
      operationId: "creditEntries",
      parameters: [
        { name: "limit", in: "query", schema: { ...int, maximum: 500, default: 50 } },
        { name: "before", in: "query", description: "An entry id: older entries.", schema: int },
      ],
      responses: {
        "200": json({ type: "object", properties: { entries: { type: "array", items: Entry } } }),
        ...errors(400, 401),
      },
    },
  },
  "/api/credits/tasks": {
    get: {
      summary: "Spend per task",
      operationId: "creditTasks",
      parameters: [{ name: "limit", in: "query", schema: { ...int, maximum: 500, default: 50 } }],
      responses: {
        "200": json({
          type: "object",
          properties: {
            tasks: {
              type: "array",
              items: {
                type: "object",
                properties: { taskId: { type: "string" }, credits: int, tokens: int, containerSeconds: int },
              },
            },
          },
        }),
        ...errors(400, 401),
      },
    },
  },
  "/api/credits/tasks/{id}": {
    get: {
      summary: "One task's spend and entries",
      operationId: "creditTask",
      parameters: [idParam("^t_[0-9a-f]{24}$")],
      responses: {
        "200": json({
          type: "object",
          properties: { taskId: { type: "string" }, credits: int, entries: { type: "array", items: Entry } },
        }),
        ...errors(401, 404),
      },
    },
  },
  "/api/credits/budget": {
    put: {
      summary: "Set your daily/weekly budget (rolling 24 h / 7 days)",
      operationId: "setBudget",
      requestBody: body({
        type: "object",
        additionalProperties: false,
        properties: { daily: budget, weekly: budget },
      }),
      responses: {
        "200": json({ type: "object", properties: { daily: budget, weekly: budget } }),
        ...errors(400, 401),
      },
    },
  },
  "/api/credits/prices": {
    get: {
      summary: "The price list",
      operationId: "prices",
      responses: { "200": json({ type: "object" }), ...errors(401) },
    },
  },
  "/api/credits/estimate": {
    post: {
      summary: "Cost estimate of a task before starting it",
      operationId: "estimateTask",
      requestBody: body({ $ref: "#/components/schemas/Task" }),
      responses: {
        "200": json({
          type: "object",
          properties: {
            estimate: Estimate,
            balance: int,
            spendable: int,
            metered: { type: "boolean" },
            allowed: { type: "boolean", description: "False: POST /api/task/start would answer 402." },
            reason: { type: "string" },
          },
        }),
        ...errors(400, 401),
      },
    },
  },
  "/api/credits/invoice": {
    post: {
      summary: "Buy credits with Lightning: an invoice from the platform's NWC wallet",
      operationId: "createCreditInvoice",
      requestBody: body({
        type: "object",
        description: "Exactly one of amountUsd and credits ($0.01 to $1000); SATS_PER_USD sets the rate.",
        properties: {
          amountUsd: { type: "number" },
          credits: { type: "integer" },
          expirySec: { type: "integer", minimum: 1, maximum: 86_400, default: 3600 },
        },
        additionalProperties: false,
      }),
      responses: {
        "201": json(CreditInvoice, "Created"),
        ...errors(400, 401),
        "500": { description: "The wallet failed" },
        "501": {
          description: "`not_configured`: this server sells no credits (no PLATFORM_NWC_URI or SATS_PER_USD)",
        },
        "504": { description: "The wallet did not answer" },
      },
    },
  },
  "/api/credits/invoice/{id}": {
    get: {
      summary: "An invoice's status; credits the user once when it is paid (lookup_invoice)",
      operationId: "creditInvoice",
      parameters: [idParam("^[0-9a-f]{64}$")],
      responses: {
        "200": json(CreditInvoice),
        ...errors(401, 404),
        "500": { description: "The wallet failed" },
        "501": {
          description: "`not_configured`: this server sells no credits (no PLATFORM_NWC_URI or SATS_PER_USD)",
        },
        "504": { description: "The wallet did not answer" },
      },
    },
  },
  "/api/admin/credits/grant": {
    post: {
      summary: "Operator: grant credits (Bearer ADMIN_TOKEN, or the local token)",
      operationId: "adminGrant",
      requestBody: body({
        type: "object",
        required: ["user", "amount"],
        properties: {
          user: { type: "string", description: "User id or login." },
          amount: { type: "integer", minimum: 1 },
          note: { type: "string" },
          ref: {
            type: "string",
            description: "Idempotency key: a second grant with the same ref adds nothing.",
          },
        },
      }),
      responses: {
        "201": json(
          {
            type: "object",
            properties: { user: { type: "string" }, added: { type: "boolean" }, balance: int },
          },
          "Granted",
        ),
        "200": json({ type: "object" }, "Already granted (same ref)"),
        ...errors(400, 401, 404),
      },
    },
  },
  "/api/admin/credits/account": {
    put: {
      summary: "Operator: metering and budgets of a user",
      operationId: "adminAccount",
      requestBody: body({
        type: "object",
        required: ["user"],
        properties: {
          user: { type: "string" },
          metered: { type: ["boolean", "null"] },
          daily: budget,
          weekly: budget,
        },
      }),
      responses: { "200": json({ type: "object" }), ...errors(400, 401, 404) },
    },
  },
};
