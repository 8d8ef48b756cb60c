// The task drawer: what happened to one task — its attempts, its state
// history, its pod's events and request, its log, the data it read and left —
// and what to do about it.
import { useEffect, useId, useState } from "react";

import { api } from "../common/api";
import { urls } from "./config";
import { TaskData } from "./DataViews";
import { DaemonInfo } from "./DaemonInfo";
import { JobShards } from "./JobShards";
import { LogView } from "./LogView";
import { statusLine } from "../graph/status";
import { compactItem, fullItem } from "./fanouts";
import { formatDuration, secondsBetween, taskHistory, TERMINAL_TASK } from "./state";
import type { ChildRun, RunEvent, Task } from "./types";
import { formatClock, formatTime, StatusBadge } from "./ui";

const TERMINAL_ATTEMPT = new Set(["Succeeded", "Failed", "Error", "Cancelled"]);

export type Tab = "logs" | "data" | "attempts" | "history" | "pod" | "request";
/** The tabs that show one attempt, with the attempt picker above them. */
const PER_ATTEMPT = new Set<Tab>(["logs", "data", "pod", "request"]);

interface PodEvent {
  type: string;
  reason: string;
  message: string;
  count: number;
  first_time: string | null;
  last_time: string | null;
  source: string;
}

export interface TaskDrawerProps {
  runId: number;
  task: Task;
  events: RunEvent[];
  now: number;
  loadHistory: () => Promise<RunEvent[]>;
  /** The open tab: kept by the page, so moving from task to task keeps it. */
  tab: Tab;
  onTab: (tab: Tab) => void;
  onClose: () => void;
  actions: { retryFromHere?: () => void; debug?: () => void };
  /** An instance of a fan-out: back to its fan-out's list of instances. */
  onBack?: () => void;
  /** A sub-workflow task: the runs it started, oldest first. */
  children?: ChildRun[];
}

/** Why the Logs tab has nothing: not started yet, or never will be. */
function noAttempt(task: Task): string {
  if (TERMINAL_TASK.has(task.status)) return `It did not run (${statusLine(task.status, task.reason)}): there is no log.`;
  return "No attempt yet: the log appears when the task starts.";
}

