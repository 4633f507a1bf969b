/** The app's pages. Hash routes, so the edge can serve `index.html` for `/` alone. */
export type Route =
  | { page: "list" }
  | { page: "new" }
  | { page: "task"; id: string }
  | { page: "machines" }
  | { page: "settings" };

const TASK_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * Reads a location hash (`#/tasks/t_1`). A `#token=…` hash is not a route: see `tokenFromHash`.
 *
 * @example
 * parseRoute("#/tasks/t_abc"); // { page: "task", id: "t_abc" }
 */
export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, "").split("?")[0] ?? "";
  if (path === "/new") return { page: "new" };
  if (path === "/machines") return { page: "machines" };
  if (path === "/settings") return { page: "settings" };
  const m = /^\/tasks\/([^/]+)$/.exec(path);
  if (m) {
    const id = decodeURIComponent(m[1]!);
    if (TASK_ID.test(id)) return { page: "task", id };
  }
  return { page: "list" };
}

export function routeHref(route: Route): string {
  switch (route.page) {
    case "list":
      return "#/";
    case "new":
      return "#/new";
    case "task":
      return `#/tasks/${encodeURIComponent(route.id)}`;
    case "machines":
      return "#/machines";
    case "settings":
      return "#/settings";
  }
}

/**
 * The token in a `#token=…` hash (the link `openagents up` prints), or undefined. The caller logs in
 * with it and then removes it from the address bar, so it does not linger in history.
 *
 * @example
 * tokenFromHash("#token=oa_123"); // "oa_123"
 */
export function tokenFromHash(hash: string): string | undefined {
  const params = new URLSearchParams(hash.replace(/^#\/?/, ""));
  const token = params.get("token")?.trim();
  return token ? token : undefined;
}
