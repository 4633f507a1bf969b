import { AGENTS, type AgentKind, MAX_TIMEOUT_SEC, ok, type Result } from "@openagents/protocol";
import { invalid } from "./event.ts";
import { JOB_REQUEST_MAX, JOB_REQUEST_MIN, type JobInput, type JobParam, type JobRequest } from "./nip90.ts";

/** The job types of ARCHITECTURE §4 ("NIP-90 job types"). */
export const SKILLS = ["compute", "code", "analysis", "docs"] as const;
export type Skill = (typeof SKILLS)[number];

/** Default request kinds; chosen clear of the public DVM registry (5000, 5100, 5200, 5300 …). */
export const DEFAULT_JOB_KINDS: Readonly<Record<Skill, number>> = {
  compute: 5930,
  code: 5932,
  analysis: 5933,
  docs: 5934,
};

export type JobKinds = Record<Skill, number>;

/**
 * Applies `skill=kind` overrides (the CLI's `--kind code=5100`) to the defaults. Two skills may not
 * share a kind, because the kind is how a provider tells jobs apart.
 *
 * @example
 * resolveJobKinds(["code=5100"]) // ok({ compute: 5930, code: 5100, analysis: 5933, docs: 5934 })
 */
export function resolveJobKinds(overrides: readonly string[] = []): Result<JobKinds> {
  const kinds: JobKinds = { ...DEFAULT_JOB_KINDS };
  for (const [i, o] of overrides.entries()) {
    const m = /^([a-z]+)=(\d{4})$/.exec(o);
    if (!m || !(SKILLS as readonly string[]).includes(m[1]!)) {
      return invalid(
        `kind[${i}]`,
        `expected <skill>=<kind> with skill one of ${SKILLS.join(", ")}, got "${o}"`,
      );
    }
    const kind = Number(m[2]);
    if (kind < JOB_REQUEST_MIN || kind > JOB_REQUEST_MAX) {
      return invalid(`kind[${i}]`, `kind ${kind} is outside the job request range 5000–5999`);
    }
    kinds[m[1] as Skill] = kind;
  }
  const seen = new Map<number, Skill>();
  for (const s of SKILLS) {
    const other = seen.get(kinds[s]);
    if (other) return invalid("kind", `skills ${other} and ${s} both use kind ${kinds[s]}`);
    seen.set(kinds[s], s);
  }
  return ok(kinds);
}

/** The skill a request kind belongs to under `kinds`, if any. */
export const skillOfKind = (kinds: JobKinds, kind: number): Skill | undefined =>
  SKILLS.find((s) => kinds[s] === kind);

/** The result `content` JSON of every OpenAgents job. */
export interface JobResultContent {
  ok: boolean;
  summary: string;
  patch?: string;
  report?: string;
  log?: string;
  exitCode: number;
}

const RESULT_KEYS = ["ok", "summary", "patch", "report", "log", "exitCode"];

/**
 * Validates a job result's content (a JSON string or an already parsed value). Never throws.
 *
 * @example
 * const c = parseJobResultContent(result.content);
 * if (c.ok && c.value.patch) applyPatch(c.value.patch);
 */
export function parseJobResultContent(value: unknown): Result<JobResultContent> {
  let v = value;
  if (typeof v === "string") {
    try {
      v = JSON.parse(v);
    } catch {
      return invalid("content", "result content is not JSON");
    }
  }
  if (typeof v !== "object" || v === null || Array.isArray(v))
    return invalid("content", "result content must be an object");
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!RESULT_KEYS.includes(k))
      return invalid(k, `unknown field "${k}" (allowed: ${RESULT_KEYS.join(", ")})`);
  }
  if (typeof o.ok !== "boolean") return invalid("ok", "ok must be a boolean");
  if (typeof o.summary !== "string") return invalid("summary", "summary must be a string");
  if (!Number.isInteger(o.exitCode)) return invalid("exitCode", "exitCode must be an integer");
  const out: JobResultContent = { ok: o.ok, summary: o.summary, exitCode: o.exitCode as number };
  for (const k of ["patch", "report", "log"] as const) {
    if (o[k] === undefined) continue;
    if (typeof o[k] !== "string") return invalid(k, `${k} must be a string`);
    out[k] = o[k];
  }
  return ok(out);
}

/** What a coding job asks for, independent of how NIP-90 carries it. */
export interface CodingJob {
  /** Git URL of the repository (absent for a pure `compute` script). */
  repo?: string;
  /** The prompt, or for `compute` the script. */
  instructions: string;
  ref?: string;
  agent?: AgentKind;
  timeoutSec?: number;
}

/**
 * The inputs and params of ARCHITECTURE §4 for a coding job: repo as `["i", url, "url"]`,
 * instructions as `["i", text, "text"]`, options as `["param", "ref"|"agent"|"timeout", v]`.
 *
 * @example
 * buildJobRequest({ kind: kinds.code, ...codingJobTags({ repo, instructions: prompt }), bidMsats }, sk);
 */
export function codingJobTags(job: CodingJob): { inputs: JobInput[]; params: JobParam[] } {
  const inputs: JobInput[] = [];
  if (job.repo) inputs.push({ value: job.repo, type: "url" });
  inputs.push({ value: job.instructions, type: "text" });
  const params: JobParam[] = [];
  if (job.ref) params.push({ name: "ref", value: job.ref });
  if (job.agent) params.push({ name: "agent", value: job.agent });
  if (job.timeoutSec !== undefined) params.push({ name: "timeout", value: String(job.timeoutSec) });
  return { inputs, params };
}

/**
 * Reads a coding job back from a parsed request; the inverse of `codingJobTags`. `skill` decides
 * whether a repository is required (every skill but `compute`).
 *
 * @example
 * const job = readCodingJob(req, "code"); // then build a runner Task from it
 */
export function readCodingJob(
  req: Pick<JobRequest, "inputs" | "params" | "sealed">,
  skill: Skill,
): Result<CodingJob> {
  if (req.sealed) return invalid("content", "the request is encrypted and was not opened");
  const urls = req.inputs.filter((i) => i.type === "url");
  const texts = req.inputs.filter((i) => i.type === "text");
  if (urls.length > 1) return invalid("inputs", "at most one url input (the repository)");
  if (texts.length !== 1) return invalid("inputs", "exactly one text input (the instructions) is required");
  if (skill !== "compute" && urls.length === 0)
    return invalid("inputs", `a ${skill} job needs the repository as a url input`);
  const job: CodingJob = { instructions: texts[0]!.value };
  if (urls[0]) job.repo = urls[0].value;
  for (const p of req.params) {
    if (p.name === "ref") job.ref = p.value;
    else if (p.name === "agent") {
      if (!(AGENTS as readonly string[]).includes(p.value)) {
        return invalid("params.agent", `agent must be one of ${AGENTS.join(", ")}`);
      }
      job.agent = p.value as AgentKind;
    } else if (p.name === "timeout") {
      const t = Number(p.value);
      if (!/^\d+$/.test(p.value) || t < 1 || t > MAX_TIMEOUT_SEC) {
        return invalid("params.timeout", `timeout must be whole seconds between 1 and ${MAX_TIMEOUT_SEC}`);
      }
      job.timeoutSec = t;
    }
  }
  return ok(job);
}
