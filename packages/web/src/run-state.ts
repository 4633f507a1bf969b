import {
  type Diffstat,
  type ErrorCode,
  PHASES,
  type Phase,
  type ResultBody,
  type RunEvent,
  type UsageBody,
} from "@openagents/protocol";
import { LogBuffer } from "./log-buffer.ts";
import { addWarning, warningOf } from "./warnings.ts";

interface ItemBase {
  seq: number;
  time: string;
}

/** A tool call and, once it came, its result (paired by `toolUseId`). */
export interface ToolItem extends ItemBase {
  kind: "tool";
  tool: string;
  toolUseId?: string;
  input?: unknown;
  output?: string;
  isError?: boolean;
  /** True once the result arrived (or the turn ended without one). */
  done: boolean;
}

export type TimelineItem =
  | (ItemBase & { kind: "status"; phase: Phase; message?: string })
  | (ItemBase & { kind: "message" | "thinking"; text: string })
  | ToolItem
  | (ItemBase & { kind: "error"; code: ErrorCode; message: string })
  | (ItemBase & {
      kind: "result";
      ok: boolean;
      exitCode: number | null;
      summary: string;
      diffstat: Diffstat;
    });

export interface UsageTotals {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  costUsd: number;
  models: string[];
  /** Usage events counted (one per agent turn). */
  reports: number;
}

export type Outcome = "succeeded" | "failed" | "cancelled";

/** What `accept` did with an event. */
export type Accepted = "applied" | "duplicate" | "buffered";

/** Events held while waiting for a missing `seq`; past this the stream is broken, not late. */
const MAX_PENDING = 10_000;

/**
 * The browser's view of one task's event stream. Events are applied strictly in `seq` order: a
 * repeated `seq` (a replay after reconnecting) is ignored, an early one is held until the gap before
 * it is filled, so the view never shows a duplicate and never skips an event. Mutable by design (see
 * LogBuffer); `version` grows on every change so a view can tell when to re-render.
 *
 * @example
 * const run = new RunState();
 * run.accept({ seq: 1, time, type: "status", phase: "queued" });
 * run.phase; // "queued"
 */
export class RunState {
  /** Highest `seq` applied; a reconnect resumes with `?after=lastSeq`. */
  lastSeq = 0;
  version = 0;
  readonly timeline: TimelineItem[] = [];
  readonly logs: LogBuffer;
  /** Runner warnings (system log lines starting with `warning:`), shown as banners; see warnings.ts. */
  readonly warnings: string[] = [];
  phase: Phase | undefined;
  /** Phases reached in the current turn, in order. */
  phasesSeen: Phase[] = [];
  /** Set when the last applied event is a `result`; cleared when a follow-up turn starts. */
  outcome: Outcome | undefined;
  /** The latest result (its patch is the workspace's whole change so far). */
  result: ResultBody | undefined;
  /** Errors of the current turn; the last one explains a failed outcome. */
  errors: Array<{ code: ErrorCode; message: string }> = [];
  usage: UsageTotals = emptyUsage();
  turns = 0;
  readonly #pending = new Map<number, RunEvent>();
  readonly #openTools = new Map<string, ToolItem>();

  constructor(logCapacity?: number) {
    this.logs = new LogBuffer(logCapacity);
  }

  /** True when the stream has ended (a result came and no follow-up started since). */
  get ended(): boolean {
    return this.outcome !== undefined;
  }

  /** True while events after a missing `seq` are held: the connection lost something and must resume. */
  get hasGap(): boolean {
    return this.#pending.size > 0;
  }

