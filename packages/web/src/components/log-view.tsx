import { useLayoutEffect, useRef, useState } from "preact/hooks";
import type { LogBuffer } from "../log-buffer.ts";

/** Must match `.log-line` height in styles.css: the view places lines by arithmetic, not by measuring. */
export const LOG_ROW_PX = 18;
const OVERSCAN = 20;

interface Props {
  logs: LogBuffer;
  /** Changes whenever lines were appended (the buffer itself is mutated in place). */
  version: number;
}

/**
 * The task's log, virtualised: only the lines in view (plus a margin) are in the DOM, so 50,000
 * lines cost the same as 50. It sticks to the bottom while the user has not scrolled up.
 */
export function LogView({ logs, version }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(320);
  const follow = useRef(true);

  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    setHeight(el.clientHeight);
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  // New lines: keep the tail in view if the user was following it.
  useLayoutEffect(() => {
    const el = box.current;
    if (el && follow.current) {
      el.scrollTop = el.scrollHeight;
      setScrollTop(el.scrollTop);
    }
  }, [version]);

  const onScroll = () => {
    const el = box.current!;
    follow.current = el.scrollTop + el.clientHeight >= el.scrollHeight - LOG_ROW_PX * 2;
    setScrollTop(el.scrollTop);
  };

  const total = logs.length;
  const first = Math.max(0, Math.floor(scrollTop / LOG_ROW_PX) - OVERSCAN);
  const last = Math.min(total, Math.ceil((scrollTop + height) / LOG_ROW_PX) + OVERSCAN);
  const rows = [];
  for (let i = first; i < last; i++) {
    const line = logs.at(i)!;
    rows.push(
      <div class={`log-line log-${line.stream}`} style={{ top: `${i * LOG_ROW_PX}px` }} key={i}>
        {line.text || " "}
      </div>,
    );
  }

  return (
    <div class="log-wrap">
      {logs.dropped > 0 && (
        <div class="log-note">
          {logs.dropped.toLocaleString()} earlier lines are not kept in this view ({total.toLocaleString()}{" "}
          shown).
        </div>
      )}
      <div
        class="log-box"
        ref={box}
        onScroll={onScroll}
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must take focus so the keyboard can scroll it.
        tabIndex={0}
        role="log"
        // Short logs take the room they need; long ones stop at the CSS max-height and scroll.
        style={{ height: `${Math.max(3, total) * LOG_ROW_PX + 12}px` }}
        aria-label="Task log"
        data-testid="log"
      >
        {total === 0 ? (
          <div class="log-empty">No output yet.</div>
        ) : (
          <div class="log-canvas" style={{ height: `${total * LOG_ROW_PX}px` }}>
            {rows}
          </div>
        )}
      </div>
      <div class="log-foot muted" data-testid="log-count">
        {(total + logs.dropped).toLocaleString()} lines
        {!follow.current && total > 0 && (
          <button
            type="button"
            class="link"
            onClick={() => {
              follow.current = true;
              const el = box.current!;
              el.scrollTop = el.scrollHeight;
            }}
          >
            Jump to latest
          </button>
        )}
      </div>
    </div>
  );
}
