import { type Route, routeHref } from "../routes.ts";
import { ContainerBadge } from "./container-badge.tsx";

const NAV: ReadonlyArray<{ page: "list" | "machines" | "settings"; label: string }> = [
  { page: "list", label: "Tasks" },
  { page: "machines", label: "My machines" },
  { page: "settings", label: "Settings" },
];

/** The top bar: product name (home), the pages, the container's state, and the way to start a task. */
export function AppHeader({ route }: { route?: Route }) {
  const current = route?.page === "task" || route?.page === "new" ? "list" : route?.page;
  return (
    <header class="topbar">
      <a class="brand" href={routeHref({ page: "list" })}>
        <img src="/favicon.svg" alt="" width={24} height={24} />
        <span>
          OpenAgents <span class="brand-sub">Compute</span>
        </span>
      </a>
      <nav class="topnav" aria-label="Pages">
        {NAV.map((n) => (
          <a
            key={n.page}
            href={routeHref({ page: n.page })}
            aria-current={current === n.page ? "page" : undefined}
          >
            {n.label}
          </a>
        ))}
      </nav>
      <div class="topbar-right">
        <ContainerBadge />
        <a class="button primary" href={routeHref({ page: "new" })}>
          New task
        </a>
      </div>
    </header>
  );
}
