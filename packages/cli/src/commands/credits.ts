import { readFile } from "node:fs/promises";
import path from "node:path";
import { type Command, flag, intOption, str, UserError } from "../command.ts";
import { configDir } from "../paths.ts";

/**
 * `openagents credits grant --user U --amount N`: an operator grants credits through the edge's
 * admin route (`POST /api/admin/credits/grant`). It authenticates with `--token`, else
 * `OPENAGENTS_ADMIN_TOKEN`, else the local token `openagents up` keeps — the local stack accepts
 * that one as admin, a deployment only its `ADMIN_TOKEN` secret. Going through the API (not
 * `wrangler d1 execute`) keeps the ledger's rules in one place and works against a remote edge too.
 *
 * @example
 * openagents credits grant --user local --amount 5000000 --note "welcome"
 */
export const creditsGrantCommand: Command = {
  path: ["credits", "grant"],
  summary: "Grant credits to a user (operators; 1 000 000 credits = 1 USD)",
  options: [
    { name: "user", type: "string", value: "U", description: "User id or login (local stack: local)" },
    { name: "amount", type: "string", value: "N", description: "Credits to add (a positive integer)" },
    { name: "note", type: "string", value: "TEXT", description: "Shown in the user's ledger" },
    {
      name: "ref",
      type: "string",
      value: "R",
      description: "Idempotency key: a second grant with it adds nothing",
    },
    {
      name: "url",
      type: "string",
      value: "URL",
      description: "Edge base URL (default http://localhost:8787)",
    },
    {
      name: "token",
      type: "string",
      value: "T",
      description: "Admin token (default: OPENAGENTS_ADMIN_TOKEN or the local token)",
    },
    { name: "json", type: "boolean", description: "Print the answer as JSON" },
  ],
  async handler(o, io) {
    const user = str(o, "user");
    if (!user) throw new UserError("--user is required");
    const amount = intOption(o, "amount", 1, Number.MAX_SAFE_INTEGER);
    if (amount === undefined) throw new UserError("--amount is required");
    const base = (str(o, "url") ?? "http://localhost:8787").replace(/\/+$/, "");
    const token =
      str(o, "token") ??
      (io.env.OPENAGENTS_ADMIN_TOKEN ||
        (await readFile(path.join(configDir(io.env), "local-token"), "utf8").catch(() => "")).trim());
    if (!token) throw new UserError("no admin token: pass --token or set OPENAGENTS_ADMIN_TOKEN");
    const body: Record<string, unknown> = { user, amount };
    const note = str(o, "note");
    const ref = str(o, "ref");
    if (note !== undefined) body.note = note;
    if (ref !== undefined) body.ref = ref;
    let res: Response;
    try {
      res = await fetch(`${base}/api/admin/credits/grant`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: io.signal,
      });
    } catch (e) {
      throw new UserError(`cannot reach ${base}: ${(e as Error).message} (is \`openagents up\` running?)`);
    }
    const answer = (await res.json().catch(() => ({}))) as {
      error?: { message?: string };
      added?: boolean;
      balance?: number;
      user?: string;
    };
    if (!res.ok)
      throw new UserError(`grant refused (${res.status}): ${answer.error?.message ?? "no reason given"}`);
    if (flag(o, "json")) io.stdout.write(`${JSON.stringify(answer)}\n`);
    else
      io.stdout.write(
        answer.added
          ? `granted ${amount} credits to ${answer.user}; balance ${answer.balance}\n`
          : `already granted (ref ${ref}); balance ${answer.balance}\n`,
      );
    return 0;
  },
};