export function TaskDrawer({ runId, task, events, now, loadHistory, tab, onTab: setTab, onClose, actions, onBack, children = [] }: TaskDrawerProps) {
  const ids = useId();
  const latest = task.attempts.length ? task.attempts[task.attempts.length - 1].number : 0;
  const [attempt, setAttempt] = useState(latest);
  // Follow a new attempt (a retry) unless the user picked an older one.
  const [pinned, setPinned] = useState(false);
  useEffect(() => {
    if (!pinned) setAttempt(latest);
  }, [latest, pinned]);
  useEffect(() => {
    setPinned(false);
  }, [task.name]);
  const shown = task.attempts.find((a) => a.number === attempt);

  const tabs: [Tab, string][] = [
    ["logs", "Logs"],
    ["data", "Inputs / Outputs"],
    ["attempts", `Attempts (${task.attempts.length})`],
    ["history", "History"],
    ["pod", "Pod events"],
    ["request", "Request"],
  ];
  return (
    <aside className="fd-drawer" aria-label={`Task ${task.name}`} data-task={task.name}>
      {onBack && task.fan_group ? (
        <button type="button" className="link fd-back" onClick={onBack}>
          ← All instances of {task.fan_group}
        </button>
      ) : null}
      <div className="fd-drawer__head">
        <h2>
          {task.name} <StatusBadge status={task.status} />
        </h2>
        <button type="button" className="link" onClick={onClose} aria-label="Close the task">
          ✕
        </button>
      </div>
      <dl className="facts">
        {task.fan_group ? (
          <>
            <dt>Item</dt>
            <dd>
              <code title={fullItem(task.fan_item)} data-field="item">
                {compactItem(task.fan_item, 120)}
              </code>{" "}
              <span className="muted">(#{task.fan_index} of {task.fan_group})</span>
            </dd>
          </>
        ) : null}
        {task.workflow ? (
          <>
            <dt>Runs</dt>
            <dd>
              workflow <strong>{task.workflow.name}</strong>{" "}
              {task.workflow.version !== null ? `v${task.workflow.version}` : <span className="muted">(its latest version)</span>}
            </dd>
            <dt>{children.length > 1 ? "Child runs" : "Child run"}</dt>
            <dd data-testid="drawer-child-runs">
              {children.length === 0 ? <span className="muted">not started yet</span> : null}
              {children.map((child, index) => (
                <span key={child.id}>
                  {index ? " · " : null}
                  <a href={urls.page(child.id)}>run #{child.id}</a> <StatusBadge status={child.status} />
                </span>
              ))}
            </dd>
          </>
        ) : null}
        {task.exit_handler ? (
          <>
            <dt>Exit handler</dt>
            <dd>ran once every other task had ended, whatever the outcome; its failure does not change the run's status</dd>
          </>
        ) : null}
        <dt>Attempts</dt>
        <dd>{task.attempts_count}</dd>
        <dt>Duration</dt>
        <dd>{formatDuration(secondsBetween(task.started_at, task.finished_at, now))}</dd>
        {task.dependencies.length ? (
          <>
            <dt>Depends on</dt>
            <dd>{task.dependencies.join(", ")}</dd>
          </>
        ) : null}
        {(task.reason && task.reason !== task.status) || task.message ? (
          <>
            <dt>Why</dt>
            <dd className="pre-line" data-testid="task-why">
              {task.reason && task.reason !== task.status ? <strong>{task.reason}</strong> : null}
              {task.reason && task.reason !== task.status && task.message ? ": " : null}
              {task.message}
            </dd>
          </>
        ) : null}
      </dl>
      <div className="actions fd-drawer__actions">
        {actions.retryFromHere ? (
          <button type="button" onClick={actions.retryFromHere}>
            Retry from here
          </button>
        ) : null}
        {actions.debug ? (
          <button type="button" onClick={actions.debug}>
            Debug
          </button>
        ) : null}
      </div>
      <div className="fd-tabs" role="tablist">
        {tabs.map(([id, label]) => (
          <button
            key={id}
            type="button"
            role="tab"
            id={`${ids}-${id}`}
            aria-controls={`${ids}-panel`}
            aria-selected={tab === id}
            data-tab={id}
            className={tab === id ? "fd-tab fd-tab--on" : "fd-tab"}
            onClick={() => setTab(id)}
          >
            {label}
          </button>
        ))}
      </div>
      {task.attempts.length > 1 && PER_ATTEMPT.has(tab) ? (
        <label className="fd-attempt-pick">
          Attempt{" "}
          <select
            value={attempt}
            onChange={(event) => {
              setAttempt(Number(event.target.value));
              setPinned(true);
            }}
          >
            {task.attempts.map((a) => (
              <option key={a.number} value={a.number}>
                #{a.number} {a.status}
              </option>
            ))}
          </select>
        </label>
      ) : null}
      <div className="fd-drawer__body" role="tabpanel" id={`${ids}-panel`} aria-labelledby={`${ids}-${tab}`}>
        {tab === "logs" ? (
          task.workflow && attempt ? (
            <p className="muted">
              A sub-workflow has no log of its own: its tasks' logs are on{" "}
              {children.length ? <a href={urls.page(children[children.length - 1].id)}>run #{children[children.length - 1].id}</a> : "its run"}.
            </p>
          ) : attempt ? (
            <>
              <DaemonInfo runId={runId} task={task.name} attempt={attempt} status={shown?.status ?? ""} />
              <JobShards runId={runId} task={task.name} attempt={attempt} ended={TERMINAL_ATTEMPT.has(shown?.status ?? "")} />
              <LogView runId={runId} task={task.name} attempt={attempt} />
            </>
          ) : (
            <p className="muted">{noAttempt(task)}</p>
          )
        ) : null}
        {tab === "data" ? <TaskData runId={runId} task={task.name} attempt={attempt} status={shown?.status ?? ""} /> : null}
        {tab === "attempts" ? <Attempts task={task} now={now} /> : null}
        {tab === "history" ? <History name={task.name} live={events} load={loadHistory} /> : null}
        {tab === "pod" ? <PodEvents runId={runId} task={task.name} attempt={attempt} /> : null}
        {tab === "request" ? <Request runId={runId} task={task.name} attempt={attempt} /> : null}
      </div>
    </aside>
  );
}

function Attempts({ task, now }: { task: Task; now: number }) {
  if (!task.attempts.length) return <p className="muted">No attempt yet.</p>;
  return (
    <table className="table fd-attempts">
      <thead>
        <tr>
          <th>#</th>
          <th>Status</th>
          <th>Exit</th>
          <th>Reason</th>
          <th>Started</th>
          <th>Took</th>
          <th>Where</th>
        </tr>
      </thead>
      <tbody>
        {[...task.attempts].reverse().map((a) => (
          <tr key={a.number}>
            <td>{a.number}</td>
            <td>
              <StatusBadge status={a.status} />
            </td>
            <td>{a.exit_code ?? "—"}</td>
            <td>
              {a.reason && a.reason !== a.status ? <strong>{a.reason}</strong> : null}
              {a.reason && a.reason !== a.status && a.message ? ": " : null}
              <span className="pre-line">{a.message}</span>
            </td>
            <td className="nowrap">{formatTime(a.started_at ?? a.created_at)}</td>
            <td className="nowrap">{formatDuration(secondsBetween(a.started_at, a.finished_at, now))}</td>
            <td>
              {a.backend}
              {a.handle ? (
                <>
                  {" "}
                  <code>{a.handle}</code>
                </>
              ) : null}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function History({ name, live, load }: { name: string; live: RunEvent[]; load: () => Promise<RunEvent[]> }) {
  const [older, setOlder] = useState<RunEvent[] | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    load()
      .then(setOlder)
      .catch((failure) => setError(String(failure)));
  }, [load]);
  const rows = taskHistory([...(older ?? []), ...live], name);
  return (
    <>
      {older === null && !error ? <p className="muted">Loading the event log…</p> : null}
      {error ? <p className="fd-error">{error}</p> : null}
      <table className="table fd-history">
        <thead>
          <tr>
            <th>#</th>
            <th>Time</th>
            <th>What</th>
            <th>Change</th>
            <th>Message</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((event) => (
            <tr key={event.seq}>
              <td>{event.seq}</td>
              <td className="nowrap" title={event.created_at}>
                {formatClock(event.created_at)}
              </td>
              <td>
                {event.kind}
                {event.attempt ? ` #${event.attempt}` : ""}
              </td>
              <td className="nowrap">
                {event.previous && event.previous !== event.status ? `${event.previous} → ` : ""}
                {event.status}
              </td>
              <td className="pre-line">
                {typeof event.data?.reason === "string" && event.data.reason !== event.status ? (
                  <strong>{event.data.reason} </strong>
                ) : null}
                {typeof event.data?.exit_code === "number" ? `exit ${event.data.exit_code} ` : null}
                {event.message}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function PodEvents({ runId, task, attempt }: { runId: number; task: string; attempt: number }) {
  const [events, setEvents] = useState<PodEvent[] | null | undefined>(undefined);
  const [error, setError] = useState("");
  useEffect(() => {
    if (!attempt) return;
    setEvents(undefined);
    api<{ events: PodEvent[] | null }>(urls.podEvents(runId, task, attempt))
      .then((answer) => setEvents(answer.events))
      .catch((failure) => setError(String(failure)));
  }, [runId, task, attempt]);
  if (!attempt) return <p className="muted">No attempt yet.</p>;
  if (error) return <p className="fd-error">{error}</p>;
  if (events === undefined) return <p className="muted">Loading…</p>;
  if (events === null) return <p className="muted">This attempt has no pod (the local backend, or not launched yet).</p>;
  if (!events.length) return <p className="muted">Kubernetes has no events for this pod (it keeps them about an hour).</p>;
  return (
    <table className="table">
      <thead>
        <tr>
          <th>Type</th>
          <th>Reason</th>
          <th>Message</th>
          <th>Count</th>
          <th>Last seen</th>
        </tr>
      </thead>
      <tbody>
        {events.map((event, index) => (
          <tr key={index} className={event.type === "Warning" ? "fd-warning" : ""}>
            <td>{event.type}</td>
            <td>{event.reason}</td>
            <td className="pre-line">{event.message}</td>
            <td>{event.count}</td>
            <td className="nowrap">{formatTime(event.last_time ?? event.first_time)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

interface AttemptRequest {
  backend: string;
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  node: string | null;
  request: Record<string, unknown>;
  manifest: Record<string, unknown> | null;
}

/** What the attempt asked for: resources, node, and the Pod manifest (or, on
 * the local backend, the rendered task). Secret values come masked. */
function Request({ runId, task, attempt }: { runId: number; task: string; attempt: number }) {
  const [asked, setAsked] = useState<AttemptRequest | undefined>(undefined);
  const [error, setError] = useState("");
  useEffect(() => {
    if (!attempt) return;
    setAsked(undefined);
    setError("");
    api<AttemptRequest>(urls.request(runId, task, attempt))
      .then(setAsked)
      .catch((failure) => setError(String(failure)));
  }, [runId, task, attempt]);
  if (!attempt) return <p className="muted">No attempt yet.</p>;
  if (error) return <p className="fd-error">{error}</p>;
  if (asked === undefined) return <p className="muted">Loading…</p>;
  const rows: [string, string][] = [];
  for (const kind of ["requests", "limits"] as const) {
    for (const [name, value] of Object.entries(asked.resources[kind] ?? {})) rows.push([`${kind}.${name}`, value]);
  }
  return (
    <div className="fd-asked">
      <dl className="facts">
        <dt>Backend</dt>
        <dd>{asked.backend}</dd>
        <dt>Node</dt>
        <dd data-field="node">{asked.node ?? (asked.backend === "kubernetes" ? "not scheduled yet, or gone" : "this machine")}</dd>
        <dt>Resources</dt>
        <dd data-field="resources">{rows.length ? rows.map(([name, value]) => `${name}: ${value}`).join(", ") : "none asked"}</dd>
      </dl>
      <h3>{asked.manifest ? "Pod manifest" : "Rendered task"}</h3>
      <pre className="fd-request" data-field="manifest">
        {JSON.stringify(asked.manifest ?? asked.request, null, 2)}
      </pre>
    </div>
  );
}
