import { useEffect, useState } from "preact/hooks";
import { ApiError, api, setUnauthorizedHandler } from "../api.ts";
import { parseRoute, type Route, tokenFromHash } from "../routes.ts";
import { AppHeader } from "./app-header.tsx";
import { LoginView } from "./login-view.tsx";
import { MachinesPage } from "./machines-page.tsx";
import { NewTaskForm } from "./new-task-form.tsx";
import { SettingsPage } from "./settings-page.tsx";
import { TaskList } from "./task-list.tsx";
import { TaskView } from "./task-view.tsx";

type Auth = { state: "checking" } | { state: "login"; error?: string } | { state: "ready" };

/** Removes `#token=…` from the address bar (and history) once it has been used. */
function stripTokenFromUrl(): void {
  history.replaceState(null, "", `${location.pathname}${location.search}#/`);
}

/** The app: logs in (from `#token=…` or the form), then shows the page the hash route names. */
export function App() {
  const [auth, setAuth] = useState<Auth>({ state: "checking" });
  const [route, setRoute] = useState<Route>(() => parseRoute(location.hash));

  useEffect(() => {
    // A `#token=…` link logs in, whether it opened the app or was pasted into an open tab.
    const loginFromHash = async (): Promise<boolean> => {
      const token = tokenFromHash(location.hash);
      if (token === undefined) return false;
      stripTokenFromUrl();
      setRoute({ page: "list" });
      setAuth({ state: "checking" });
      try {
        await api.login(token);
        setAuth({ state: "ready" });
      } catch (e) {
        setAuth({ state: "login", error: e instanceof Error ? e.message : String(e) });
      }
      return true;
    };
    const onHash = () => {
      void loginFromHash().then((used) => used || setRoute(parseRoute(location.hash)));
    };
    window.addEventListener("hashchange", onHash);
    setUnauthorizedHandler(() => setAuth({ state: "login", error: "Your session ended. Log in again." }));
    void (async () => {
      if (await loginFromHash()) return;
      try {
        await api.me();
        setAuth({ state: "ready" });
      } catch (e) {
        const expected = e instanceof ApiError && e.status === 401;
        setAuth({ state: "login", error: expected ? undefined : (e as Error).message });
      }
    })();
    return () => {
      window.removeEventListener("hashchange", onHash);
      setUnauthorizedHandler(undefined);
    };
  }, []);

  if (auth.state === "checking") return <div class="splash" aria-busy="true" />;
  if (auth.state === "login")
    return <LoginView error={auth.error} onLoggedIn={() => setAuth({ state: "ready" })} />;
  return (
    <div class="shell">
      <AppHeader route={route} />
      <main class="page">
        {route.page === "list" && <TaskList />}
        {route.page === "new" && <NewTaskForm />}
        {route.page === "task" && <TaskView key={route.id} id={route.id} />}
        {route.page === "machines" && <MachinesPage />}
        {route.page === "settings" && <SettingsPage />}
      </main>
    </div>
  );
}
