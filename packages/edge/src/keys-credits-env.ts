/** The bindings keys, egress and credits read; part of the Worker's `Env` (env.ts). */
export interface KeysCreditsEnv {
  /**
   * Secret(s) the key vault derives per-user encryption keys from: `id:secret[,id:secret…]`, the first
   * one current (see key-vault.ts). `wrangler secret put PLATFORM_SECRET` in production; `openagents up`
   * generates one into its state dir. Without it, keys cannot be stored or used.
   */
  PLATFORM_SECRET?: string;
  /** Base URL of the Anthropic API the egress and key tests call (default `https://api.anthropic.com`). */
  ANTHROPIC_UPSTREAM?: string;
  /** Base URL of the OpenAI API, path included (default `https://api.openai.com/v1`). */
  OPENAI_UPSTREAM?: string;
  /** The platform's own keys (secrets): used for users without a stored key, billed to their credits. */
  PLATFORM_ANTHROPIC_KEY?: string;
  PLATFORM_OPENAI_KEY?: string;
  /**
   * Base URL at which containers reach this Worker's `/egress/*` (e.g. `https://openagents.example`, or
   * `http://127.0.0.1:8787` locally). Without it containers get no edge egress (the local container
   * host's own key proxy, if any, is their egress point).
   */
  EGRESS_URL?: string;
  /** Prices (JSON, see ledger.ts `parsePrices`); default: `DEFAULT_PRICES`. */
  PRICES?: string;
  /** "on": every user is metered unless their account says otherwise; "off": nobody is unless their account says so. Default: on in production, off with LOCAL_TOKEN. */
  BILLING?: string;
  /** Bearer token of `/api/admin/*` in production (`wrangler secret put ADMIN_TOKEN`); locally LOCAL_TOKEN is accepted. */
  ADMIN_TOKEN?: string;
  /**
   * The platform's NIP-47 wallet (`nostr+walletconnect://…`, a secret): Lightning invoices for credit
   * purchases (lightning.ts). Without it (or SATS_PER_USD) `/api/credits/invoice` answers 500.
   */
  PLATFORM_NWC_URI?: string;
  /** Satoshis per US dollar for Lightning purchases (a positive number, e.g. "1000"). */
  SATS_PER_USD?: string;
}
