import { routeHref } from "../routes.ts";
import { ContainerBadge } from "./container-badge.tsx";

/** The top bar: product name (home), the container's state, and the way to start a task. */
export function AppHeader() {
  return (
    <header class="topbar">
      <a class="brand" href={routeHref({ page: "list" })}>
        <img src="/favicon.svg" alt="" width={24} height={24} />
        <span>
          OpenAgents <span class="brand-sub">Compute</span>
        </span>
      </a>
      <div class="topbar-right">
        <ContainerBadge />
        <a class="button primary" href={routeHref({ page: "new" })}>
          New task
        </a>
      </div>
    </header>
  );
}
