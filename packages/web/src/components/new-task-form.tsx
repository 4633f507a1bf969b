import type { AgentKind, ComputeKind, NetworkMode } from "@openagents/protocol";
import { useState } from "preact/hooks";
import { ApiError, api } from "../api.ts";
import { machineChoices } from "../machines.ts";
import { routeHref } from "../routes.ts";
import {
  AGENT_LABELS,
  AGENT_OPTIONS,
  COMPUTE_OPTIONS,
  emptyForm,
  type FieldErrors,
  fieldOf,
  instructionsPath,
  NETWORK_OPTIONS,
  type TaskFormValues,
  validateForm,
} from "../task-form.ts";
import { usePoll } from "../use-poll.ts";
import { CostEstimate } from "./cost-estimate.tsx";
import { Field } from "./field.tsx";

const NETWORK_LABELS: Record<NetworkMode, string> = {
  none: "No network",
  allowlist: "Only these domains",
  open: "Open internet",
};

/** Id of the control that shows the error for a field path. */
const controlId = (field: string) => `f-${field.replace(/\./g, "-")}`;

/** The new-task form. It checks the task with the server's own parser before sending it. */
export function NewTaskForm() {
  const [values, setValues] = useState<TaskFormValues>(emptyForm);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [checked, setChecked] = useState(false);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<{ message: string; credits?: boolean } | undefined>();
  const [machines, setMachines] = useState<string[] | undefined>();

  // Only while "My machine" is chosen: which of the user's machines are connected now.
  usePoll(
    () => api.listMachines().then((list) => setMachines(machineChoices(list))),
    5000,
    values.compute === "tunnel",
  );

  const set = <K extends keyof TaskFormValues>(key: K, value: TaskFormValues[K]) => {
    const next = { ...values, [key]: value };
    setValues(next);
    // Once the user has tried to submit, errors follow their typing; before that they stay quiet.
    if (checked) setErrors(validateForm(next).errors);
  };

  const focusFirstError = (errs: FieldErrors) => {
    const first = Object.keys(errs)[0];
    if (first !== undefined) requestAnimationFrame(() => document.getElementById(controlId(first))?.focus());
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setChecked(true);
    setFailure(undefined);
    const { task, errors: errs } = validateForm(values);
    setErrors(errs);
    if (!task) return focusFirstError(errs);
    setBusy(true);
    try {
      const { id } = await api.startTask(task);
      location.hash = routeHref({ page: "task", id });
    } catch (err) {
      const field = err instanceof ApiError ? fieldOf(err.path) : "";
      if (field !== "" && err instanceof ApiError) {
        const errs2 = { [field]: err.message };
        setErrors(errs2);
        focusFirstError(errs2);
      } else
        setFailure({
          message: err instanceof Error ? err.message : String(err),
          credits: err instanceof ApiError && err.code === "insufficient_credits",
        });
    } finally {
      setBusy(false);
    }
  };

  const instr = instructionsPath(values.agent);
  const describedBy = (field: string) => (errors[field] ? `${controlId(field)}-error` : undefined);
  const input = (field: string) => ({
    id: controlId(field),
    "aria-invalid": errors[field] ? true : undefined,
    "aria-describedby": describedBy(field),
  });
  const computeOptions = COMPUTE_OPTIONS.filter((o) => o.available);
  const estimateTask = validateForm(values).task;

  return (
    <section class="stack narrow">
      <div class="page-head">
        <h1>New task</h1>
        <a class="muted" href={routeHref({ page: "list" })}>
          Cancel
        </a>
      </div>
      <form class="card form" onSubmit={submit} noValidate data-testid="new-task-form">
        <Field
          label="Repository"
          id={controlId("repo")}
          error={errors.repo}
          hint="A git URL, or a path on the machine that runs the task."
        >
          <input
            {...input("repo")}
            name="repo"
            type="text"
            inputMode="url"
            autocomplete="off"
            spellcheck={false}
            placeholder="https://github.com/owner/repo.git"
            value={values.repo}
            onInput={(e) => set("repo", e.currentTarget.value)}
          />
        </Field>
        <div class="row-2">
          <Field
            label="Branch or ref"
            id={controlId("ref")}
            error={errors.ref}
            hint="Empty: the default branch."
          >
            <input
              {...input("ref")}
              name="ref"
              type="text"
              autocomplete="off"
              spellcheck={false}
              placeholder="main"
              value={values.ref}
              onInput={(e) => set("ref", e.currentTarget.value)}
            />
          </Field>
          <Field label="Runs on" id={controlId("compute")} error={errors.compute}>
            <select
              {...input("compute")}
              name="compute"
              value={values.compute}
              onChange={(e) => set("compute", e.currentTarget.value as ComputeKind)}
            >
              {computeOptions.map((o) => (
                <option key={o.value} value={o.value}>
                  {o.label}
                </option>
              ))}
            </select>
          </Field>
        </div>
        {values.compute === "tunnel" && (
          <Field
            label="Machine"
            id={controlId("machine")}
            error={errors.machine}
            hint={
              machines?.length === 0 ? (
                <>
                  No machine is connected: the task waits in the queue until one connects.{" "}
                  <a href={routeHref({ page: "machines" })}>My machines</a>
                </>
              ) : (
                "Any machine: the first connected machine with a free slot that allows this repository."
              )
            }
          >
            <select
              {...input("machine")}
              name="machine"
              value={values.machine}
              onChange={(e) => set("machine", e.currentTarget.value)}
            >
              <option value="">Any machine</option>
              {(machines ?? []).map((name) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
              {values.machine !== "" && !(machines ?? []).includes(values.machine) && (
                <option value={values.machine}>{values.machine} (not connected)</option>
              )}
            </select>
          </Field>
        )}
        <fieldset class="field">
          <legend class="field-label">Agent</legend>
          <div class="segmented" role="radiogroup">
            {AGENT_OPTIONS.map((a) => (
              <label key={a} class={values.agent === a ? "selected" : ""}>
                <input
                  type="radio"
                  name="agent"
                  value={a}
                  checked={values.agent === a}
                  onChange={() => set("agent", a as AgentKind)}
                />
                {AGENT_LABELS[a]}
              </label>
            ))}
          </div>
        </fieldset>
        <Field
          label={instr === "prompt" ? "Prompt" : "Script"}
          id={controlId(instr)}
          error={errors[instr]}
          hint={
            instr === "prompt"
              ? "What the agent should do. Be specific: files, behaviour, how to check it."
              : "Runs with bash in the repository's root. The task fails if it exits non-zero."
          }
        >
          <textarea
            {...input(instr)}
            name={instr}
            rows={instr === "prompt" ? 6 : 8}
            class={instr === "script" ? "mono" : ""}
            spellcheck={instr === "prompt"}
            placeholder={instr === "prompt" ? "Fix the failing test in src/parser.ts" : "npm ci && npm test"}
            value={values.instructions}
            onInput={(e) => set("instructions", e.currentTarget.value)}
          />
        </Field>
        <details
          class="advanced"
          open={Boolean(errors.setup || errors["network.allow"] || errors.timeoutSec)}
        >
          <summary>Advanced: setup, network, timeout</summary>
          <Field
            label="Setup command"
            id={controlId("setup")}
            error={errors.setup}
            hint="Runs once after the clone, before the agent (e.g. installing dependencies)."
          >
            <textarea
              {...input("setup")}
              name="setup"
              rows={2}
              class="mono"
              spellcheck={false}
              placeholder="npm ci"
              value={values.setup}
              onInput={(e) => set("setup", e.currentTarget.value)}
            />
          </Field>
          <div class="row-2">
            <Field label="Network" id={controlId("network.mode")} error={errors["network.mode"]}>
              <select
                {...input("network.mode")}
                name="network.mode"
                value={values.networkMode}
                onChange={(e) => set("networkMode", e.currentTarget.value as NetworkMode)}
              >
                {NETWORK_OPTIONS.map((m) => (
                  <option key={m} value={m}>
                    {NETWORK_LABELS[m]}
                  </option>
                ))}
              </select>
            </Field>
            <Field
              label="Timeout (seconds)"
              id={controlId("timeoutSec")}
              error={errors.timeoutSec}
              hint="Empty: 1800."
            >
              <input
                {...input("timeoutSec")}
                name="timeoutSec"
                type="text"
                inputMode="numeric"
                placeholder="1800"
                value={values.timeoutSec}
                onInput={(e) => set("timeoutSec", e.currentTarget.value)}
              />
            </Field>
          </div>
          {values.networkMode === "allowlist" && (
            <Field
              label="Allowed domains"
              id={controlId("network.allow")}
              error={errors["network.allow"]}
              hint="Separated by commas or spaces; *.example.com includes subdomains."
            >
              <input
                {...input("network.allow")}
                name="network.allow"
                type="text"
                autocomplete="off"
                spellcheck={false}
                placeholder="github.com, registry.npmjs.org"
                value={values.allow}
                onInput={(e) => set("allow", e.currentTarget.value)}
              />
            </Field>
          )}
        </details>
        {errors[""] && (
          <p class="banner banner-bad" role="alert">
            {errors[""]}
          </p>
        )}
        <CostEstimate task={estimateTask} />
        {failure && (
          <p class="banner banner-bad" role="alert" data-testid="start-failure">
            {failure.credits ? (
              <>
                <strong>Not enough credits: the task was not started.</strong>{" "}
                <a href={routeHref({ page: "settings" })}>Credits and budgets</a>
                <span class="small start-failure-detail">{failure.message}</span>
              </>
            ) : (
              <>Could not start the task: {failure.message}</>
            )}
          </p>
        )}
        <div class="form-actions">
          <button class="button primary" type="submit" disabled={busy}>
            {busy ? "Starting…" : "Start task"}
          </button>
        </div>
      </form>
    </section>
  );
}
