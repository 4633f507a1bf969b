import { useState } from "preact/hooks";
import { api, type TaskSummary } from "../api.ts";
import { formatAgo } from "../format.ts";
import { routeHref } from "../routes.ts";
import { AGENT_LABELS } from "../task-form.ts";
import { usePoll } from "../use-poll.ts";
import { StatusPill } from "./status-pill.tsx";

const shortRepo = (repo: string) => repo.replace(/^https?:\/\/(www\.)?/, "").replace(/\.git$/, "");
const agentLabel = (agent: string) => (AGENT_LABELS as Record<string, string>)[agent] ?? agent;

/** Every task of the user, newest first, refreshed while the tab is visible. */
export function TaskList() {
  const [tasks, setTasks] = useState<TaskSummary[] | undefined>();
  const [error, setError] = useState<string | undefined>();

  usePoll(
    () =>
      api.listTasks().then(
        (list) => {
          setTasks([...list].sort((a, b) => b.createdAt.localeCompare(a.createdAt)));
          setError(undefined);
        },
        (e: Error) => setError(e.message),
      ),
    4000,
  );

  return (
    <section class="stack">
      <div class="page-head">
        <h1>Tasks</h1>
        {tasks && tasks.length > 0 && <span class="muted">{tasks.length} in all</span>}
      </div>
      {error && (
        <p class="banner banner-bad" role="alert">
          Could not load tasks: {error}
        </p>
      )}
      {tasks === undefined && !error && <p class="muted">Loading…</p>}
      {tasks?.length === 0 && (
        <div class="card empty">
          <h2>No tasks yet</h2>
          <p class="muted">
            Point a coding agent or a script at a git repository; watch it work here and take back a patch.
          </p>
          <a class="button primary" href={routeHref({ page: "new" })}>
            Start your first task
          </a>
        </div>
      )}
      {tasks && tasks.length > 0 && (
        <ul class="card task-list" data-testid="task-list">
          {tasks.map((t) => (
            <li key={t.id}>
              <a class="task-row" href={routeHref({ page: "task", id: t.id })}>
                <StatusPill status={t.status} />
                <span class="task-what">
                  <span class="task-repo" title={t.repo}>
                    {shortRepo(t.repo) || t.id}
                  </span>
                  {t.title && <span class="task-title-line">{t.title}</span>}
                </span>
                <span class="task-meta">
                  <span>{agentLabel(t.agent)}</span>
                  <span>{t.compute === "cloud" ? "Cloud" : t.compute}</span>
                  <time dateTime={t.createdAt} title={t.createdAt}>
                    {formatAgo(t.createdAt)}
                  </time>
                </span>
              </a>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