  accept(event: RunEvent): Accepted {
    if (event.seq <= this.lastSeq || this.#pending.has(event.seq)) return "duplicate";
    if (event.seq !== this.lastSeq + 1) {
      if (this.#pending.size < MAX_PENDING) this.#pending.set(event.seq, event);
      return "buffered";
    }
    this.#apply(event);
    for (let next = this.#pending.get(this.lastSeq + 1); next; next = this.#pending.get(this.lastSeq + 1)) {
      this.#pending.delete(next.seq);
      this.#apply(next);
    }
    this.version++;
    return "applied";
  }

  #apply(e: RunEvent): void {
    this.lastSeq = e.seq;
    const base = { seq: e.seq, time: e.time };
    switch (e.type) {
      case "status":
        if (this.outcome !== undefined) this.#newTurn();
        this.phase = e.phase;
        if (!this.phasesSeen.includes(e.phase)) this.phasesSeen.push(e.phase);
        this.timeline.push({ ...base, kind: "status", phase: e.phase, message: e.message });
        return;
      case "log": {
        this.logs.append(e.seq, e.stream, e.text);
        const warning = warningOf(e.stream, e.text);
        if (warning !== undefined) addWarning(this.warnings, warning);
        return;
      }
      case "agent":
        this.#applyAgent(e, base);
        return;
      case "usage":
        addUsage(this.usage, e);
        return;
      case "error":
        this.errors.push({ code: e.code, message: e.message });
        this.timeline.push({ ...base, kind: "error", code: e.code, message: e.message });
        return;
      case "result": {
        this.result = e;
        this.turns++;
        const cancelled = this.errors.some((x) => x.code === "cancelled");
        this.outcome = e.ok ? "succeeded" : cancelled ? "cancelled" : "failed";
        // A tool whose result never came will not get one now.
        for (const tool of this.#openTools.values()) tool.done = true;
        this.#openTools.clear();
        const { ok, exitCode, summary, diffstat } = e;
        this.timeline.push({ ...base, kind: "result", ok, exitCode, summary, diffstat });
        return;
      }
    }
  }

  #applyAgent(e: Extract<RunEvent, { type: "agent" }>, base: ItemBase): void {
    if (e.kind === "message" || e.kind === "thinking") {
      this.timeline.push({ ...base, kind: e.kind, text: e.text ?? "" });
      return;
    }
    if (e.kind === "tool_call") {
      const item: ToolItem = { ...base, kind: "tool", tool: e.tool ?? "tool", input: e.input, done: false };
      if (e.toolUseId !== undefined) {
        item.toolUseId = e.toolUseId;
        this.#openTools.set(e.toolUseId, item);
      }
      this.timeline.push(item);
      return;
    }
    // tool_result: attach to its call; a result whose call we never saw still shows, on its own.
    const call = e.toolUseId === undefined ? undefined : this.#openTools.get(e.toolUseId);
    if (call) {
      this.#openTools.delete(e.toolUseId!);
      call.output = e.text ?? "";
      call.isError = e.isError === true;
      call.done = true;
      return;
    }
    this.timeline.push({
      ...base,
      kind: "tool",
      tool: e.tool ?? "tool",
      toolUseId: e.toolUseId,
      output: e.text ?? "",
      isError: e.isError === true,
      done: true,
    });
  }

  #newTurn(): void {
    this.outcome = undefined;
    this.phasesSeen = [];
    this.errors = [];
  }
}

const emptyUsage = (): UsageTotals => ({
  inputTokens: 0,
  outputTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  costUsd: 0,
  models: [],
  reports: 0,
});

// Each usage event reports one agent turn, so a task's total is their sum.
function addUsage(total: UsageTotals, u: UsageBody): void {
  total.inputTokens += u.inputTokens;
  total.outputTokens += u.outputTokens;
  total.cacheReadTokens += u.cacheReadTokens ?? 0;
  total.cacheWriteTokens += u.cacheWriteTokens ?? 0;
  total.costUsd += u.costUsd ?? 0;
  if (u.model && !total.models.includes(u.model)) total.models.push(u.model);
  total.reports++;
}

/** The phases in display order, for a progress bar. */
export const PHASE_ORDER: readonly Phase[] = PHASES;
