import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, api, type TaskRecord, taskSocketUrl } from "../api.ts";
import { routeHref } from "../routes.ts";
import { RunState } from "../run-state.ts";
import { type SocketState, TaskSocket } from "../task-socket.ts";
import { DiffView } from "./diff-view.tsx";
import { FollowUpBox } from "./follow-up-box.tsx";
import { LogView } from "./log-view.tsx";
import { PhaseSteps } from "./phase-steps.tsx";
import { ResultCard } from "./result-card.tsx";
import { StatusPill } from "./status-pill.tsx";
import { TaskDetails } from "./task-details.tsx";
import { Timeline } from "./timeline.tsx";
import { UsageCard } from "./usage-card.tsx";

const ENDED = ["succeeded", "failed", "cancelled"];

const CONNECTION_TEXT: Record<SocketState, string> = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  ended: "",
  stopped: "",
};

/** One task, live: phases, activity, logs, usage, result and patch, cancel and follow-up. */
export function TaskView({ id }: { id: string }) {
  const run = useRef(new RunState()).current;
  const socket = useRef<TaskSocket>();
  const [, setVersion] = useState(0);
  const [record, setRecord] = useState<TaskRecord | undefined>();
  const [loadError, setLoadError] = useState<ApiError | Error | undefined>();
  const [conn, setConn] = useState<{ state: SocketState; delayMs?: number }>({ state: "connecting" });
  const [cancelling, setCancelling] = useState(false);
  const [actionError, setActionError] = useState<string | undefined>();

  useEffect(() => {
    api.getTask(id).then(setRecord, setLoadError);
    // Renders are batched per animation frame: a burst of thousands of events costs one render.
    let frame = 0;
    const sock = new TaskSocket({
      url: (after) => taskSocketUrl(location, id, after),
      run,
      onEvents: () => {
        frame ||= requestAnimationFrame(() => {
          frame = 0;
          setVersion(run.version);
        });
      },
      onState: (state, detail) => setConn({ state, delayMs: detail?.delayMs }),
    });
    socket.current = sock;
    sock.start();
    const wake = () => document.visibilityState === "visible" && sock.retryNow();
    window.addEventListener("online", wake);
    document.addEventListener("visibilitychange", wake);
    return () => {
      cancelAnimationFrame(frame);
      sock.stop();
      window.removeEventListener("online", wake);
      document.removeEventListener("visibilitychange", wake);
    };
  }, [id, run]);

  // The record's status lags the stream; read it again when a turn ends.
  useEffect(() => {
    if (run.ended) api.getTask(id).then(setRecord, () => {});
  }, [id, run.ended]);

  if (loadError instanceof ApiError && loadError.status === 404) {
    return (
      <section class="card empty">
        <h2>No such task</h2>
        <p class="muted">There is no task {id} in your account.</p>
        <a class="button" href={routeHref({ page: "list" })}>
          Back to tasks
        </a>
      </section>
    );
  }

  // While a finished task's events replay, the record already knows how it ended.
  const replaying =
    record?.lastSeq !== undefined ? run.lastSeq < record.lastSeq : run.turns === 0 && !run.ended;
  const recordEnded = record !== undefined && ENDED.includes(record.status) && replaying;
  const status = run.outcome ?? (recordEnded ? record.status : (run.phase ?? record?.status ?? "loading"));
  const running = !run.ended && !recordEnded && (run.lastSeq > 0 || record?.status === "running");
  const cancel = async () => {
    setCancelling(true);
    setActionError(undefined);
    try {
      await api.cancelTask(id);
    } catch (e) {
      setActionError(e instanceof Error ? e.message : String(e));
    } finally {
      setCancelling(false);
    }
  };
  const lastError = run.errors[run.errors.length - 1];
  const agent = record?.task?.agent ?? record?.agent;

  return (
    <div class="task-page">
      <div class="task-head">
        <a class="back" href={routeHref({ page: "list" })}>
          ← Tasks
        </a>
        <div class="task-title">
          <h1 title={record?.repo}>{record?.repo.replace(/^https?:\/\//, "") || id}</h1>
          <StatusPill status={status} />
          {CONNECTION_TEXT[conn.state] && !run.ended && !recordEnded && (
            <span class={`conn conn-${conn.state}`} data-testid="connection">
              {CONNECTION_TEXT[conn.state]}
              {conn.state === "reconnecting" && conn.delayMs !== undefined && conn.delayMs >= 1000
                ? ` (in ${Math.round(conn.delayMs / 1000)} s)`
                : ""}
            </span>
          )}
        </div>
        {running && (
          <button type="button" class="button danger" onClick={cancel} disabled={cancelling}>
            {cancelling ? "Cancelling…" : "Cancel task"}
          </button>
        )}
      </div>
      {loadError && !(loadError instanceof ApiError && loadError.status === 404) && (
        <p class="banner banner-bad" role="alert">
          Could not load the task: {loadError.message}
        </p>
      )}
      {actionError && (
        <p class="banner banner-bad" role="alert">
          {actionError}
        </p>
      )}
      {run.warnings.map((w) => (
        <p key={w} class="banner banner-warn" role="alert">
          <strong>Warning:</strong> {w}
        </p>
      ))}
      <PhaseSteps current={run.phase} seen={run.phasesSeen} outcome={run.outcome} />
      <div class="task-grid">
        <div class="task-main">
          <section class="card slot-activity">
            <div class="card-head">
              <h2>Activity</h2>
            </div>
            <Timeline items={run.timeline} version={run.version} />
          </section>
          {run.result && run.result.patch !== "" && (
            <div class="slot-changes">
              <DiffView patch={run.result.patch} taskId={id} />
            </div>
          )}
          <section class="card slot-log">
            <div class="card-head">
              <h2>Log</h2>
            </div>
            <LogView logs={run.logs} version={run.version} />
          </section>
          {agent !== undefined && agent !== "shell" && (
            <div class="slot-follow-up">
              <FollowUpBox taskId={id} ready={run.ended} onSent={() => socket.current?.resume()} />
            </div>
          )}
        </div>
        <aside class="task-side">
          {run.result && run.ended && (
            <div class="slot-result">
              <ResultCard result={run.result} outcome={run.outcome} error={lastError} />
            </div>
          )}
          {run.usage.reports > 0 && (
            <div class="slot-usage">
              <UsageCard usage={run.usage} />
            </div>
          )}
          {record && (
            <div class="slot-details">
              <TaskDetails record={record} />
            </div>
          )}
        </aside>
      </div>
    </div>
  );
}
