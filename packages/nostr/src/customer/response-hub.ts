import type { NostrEvent } from "../event.ts";
import { jobResponsesFilter } from "../nip90.ts";
import type { PoolSubscription, RelayPool } from "../relay-pool.ts";

/** Request ids per relay subscription: relays cap both subscriptions and the size of a filter. */
const MAX_IDS_PER_SUB = 100;

interface Job {
  onEvent(ev: NostrEvent): void;
  /** Event ids already handed over: two overlapping subscriptions may both deliver one event. */
  seen: Set<string>;
}

interface Covering {
  sub: PoolSubscription;
  /** The still-open jobs this subscription covers; it closes when none is left. */
  ids: Set<string>;
}

/** A job's place in the hub: `ready` once the relays hold a subscription for it. */
export interface JobWatch {
  ready: Promise<void>;
  close(): void;
}

/**
 * The responses (results and feedback) to every job one customer has open on one pool, through a
 * few shared subscriptions instead of one per job: relays cap subscriptions per connection
 * (nostr-relay, strfry), so 200 concurrent submits with one subscription each stall. Jobs that
 * arrive together are covered by one new set of subscriptions (≤ 100 request ids each) that
 * replaces the previous set once it has reached EOSE, so no response falls between the two.
 *
 * @example
 * const watch = responseHub(pool, 5930).watch(request.id, onEvent);
 * await watch.ready; // now publish the request
 * watch.close();     // when the job is settled
 */
export class ResponseHub {
  readonly #pool: RelayPool;
  readonly #kind: number;
  readonly #jobs = new Map<string, Job>();
  #covering: Covering[] = [];
  #waiting: Array<() => void> = [];
  #flushing = false;

  constructor(pool: RelayPool, kind: number) {
    this.#pool = pool;
    this.#kind = kind;
  }

  /** Subscriptions open right now (for tests and benchmarks). */
  get subscriptions(): number {
    return this.#covering.length;
  }

  watch(requestId: string, onEvent: (ev: NostrEvent) => void): JobWatch {
    this.#jobs.set(requestId, { onEvent, seen: new Set() });
    const ready = new Promise<void>((resolve) => this.#waiting.push(resolve));
    // Submits started in the same tick share the next flush.
    if (!this.#flushing) {
      this.#flushing = true;
      setTimeout(() => this.#flush(), 0);
    }
    return {
      ready,
      close: () => {
        if (!this.#jobs.delete(requestId)) return;
        for (const c of this.#covering) {
          c.ids.delete(requestId);
          if (c.ids.size === 0) c.sub.close();
        }
        this.#covering = this.#covering.filter((c) => c.ids.size > 0);
      },
    };
  }

  #flush(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    const ids = [...this.#jobs.keys()];
    const next: Covering[] = [];
    let pending = Math.ceil(ids.length / MAX_IDS_PER_SUB);
    const done = () => {
      // The new set covers every open job: the old one can go.
      const old = this.#covering;
      // Jobs settled while the new set was opening need no covering.
      for (const c of next) for (const id of c.ids) if (!this.#jobs.has(id)) c.ids.delete(id);
      this.#covering = next.filter((c) => c.ids.size > 0);
      for (const c of old) c.sub.close();
      for (const c of next) if (c.ids.size === 0) c.sub.close();
      for (const resolve of waiting) resolve();
      if (this.#waiting.length > 0) setTimeout(() => this.#flush(), 0);
      else this.#flushing = false;
    };
    if (pending === 0) {
      done();
      return;
    }
    for (let i = 0; i < ids.length; i += MAX_IDS_PER_SUB) {
      const chunk = ids.slice(i, i + MAX_IDS_PER_SUB);
      let eosed = false;
      const covering: Covering = {
        ids: new Set(chunk),
        sub: this.#pool.subscribe([{ ...jobResponsesFilter({ id: "", kind: this.#kind }), "#e": chunk }], {
          onevent: (ev) => this.#deliver(ev),
          oneose: () => {
            if (eosed) return;
            eosed = true;
            if (--pending === 0) done();
          },
        }),
      };
      next.push(covering);
    }
  }

  #deliver(ev: NostrEvent): void {
    for (const tag of ev.tags) {
      if (tag[0] !== "e" || tag[1] === undefined) continue;
      const job = this.#jobs.get(tag[1]);
      if (!job) continue;
      if (job.seen.has(ev.id)) return;
      job.seen.add(ev.id);
      job.onEvent(ev);
      return;
    }
  }
}

const hubs = new WeakMap<RelayPool, Map<number, ResponseHub>>();

/** The one hub of a pool for a request kind (created on first use, dropped with the pool). */
export function responseHub(pool: RelayPool, kind: number): ResponseHub {
  let byKind = hubs.get(pool);
  if (!byKind) {
    byKind = new Map();
    hubs.set(pool, byKind);
  }
  let hub = byKind.get(kind);
  if (!hub) {
    hub = new ResponseHub(pool, kind);
    byKind.set(kind, hub);
  }
  return hub;
}
