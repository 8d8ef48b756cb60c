// Small pieces the run page and its drawer share: badges, a modal, a clock.
import { type ReactNode, useEffect, useState } from "react";

import { STATUS_MEANINGS, statusColour, TASK_STATUSES } from "../graph/status";
import { StatusIcon } from "../graph/StatusIcon";
import type { Connection } from "./socket";

export function StatusBadge({ status }: { status: string }) {
  return (
    <span className={`badge status-${status.toLowerCase()}`} data-status={status}>
      {status}
    </span>
  );
}

export function StatusDot({ status }: { status: string }) {
  return <span className="fd-dot" style={{ background: statusColour(status) }} aria-hidden="true" />;
}

/** What the graph's colours and icons mean; the states this run has are
 * shown fully, the others faded. */
export function Legend({ present }: { present: ReadonlySet<string> }) {
  return (
    <ul className="fd-legend" aria-label="Task states" data-testid="legend">
      {TASK_STATUSES.map((status) => (
        <li key={status} className={present.has(status) ? undefined : "fd-legend--absent"} title={STATUS_MEANINGS[status]} data-status={status}>
          <span
            className={`fd-legend__swatch${status === "Skipped" ? " fd-legend__swatch--skipped" : ""}${status === "Expanded" ? " fd-legend__swatch--stack" : ""}`}
            style={{ background: statusColour(status) }}
            aria-hidden="true"
          />
          <StatusIcon status={status} size={11} />
          {status}
        </li>
      ))}
    </ul>
  );
}

const CONNECTION_TEXT: Record<Connection, string> = {
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
  closed: "offline",
  refused: "not live",
};

export function LiveIndicator({ status, detail }: { status: Connection; detail?: string }) {
  return (
    <span className={`fd-live fd-live--${status}`} data-connection={status} title={detail || CONNECTION_TEXT[status]}>
      <span className="fd-live__dot" aria-hidden="true" />
      {CONNECTION_TEXT[status]}
    </span>
  );
}

export function Modal({ title, onClose, children }: { title: string; onClose: () => void; children: ReactNode }) {
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => event.key === "Escape" && onClose();
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);
  return (
    <div className="fd-modal" role="presentation" onMouseDown={(event) => event.target === event.currentTarget && onClose()}>
      <div className="fd-modal__box" role="dialog" aria-modal="true" aria-label={title}>
        <div className="fd-modal__head">
          <h2>{title}</h2>
          <button type="button" className="link" onClick={onClose} aria-label="Close">
            ✕
          </button>
        </div>
        {children}
      </div>
    </div>
  );
}

/** The current time in ms, updated every `ms` while `running`: durations tick without asking the server. */
export function useNow(running: boolean, ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!running) {
      setNow(Date.now());
      return;
    }
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [running, ms]);
  return now;
}

export function formatTime(value: string | null): string {
  if (!value) return "—";
  const date = new Date(value);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(
    date.getMinutes(),
  )}:${pad(date.getSeconds())}`;
}

/** The time of day only, for tables of one run's moments. */
export function formatClock(value: string | null): string {
  return formatTime(value).slice(11) || "—";
}

export function showValue(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}
