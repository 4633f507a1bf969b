import { useEffect, useRef } from "preact/hooks";

/**
 * Runs `fn` now and then every `ms` while the tab is visible (a hidden tab polls nothing, and catches
 * up as soon as it is shown again). `fn` may change between renders; the latest one runs.
 *
 * @example
 * usePoll(() => api.listTasks().then(setTasks), 4000);
 */
export function usePoll(fn: () => Promise<unknown> | undefined, ms: number, enabled = true): void {
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => {
    if (!enabled) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const tick = async () => {
      timer = undefined;
      if (document.visibilityState === "visible") {
        try {
          await latest.current();
        } catch {
          // The caller shows its own errors; polling goes on.
        }
      }
      if (!stopped) timer = setTimeout(tick, ms);
    };
    const onVisible = () => {
      if (document.visibilityState === "visible" && timer !== undefined) {
        clearTimeout(timer);
        void tick();
      }
    };
    void tick();
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, [ms, enabled]);
}
