import { type Filter, matchFilters } from "nostr-tools/filter";
import { checkSignedEvent, type NostrEvent } from "./event.ts";
import { type Backoff, DEFAULT_BACKOFF, RelayConnection, type RelayMessage } from "./relay-connection.ts";

export type { Filter };

export interface PoolOptions {
  backoff?: Backoff;
  /**
   * Seconds subtracted from the last seen `created_at` when re-subscribing after a reconnect, so an
   * event stamped slightly earlier than one already seen (clock skew, same second) is not missed.
   */
  overlapSec?: number;
  /** How many event ids each subscription remembers for de-duplication. */
  maxSeen?: number;
  /** `oneose` fires when every relay sent EOSE, or after this long (a relay may be down). */
  eoseTimeoutMs?: number;
  /** Called when a relay connects or drops (for logs and tests). */
  onstatus?: (url: string, status: "open" | "down", reason?: string) => void;
}

export interface SubscribeHandlers {
  /** Each event at most once per subscription, signature checked and matching the filters. */
  onevent(event: NostrEvent, relay: string): void;
  /** Once: when the stored events of every relay were delivered (or `eoseTimeoutMs` passed). */
  oneose?(): void;
  /** A relay refused or ended the subscription (`CLOSED`), e.g. `auth-required:`. */
  onclosed?(relay: string, reason: string): void;
}

export interface PoolSubscription {
  close(): void;
}

export interface PublishOptions {
  /** Per attempt: wait for the connection and for the relay's `OK`. */
  timeoutMs?: number;
  /** Extra attempts per relay after a timeout, a drop, or an `error:` / `rate-limited:` answer. */
  retries?: number;
}

/** One relay's answer to a publish: `ok` is the relay's `OK` verdict (`duplicate:` counts as ok). */
export interface PublishOutcome {
  relay: string;
  ok: boolean;
  message: string;
  attempts: number;
}

interface Sub {
  id: string;
  filters: Filter[];
  handlers: SubscribeHandlers;
  seen: Set<string>;
  /** Per relay: the `since` watermark for a re-subscription (newest `created_at` known complete). */
  since: Map<string, number>;
  /** Per relay: newest `created_at` of the stored events replayed before the current EOSE. */
  replayNewest: Map<string, number>;
  eosed: Set<string>;
  eoseFired: boolean;
  eoseTimer: ReturnType<typeof setTimeout> | undefined;
}

const RETRYABLE = /^(error|rate-limited):/;
let nextSubId = 0;

/**
 * A pool over several relays. Connections reconnect with backoff; subscriptions are re-sent on every
 * reconnect with `since` = the last event seen from that relay minus an overlap, so events published
 * during an outage are still delivered; each subscription de-duplicates by event id, so no event is
 * handled twice however many relays (or reconnects) deliver it. Events with a bad signature or that
 * do not match the filters are dropped.
 *
 * @example
 * const pool = new RelayPool(["ws://127.0.0.1:7777", "wss://relay.example"]);
 * const sub = pool.subscribe([{ kinds: [5932], since: nowSec() }], { onevent: (e) => handle(e) });
 * const outcomes = await pool.publish(signedEvent);
 * sub.close(); pool.close();
 */
export class RelayPool {
  readonly urls: string[];
  private readonly relays = new Map<string, RelayConnection>();
  private readonly subs = new Map<string, Sub>();
  private readonly pendingOk = new Map<string, Map<string, (ok: boolean, message: string) => void>>();
  private readonly opts: Required<Omit<PoolOptions, "onstatus">> & Pick<PoolOptions, "onstatus">;

  constructor(urls: string[], opts: PoolOptions = {}) {
    this.urls = [...new Set(urls)];
    this.opts = {
      backoff: opts.backoff ?? DEFAULT_BACKOFF,
      overlapSec: opts.overlapSec ?? 5,
      maxSeen: opts.maxSeen ?? 50_000,
      eoseTimeoutMs: opts.eoseTimeoutMs ?? 5_000,
      onstatus: opts.onstatus,
    };
    for (const url of this.urls) {
      const conn: RelayConnection = new RelayConnection(
        url,
        {
          onopen: () => {
            this.opts.onstatus?.(url, "open");
            for (const sub of this.subs.values()) this.sendReq(conn, sub);
          },
          onmessage: (msg) => this.onMessage(url, msg),
          ondown: (reason) => {
            this.opts.onstatus?.(url, "down", reason);
            for (const sub of this.subs.values()) {
              sub.eosed.delete(url);
              sub.replayNewest.delete(url);
            }
            // Publishes waiting on this relay's OK will not get it on this socket; retry decides.
            const pending = this.pendingOk.get(url);
            if (pending)
              for (const settle of [...pending.values()]) settle(false, `error: connection ${reason}`);
          },
        },
        this.opts.backoff,
      );
      this.relays.set(url, conn);
    }
  }

  /** Connected relay URLs right now. */
  connected(): string[] {
    return [...this.relays.values()].filter((r) => r.open).map((r) => r.url);
  }

