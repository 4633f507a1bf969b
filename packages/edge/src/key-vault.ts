import { ErrorCode, err, ok, type Result } from "@openagents/protocol";

/** One platform secret: its id (recorded in every ciphertext it made) and its bytes. */
export interface PlatformSecret {
  id: string;
  secret: Uint8Array;
}

/** An encrypted key as stored: `v1.<secret id>.<iv b64url>.<ciphertext+tag b64url>`. */
export type Sealed = string;

const VERSION = "v1";
const SALT = new TextEncoder().encode("openagents/key-vault/v1");
const SECRET_ID = /^[A-Za-z0-9_-]{1,32}$/;

const b64url = (bytes: Uint8Array): string =>
  btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");

function fromB64url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  try {
    const bin = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
    return Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
  } catch {
    return null;
  }
}

/**
 * Parses `PLATFORM_SECRET`: one or more `id:secret` entries separated by commas or whitespace, the
 * FIRST being the current one (new ciphertexts use it; the others only decrypt, until `rotate` has
 * moved everything to the first). A bare value without `id:` is the secret with id `k0`. Each secret
 * must have at least 32 characters (e.g. `openssl rand -base64 32`); its UTF-8 bytes are HKDF input.
 *
 * @example
 * parsePlatformSecrets("k2:9fJ…,k1:Qm3…"); // ok([{id:"k2",…},{id:"k1",…}])
 */
export function parsePlatformSecrets(value: string | undefined): Result<PlatformSecret[]> {
  const entries = (value ?? "").split(/[\s,]+/).filter((e) => e !== "");
  if (entries.length === 0) {
    return err(ErrorCode.Internal, "PLATFORM_SECRET is not set: stored API keys cannot be used");
  }
  const out: PlatformSecret[] = [];
  for (const entry of entries) {
    const colon = entry.indexOf(":");
    const id = colon > 0 ? entry.slice(0, colon) : "k0";
    const secret = colon > 0 ? entry.slice(colon + 1) : entry;
    // Never echo a secret in the message: only its id and length.
    if (!SECRET_ID.test(id)) return err(ErrorCode.Internal, `PLATFORM_SECRET: bad secret id "${id}"`);
    if (secret.length < 32)
      return err(ErrorCode.Internal, `PLATFORM_SECRET: secret ${id} is shorter than 32 characters`);
    if (out.some((s) => s.id === id))
      return err(ErrorCode.Internal, `PLATFORM_SECRET: secret id ${id} appears twice`);
    out.push({ id, secret: new TextEncoder().encode(secret) });
  }
  return ok(out);
}

/**
 * Encrypts and decrypts users' API keys. AES-256-GCM with a per-user key derived by HKDF-SHA256
 * from a platform secret (info = the user id), so one user's derived key opens nothing of another
 * user's. The additional authenticated data binds each ciphertext to its user id and key record id:
 * a ciphertext copied into another row or another user's row does not decrypt. Each ciphertext names
 * the secret that made it, so the platform secret can be rotated: list the new one first, keep the
 * old ones until `rotateAll` (see key-store.ts) has re-encrypted every record.
 *
 * @example
 * const vault = KeyVault.fromEnv(env);
 * if (!vault.ok) throw HttpError.from(vault.error);
 * const sealed = await vault.value.seal("sk-ant-…", { userId, recordId });
 * const key = await vault.value.open(sealed, { userId, recordId });
 */
export class KeyVault {
  readonly #secrets: PlatformSecret[];
  readonly #base = new Map<string, Promise<CryptoKey>>();

  constructor(secrets: PlatformSecret[]) {
    if (secrets.length === 0) throw new Error("KeyVault needs at least one platform secret");
    this.#secrets = secrets;
  }

  /** The vault of this deployment, from the `PLATFORM_SECRET` binding. */
  static fromEnv(env: { PLATFORM_SECRET?: string }): Result<KeyVault> {
    const secrets = parsePlatformSecrets(env.PLATFORM_SECRET);
    return secrets.ok ? ok(new KeyVault(secrets.value)) : secrets;
  }

  /** Id of the secret new ciphertexts are made with. */
  get currentId(): string {
    return this.#secrets[0]!.id;
  }

  /** Id of the secret that made `sealed`, or null when it is not a vault ciphertext. */
  static secretIdOf(sealed: Sealed): string | null {
    const parts = sealed.split(".");
    return parts.length === 4 && parts[0] === VERSION ? parts[1]! : null;
  }

  async seal(plaintext: string, binding: { userId: string; recordId: string }): Promise<Sealed> {
    const secret = this.#secrets[0]!;
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const key = await this.#userKey(secret, binding.userId);
    const ct = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: aad(binding) },
      key,
      new TextEncoder().encode(plaintext),
    );
    return `${VERSION}.${secret.id}.${b64url(iv)}.${b64url(new Uint8Array(ct))}`;
  }

  /**
   * Decrypts; a tampered, truncated or misplaced ciphertext (wrong user or record), or one made
   * with a secret this deployment no longer has, is an error that says which — never what it held.
   */
  async open(sealed: Sealed, binding: { userId: string; recordId: string }): Promise<Result<string>> {
    const parts = sealed.split(".");
    if (parts.length !== 4 || parts[0] !== VERSION)
      return err(ErrorCode.Internal, "stored key is not a vault ciphertext");
    const secret = this.#secrets.find((s) => s.id === parts[1]);
    if (!secret) {
      return err(
        ErrorCode.Internal,
        `stored key was encrypted with platform secret ${parts[1]}, which is no longer configured`,
      );
    }
    const iv = fromB64url(parts[2]!);
    const ct = fromB64url(parts[3]!);
    if (iv?.length !== 12 || !ct || ct.length < 16)
      return err(ErrorCode.Internal, "stored key ciphertext is malformed");
    try {
      const key = await this.#userKey(secret, binding.userId);
      const pt = await crypto.subtle.decrypt({ name: "AES-GCM", iv, additionalData: aad(binding) }, key, ct);
      return ok(new TextDecoder().decode(pt));
    } catch {
      return err(ErrorCode.Internal, "stored key failed authentication (tampered or moved ciphertext)");
    }
  }

  /** Re-encrypts `sealed` with the current secret (a no-op result when it already uses it). */
  async reseal(sealed: Sealed, binding: { userId: string; recordId: string }): Promise<Result<Sealed>> {
    if (KeyVault.secretIdOf(sealed) === this.currentId) return ok(sealed);
    const plain = await this.open(sealed, binding);
    return plain.ok ? ok(await this.seal(plain.value, binding)) : plain;
  }

  #userKey(secret: PlatformSecret, userId: string): Promise<CryptoKey> {
    let base = this.#base.get(secret.id);
    if (!base) {
      base = crypto.subtle.importKey("raw", secret.secret, "HKDF", false, ["deriveKey"]);
      this.#base.set(secret.id, base);
    }
    return base.then((ikm) =>
      crypto.subtle.deriveKey(
        { name: "HKDF", hash: "SHA-256", salt: SALT, info: new TextEncoder().encode(`user:${userId}`) },
        ikm,
        { name: "AES-GCM", length: 256 },
        false,
        ["encrypt", "decrypt"],
      ),
    );
  }
}

const aad = (b: { userId: string; recordId: string }) =>
  new TextEncoder().encode(`openagents-key\u0000${b.userId}\u0000${b.recordId}`);
