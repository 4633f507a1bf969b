import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import * as nip19 from "nostr-tools/nip19";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { type CliIo, type Command, flag, str, UserError } from "../command.ts";
import { configDir } from "../paths.ts";

/** Where the Nostr key lives: `$XDG_CONFIG_HOME/openagents/nostr-key.json`, mode 0600. */
export const keyFile = (env: NodeJS.ProcessEnv): string => path.join(configDir(env), "nostr-key.json");

function writeKey(env: NodeJS.ProcessEnv, secret: Uint8Array): void {
  const file = keyFile(env);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  // Written with 0600 from the first byte; chmod as well in case the file already existed.
  writeFileSync(file, `${JSON.stringify({ nsec: nip19.nsecEncode(secret) })}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** The stored secret key, or undefined when none was created or imported yet. */
export function loadSecretKey(env: NodeJS.ProcessEnv): Uint8Array | undefined {
  const file = keyFile(env);
  if (!existsSync(file)) return undefined;
  let nsec: unknown;
  try {
    nsec = (JSON.parse(readFileSync(file, "utf8")) as { nsec?: unknown }).nsec;
  } catch {
    throw new UserError(`${file} is not valid JSON; fix it or run \`openagents keys create --force\``);
  }
  const secret = typeof nsec === "string" ? decodeNsec(nsec) : undefined;
  if (!secret) throw new UserError(`${file} holds no valid nsec; run \`openagents keys create --force\``);
  return secret;
}

/** The stored key, created on first use (a note goes to stderr; the secret is never printed). */
export function ensureSecretKey(io: Pick<CliIo, "env" | "stderr">): Uint8Array {
  const existing = loadSecretKey(io.env);
  if (existing) return existing;
  const secret = generateSecretKey();
  writeKey(io.env, secret);
  io.stderr.write(`created a Nostr key ${nip19.npubEncode(getPublicKey(secret))} in ${keyFile(io.env)}\n`);
  return secret;
}

function decodeNsec(value: string): Uint8Array | undefined {
  try {
    const d = nip19.decode(value.trim());
    return d.type === "nsec" ? d.data : undefined;
  } catch {
    return undefined;
  }
}

/** Reads a public key given as npub or 64 hex characters. */
export function parsePubkey(value: string, option: string): string {
  if (/^[0-9a-f]{64}$/.test(value)) return value;
  try {
    const d = nip19.decode(value.trim());
    if (d.type === "npub") return d.data;
  } catch {
    // Falls through to the one-line error below.
  }
  throw new UserError(`--${option} must be an npub or a 64-character hex public key`);
}

function show(io: CliIo, secret: Uint8Array, json: boolean, showSecret: boolean): void {
  const pubkey = getPublicKey(secret);
  const out: Record<string, string> = { npub: nip19.npubEncode(pubkey), pubkey, file: keyFile(io.env) };
  if (showSecret) out.nsec = nip19.nsecEncode(secret);
  if (json) io.stdout.write(`${JSON.stringify(out)}\n`);
  else
    io.stdout.write(
      `${Object.entries(out)
        .map(([k, v]) => `${k.padEnd(6)} ${v}`)
        .join("\n")}\n`,
    );
}

const showOptions = [
  { name: "json", type: "boolean" as const, description: "Print as JSON" },
  {
    name: "show-secret",
    type: "boolean" as const,
    description: "Also print the nsec (anyone who sees it can spend as you)",
  },
];

/** `openagents keys`: shows the public key (npub) of this machine's Nostr key. */
export const keysCommand: Command = {
  path: ["keys"],
  summary: "Show this machine's Nostr key (npub); `keys create|import` to make or bring one",
  options: showOptions,
  details: `The key is stored in $XDG_CONFIG_HOME/openagents/nostr-key.json with mode 0600.
The secret (nsec) is printed only with --show-secret.`,
  async handler(o, io) {
    const secret = loadSecretKey(io.env);
    if (!secret)
      throw new UserError("no Nostr key yet: run `openagents keys create` or `openagents keys import`");
    show(io, secret, flag(o, "json"), flag(o, "show-secret"));
    return 0;
  },
};

/** `openagents keys create`: generates a key (refuses to overwrite one without --force). */
export const keysCreateCommand: Command = {
  path: ["keys", "create"],
  summary: "Create a new Nostr key for this machine",
  options: [
    { name: "force", type: "boolean", description: "Replace the existing key (it is lost)" },
    ...showOptions,
  ],
  async handler(o, io) {
    if (loadSecretKey(io.env) && !flag(o, "force")) {
      throw new UserError(`a key already exists in ${keyFile(io.env)} (use --force to replace it)`);
    }
    const secret = generateSecretKey();
    writeKey(io.env, secret);
    show(io, secret, flag(o, "json"), flag(o, "show-secret"));
    return 0;
  },
};

/** `openagents keys import`: stores an existing nsec (from a file or stdin, never from argv). */
export const keysImportCommand: Command = {
  path: ["keys", "import"],
  summary: "Import an existing Nostr key (nsec) from a file or stdin",
  options: [
    {
      name: "from",
      type: "string",
      value: "FILE",
      description: "File holding the nsec (- for stdin, the default)",
    },
    { name: "force", type: "boolean", description: "Replace the existing key (it is lost)" },
    ...showOptions,
  ],
  details: "The nsec is read from a file or stdin so that it never appears in the shell history or `ps`.",
  async handler(o, io) {
    if (loadSecretKey(io.env) && !flag(o, "force")) {
      throw new UserError(`a key already exists in ${keyFile(io.env)} (use --force to replace it)`);
    }
    const from = str(o, "from") ?? "-";
    let text: string;
    try {
      text = from === "-" ? readFileSync(0, "utf8") : readFileSync(path.resolve(io.cwd, from), "utf8");
    } catch (e) {
      throw new UserError(`cannot read ${from}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    const secret = decodeNsec(text);
    if (!secret) throw new UserError("that is not an nsec (NIP-19 bech32, starting with nsec1)");
    writeKey(io.env, secret);
    show(io, secret, flag(o, "json"), flag(o, "show-secret"));
    return 0;
  },
};