  /** Waits until at least `min` relays are connected, or `timeoutMs`. */
  async ready(min = 1, timeoutMs = 5_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (const r of this.relays.values()) r.ensure();
    while (this.connected().length < min && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.connected().length >= min;
  }

  subscribe(filters: Filter[], handlers: SubscribeHandlers): PoolSubscription {
    const sub: Sub = {
      id: `oa${++nextSubId}`,
      filters,
      handlers,
      seen: new Set(),
      since: new Map(),
      replayNewest: new Map(),
      eosed: new Set(),
      eoseFired: false,
      eoseTimer: undefined,
    };
    this.subs.set(sub.id, sub);
    sub.eoseTimer = setTimeout(() => this.fireEose(sub), this.opts.eoseTimeoutMs);
    for (const conn of this.relays.values()) {
      if (conn.open) this.sendReq(conn, sub);
      else conn.ensure();
    }
    return {
      close: () => {
        if (!this.subs.delete(sub.id)) return;
        clearTimeout(sub.eoseTimer);
        for (const conn of this.relays.values()) conn.send(["CLOSE", sub.id]);
      },
    };
  }

  /** Collects the stored events matching `filters` from every relay (de-duplicated), until EOSE. */
  query(filters: Filter[], timeoutMs = this.opts.eoseTimeoutMs): Promise<NostrEvent[]> {
    return new Promise((resolve) => {
      const events: NostrEvent[] = [];
      let sub: PoolSubscription | undefined;
      const finish = () => {
        clearTimeout(t);
        sub?.close();
        resolve(events);
      };
      const t = setTimeout(finish, timeoutMs);
      sub = this.subscribe(filters, { onevent: (e) => events.push(e), oneose: finish });
    });
  }

  /**
   * Publishes to every relay and reports each relay's verdict. Retries a relay after a timeout, a
   * dropped connection or a transient refusal (`error:`, `rate-limited:`), never after a definitive
   * one (`invalid:`, `blocked:`, `pow:` …).
   */
  publish(event: NostrEvent, opts: PublishOptions = {}): Promise<PublishOutcome[]> {
    return Promise.all(this.urls.map((url) => this.publishTo(url, event, opts)));
  }

  private async publishTo(url: string, event: NostrEvent, opts: PublishOptions): Promise<PublishOutcome> {
    const conn = this.relays.get(url)!;
    const timeoutMs = opts.timeoutMs ?? 5_000;
    const tries = 1 + (opts.retries ?? 2);
    let last = { ok: false, message: "error: not attempted" };
    for (let attempt = 1; attempt <= tries; attempt++) {
      if (attempt > 1)
        await new Promise((r) => setTimeout(r, this.opts.backoff.initialMs * 2 ** (attempt - 2)));
      if (!(await conn.waitOpen(timeoutMs))) {
        last = { ok: false, message: "error: relay not connected" };
        continue;
      }
      last = await new Promise<{ ok: boolean; message: string }>((resolve) => {
        const waiting = this.pendingOk.get(url) ?? new Map<string, (ok: boolean, message: string) => void>();
        this.pendingOk.set(url, waiting);
        const settle = (ok: boolean, message: string) => {
          clearTimeout(t);
          waiting.delete(event.id);
          resolve({ ok, message });
        };
        const t = setTimeout(() => settle(false, "error: timed out waiting for OK"), timeoutMs);
        waiting.set(event.id, settle);
        if (!conn.send(["EVENT", event])) settle(false, "error: relay not connected");
      });
      if (last.ok || last.message.startsWith("duplicate:"))
        return { relay: url, ok: true, message: last.message, attempts: attempt };
      if (!RETRYABLE.test(last.message))
        return { relay: url, ok: false, message: last.message, attempts: attempt };
    }
    return { relay: url, ok: false, message: last.message, attempts: tries };
  }

  /** Closes every connection and subscription; the pool cannot be reused. */
  close(): void {
    for (const sub of this.subs.values()) clearTimeout(sub.eoseTimer);
    this.subs.clear();
    for (const conn of this.relays.values()) conn.close();
    for (const pending of this.pendingOk.values())
      for (const settle of [...pending.values()]) settle(false, "error: pool closed");
  }

  private sendReq(conn: RelayConnection, sub: Sub): void {
    const last = sub.since.get(conn.url);
    const filters =
      last === undefined
        ? sub.filters
        : sub.filters.map((f) => ({ ...f, since: Math.max(f.since ?? 0, last - this.opts.overlapSec) }));
    conn.send(["REQ", sub.id, ...filters]);
  }

  private fireEose(sub: Sub): void {
    if (sub.eoseFired) return;
    sub.eoseFired = true;
    clearTimeout(sub.eoseTimer);
    sub.handlers.oneose?.();
  }

  private onMessage(url: string, msg: RelayMessage): void {
    switch (msg[0]) {
      case "EVENT": {
        const sub = this.subs.get(msg[1]);
        if (!sub || sub.seen.has(msg[2]?.id)) return;
        const checked = checkSignedEvent(msg[2]);
        if (!checked.ok || !matchFilters(sub.filters, checked.value)) return;
        const event = checked.value;
        // Stored events come newest first, so during a replay only EOSE makes the newest one a safe
        // watermark; a drop before EOSE must not skip the older ones. Live events come in order.
        const mark = sub.eosed.has(url) ? sub.since : sub.replayNewest;
        if (event.created_at > (mark.get(url) ?? 0)) mark.set(url, event.created_at);
        sub.seen.add(event.id);
        if (sub.seen.size > this.opts.maxSeen) sub.seen.delete(sub.seen.values().next().value!);
        sub.handlers.onevent(event, url);
        return;
      }
      case "EOSE": {
        const sub = this.subs.get(msg[1]);
        if (!sub) return;
        sub.eosed.add(url);
        const newest = sub.replayNewest.get(url);
        if (newest !== undefined && newest > (sub.since.get(url) ?? 0)) sub.since.set(url, newest);
        sub.replayNewest.delete(url);
        if ([...this.relays.keys()].every((u) => sub.eosed.has(u))) this.fireEose(sub);
        return;
      }
      case "OK":
        this.pendingOk.get(url)?.get(msg[1])?.(msg[2] === true, String(msg[3] ?? ""));
        return;
      case "CLOSED": {
        const sub = this.subs.get(msg[1]);
        sub?.handlers.onclosed?.(url, String(msg[2] ?? ""));
        return;
      }
    }
  }
}
