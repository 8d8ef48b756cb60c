// The live run page: header, DAG, timeline and task drawer, kept current by
// the run's websocket (a snapshot from the page, then events by seq).
import { memo, useCallback, useEffect, useMemo, useRef, useState } from "react";

import { api } from "../common/api";
import { DagView } from "../graph/DagView";
import type { Direction } from "../graph/layout";
import { collapseFanOuts, FAN_OUT_THRESHOLD, GROUP_PREFIX, summarizeCounts } from "./collapse";
import { can, type RunPageConfig, urls } from "./config";
import { RunOutputsView } from "./DataViews";
import { CancelDialog, DebugDialog, ResubmitDialog, RetryDialog, type RetryResponse } from "./dialogs";
import { FanOutPanel } from "./FanOutPanel";
import { findTasks } from "./find";
import { type InstanceFilter, splitFanOuts } from "./fanouts";
import { type Connection, LiveSocket, wsUrl } from "./socket";
import { childRunsByTask, childrenStale, decorateNodes } from "./subruns";
import {
  applyEvents,
  formatDuration,
  fromSnapshot,
  isLive,
  groupsMissingItems,
  itemsMissing,
  type LiveRun,
  mergeItems,
  replaceSnapshot,
  secondsBetween,
  TERMINAL_ATTEMPT,
  TERMINAL_RUN,
  UNSUCCESSFUL_TASK,
} from "./state";
import { type Tab, TaskDrawer } from "./TaskDrawer";
import { latestRoundStart } from "./gantt";
import { Timeline } from "./Timeline";
import type { Run, RunEvent, RunMessage, Task } from "./types";
import { formatTime, Legend, LiveIndicator, showValue, StatusBadge, useNow } from "./ui";

// The clock ticks every second; the graph only changes with the run.
const Dag = memo(DagView);

type Dialog =
  | { kind: "retry"; task?: string }
  | { kind: "cancel" }
  | { kind: "resubmit" }
  | { kind: "debug"; task: string }
  | null;

/** Every instance of these fan-outs, page after page of the run's task list. */
async function readInstances(runId: number, groups: readonly string[]): Promise<Task[]> {
  const found: Task[] = [];
  for (const group of groups) {
    let next: string | null = urls.instances(runId, group);
    while (next) {
      const page: { tasks: Task[]; next: string | null } = await api(next);
      found.push(...page.tasks);
      next = page.next;
    }
  }
  return found;
}

export function RunApp({ config }: { config: RunPageConfig }) {
  const runId = config.run.id;
  const stateRef = useRef<LiveRun>(fromSnapshot(config.run));
  const [live, setLive] = useState<LiveRun>(stateRef.current);
  const [connection, setConnection] = useState<Connection>("connecting");
  const [connectionDetail, setConnectionDetail] = useState("");
  // A link to a task of the run (`#task-etl`, from a child run's header) opens it.
  const [selected, setSelected] = useState<string | null>(() => taskFromHash(config.run));
  const selectedRef = useRef(selected);
  selectedRef.current = selected;
  const [tab, setTab] = useState<Tab>("logs");
  const [expanded, setExpanded] = useState<Set<string>>(() => new Set());
  const [query, setQuery] = useState("");
  const [direction, setDirection] = useState<Direction>("LR");
  const [dialog, setDialog] = useState<Dialog>(null);
  // The instance list of the open fan-out: its filter and page, kept while
  // one of its instances is open, so going back finds the list as it was.
  const [instanceFilter, setInstanceFilter] = useState<InstanceFilter>("all");
  const [instancePage, setInstancePage] = useState(0);
  // `whileRunning`: a notice about what the run is doing (retrying), which
  // ends when the run does.
  const [notice, setNotice] = useState<{ kind: "error" | "info"; text: string; whileRunning?: boolean } | null>(null);
  const socketRef = useRef<LiveSocket | null>(null);
  const run = live.run;

  const commit = useCallback((next: LiveRun) => {
    stateRef.current = next;
    setLive(next);
  }, []);

  /**
   * A fresher run from a REST answer (retry, cancel). The API's run has a
   * summary, not its tasks (GET /api/runs/{id}/tasks/ pages them): the
   * events that brought it there arrive on the websocket, so only a run that
   * still carries its tasks can replace ours.
   */
  const adopt = useCallback(
    (fresh: Run) => {
      if (!Array.isArray(fresh.tasks)) return;
      if (fresh.last_seq > stateRef.current.seq) commit(replaceSnapshot(stateRef.current, fresh, fresh.last_seq));
    },
    [commit],
  );

  useEffect(() => {
    const socket = new LiveSocket({
      url: (since) => wsUrl(urls.wsRun(runId), { since }),
      since: () => stateRef.current.seq,
      onMessage: (raw) => {
        const message = raw as RunMessage | { type: "error"; message: string };
        if (message.type === "snapshot") {
          // The page has every task (its HTML carries them); a bounded
          // snapshot of a big run lists only some and cannot replace them.
          if (message.run.tasks_complete === false) return;
          if (message.seq >= stateRef.current.seq) commit(replaceSnapshot(stateRef.current, message.run, message.seq));
        } else if (message.type === "events") {
          const result = applyEvents(stateRef.current, message.events);
          if (result.applied) commit(result.state);
          if (result.gap) socket.resync();
        } else if (message.type === "error") {
          setConnectionDetail(message.message);
        }
      },
      onStatus: (status, detail) => {
        setConnection(status);
        if (detail) setConnectionDetail((old) => old || detail);
      },
    });
    socketRef.current = socket;
    socket.start();
    return () => socket.stop();
  }, [runId, commit]);

  // The run's outputs are computed as it succeeds and are not in its events:
  // read the run once more when it turns Succeeded while the page is open
  // (once per success: a retried run that succeeds again is read again).
  const outputsRead = useRef(run.status === "Succeeded" ? run.finished_at : null);
  useEffect(() => {
    if (run.status !== "Succeeded" || outputsRead.current === run.finished_at) return;
    outputsRead.current = run.finished_at;
    api<Run>(urls.apiRun(runId))
      .then((fresh) => {
        const current = stateRef.current;
        commit({ ...current, run: { ...current.run, outputs: fresh.outputs } });
      })
      .catch((failure) => setNotice({ kind: "error", text: `Could not read the run's outputs: ${String(failure)}` }));
  }, [run.status, run.finished_at, runId, commit]);

  // Instances made while the page is open come from their fan-out's event,
  // which carries no items: read those fan-outs' instances from the task list
  // (at most once a second, and only while some are missing).
  const missing = itemsMissing(run);
  const itemsRead = useRef(0);
  // Reads that brought no item (the server should always have them): three
  // in a row and the page stops asking, until none is missing any more.
  const fruitless = useRef(0);
  useEffect(() => {
    if (!missing) fruitless.current = 0;
    if (!missing || fruitless.current >= 3) return;
    const wait = Math.max(0, itemsRead.current + 1000 - Date.now());
    const timer = setTimeout(() => {
      itemsRead.current = Date.now();
      readInstances(runId, groupsMissingItems(stateRef.current.run))
        .then((fresh) => {
          const merged = mergeItems(stateRef.current, fresh);
          fruitless.current = merged === stateRef.current ? fruitless.current + 1 : 0;
          commit(merged);
        })
        .catch((failure) => setNotice({ kind: "error", text: `Could not read the instances' items: ${String(failure)}` }));
    }, wait);
    return () => clearTimeout(timer);
  }, [missing, live.seq, runId, commit]);

  // A sub-workflow task's child run is not in the events: when a task starts
  // one the page does not know of, or ends before its child reads as ended,
  // read the run again for its `children` (at most once a second; three
  // reads that bring nothing new and it stops).
  const wantChildren = childrenStale(run);
  const childrenRead = useRef(0);
  const childrenFruitless = useRef(0);
  useEffect(() => {
    if (!wantChildren) childrenFruitless.current = 0;
    if (!wantChildren || childrenFruitless.current >= 3) return;
    const wait = Math.max(0, childrenRead.current + 1000 - Date.now());
    const timer = setTimeout(() => {
      childrenRead.current = Date.now();
      api<Run>(urls.apiRun(runId))
        .then((fresh) => {
          const current = stateRef.current;
          const same = JSON.stringify(fresh.children ?? []) === JSON.stringify(current.run.children ?? []);
          childrenFruitless.current = same ? childrenFruitless.current + 1 : 0;
          commit({ ...current, run: { ...current.run, children: fresh.children } });
        })
        .catch((failure) => setNotice({ kind: "error", text: `Could not read the sub-workflows' runs: ${String(failure)}` }));
    }, wait);
    return () => clearTimeout(timer);
  }, [wantChildren, live.seq, runId, commit]);

  useEffect(() => {
    // The server-rendered page underneath is for browsers without JavaScript.
    document.getElementById("run-fallback")?.setAttribute("hidden", "");
  }, []);

  const ticking = isLive(run) || run.tasks.some((task) => task.attempts.some((a) => !TERMINAL_ATTEMPT.has(a.status)));
  const now = useNow(ticking);

  const split = useMemo(() => splitFanOuts(run.tasks), [run.tasks]);
  const graph = useMemo(
    () => collapseFanOuts(split.tasks, expanded, FAN_OUT_THRESHOLD, split.fanOuts),
    [split, expanded],
  );
  // A sub-workflow task links to its child run; exit handlers go in their lane.
  const nodes = useMemo(() => decorateNodes(graph.tasks, run, urls.page), [graph.tasks, run]);
  const children = useMemo(() => childRunsByTask(run), [run]);
  const selectedFan = selected ? split.fanOuts.get(selected) : undefined;
  const selectedTask = selected && !selectedFan ? run.tasks[live.index.get(selected) ?? -1] : undefined;

  // The whole event log over REST, once, for the drawer's history (live events add to it).
  const historyRef = useRef<Promise<RunEvent[]> | null>(null);
  const loadHistory = useCallback(() => {
    historyRef.current ??= (async () => {
      const all: RunEvent[] = [];
      let since = 0;
      for (let page = 0; page < 50; page++) {
        const answer = await api<{ events: RunEvent[]; next_since: number | null }>(urls.events(runId, since));
        all.push(...answer.events);
        if (answer.next_since === null) break;
        since = answer.next_since;
      }
      return all;
    })();
    return historyRef.current;
  }, [runId]);

  const finished = TERMINAL_RUN.has(run.status);
  useEffect(() => {
    if (finished) setNotice((current) => (current?.whileRunning ? null : current));
  }, [finished]);
  const retryable = finished && run.tasks.some((task) => UNSUCCESSFUL_TASK.has(task.status));
  const cancellable = !finished && run.status !== "Cancelling";

  const onSelect = useCallback((id: string) => {
    if (id.startsWith(GROUP_PREFIX)) {
      setExpanded((old) => new Set(old).add(id));
      return;
    }
    // Another fan-out's list starts afresh; its own instances and back keep it.
    const old = selectedRef.current;
    const family = (a: string, b: string) => a === b || a.startsWith(`${b}[`) || b.startsWith(`${a}[`);
    if (old === null || !family(old, id)) {
      setInstanceFilter("all");
      setInstancePage(0);
    }
    setSelected(id);
  }, []);

  const retried = (answer: RetryResponse) => {
    setDialog(null);
    adopt(answer.run);
    setNotice({ kind: "info", whileRunning: true, text: `Retrying ${answer.rerun.length} task${answer.rerun.length === 1 ? "" : "s"}: ${answer.rerun.slice(0, 10).join(", ")}${answer.rerun.length > 10 ? " …" : ""}`,
    });
  };

  // The canvas is as tall as the graph drawn at most at full size needs
  // (within bounds): a small DAG does not float in a big empty box.
  const canvasBox = useRef<HTMLDivElement>(null);
  const [extent, setExtent] = useState<{ width: number; height: number } | null>(null);
  const { canvasHeight, overview } = useMemo(() => {
    if (!extent) return { canvasHeight: null, overview: true };
    const width = canvasBox.current?.clientWidth ?? 900;
    const zoom = Math.min(1, (width - 80) / Math.max(extent.width, 1));
    const height = Math.round(Math.min(540, Math.max(260, extent.height * zoom + 140)));
    // The minimap is for a graph drawn smaller than full size: over one
    // that fits it only hides nodes.
    const fits = zoom >= 1 && extent.height + 80 <= height;
    // A graph that does not fit keeps the full box, the minimap clear of it.
    return { canvasHeight: fits ? height : 540, overview: !fits };
  }, [extent]);
  const duration = secondsBetween(run.started_at, run.finished_at, now);
  // After a retry, the run's own duration runs from its first start; the
  // latest round's is what the retry took.
  const roundStart = useMemo(() => latestRoundStart(run.tasks), [run.tasks]);
  const roundDuration =
    roundStart === null ? null : Math.max(0, ((run.finished_at ? Date.parse(run.finished_at) : now) - roundStart) / 1000);
  const counts = useMemo(() => {
    const out: Record<string, number> = {};
    for (const task of split.tasks) out[task.status] = (out[task.status] ?? 0) + 1;
    return out;
  }, [split]);
  const present = useMemo(() => new Set(run.tasks.map((task) => task.status)), [run.tasks]);
  const found = useMemo(() => findTasks(run.tasks, query), [run.tasks, query]);
  const openFound = (name: string) => {
    onSelect(name);
    setQuery("");
  };

  return (
    <div className="fd-run" data-run={runId} data-run-status={run.status}>
      <div className="heading">
        <div>
          <h1>
            Run #{run.id} of <a href={config.urls.workflow}>{run.workflow.name}</a> <StatusBadge status={run.status} />{" "}
            <LiveIndicator status={connection} detail={connectionDetail} />
          </h1>
          {run.parent_run ? (
            <p className="fd-lineage" data-testid="parent-run">
              run of task{" "}
              <a href={`${urls.page(run.parent_run)}#task-${encodeURIComponent(run.parent_task ?? "")}`}>
                <code>{run.parent_task}</code>
              </a>{" "}
              of <a href={urls.page(run.parent_run)}>run #{run.parent_run}</a>
            </p>
          ) : null}
        </div>
        <div className="actions">
          {can(config, "run.retry") ? (
            <button type="button" className="primary" disabled={!retryable} onClick={() => setDialog({ kind: "retry" })}>
              Retry
            </button>
          ) : null}
          {can(config, "run.cancel") ? (
            <button type="button" className="danger" disabled={!cancellable} onClick={() => setDialog({ kind: "cancel" })}>
              Cancel
            </button>
          ) : null}
          {can(config, "run.resubmit") ? (
            <button type="button" onClick={() => setDialog({ kind: "resubmit" })}>
              Resubmit
            </button>
          ) : null}
        </div>
      </div>
      {notice ? (
        <p className={notice.kind === "error" ? "fd-error" : "fd-info"} role="status">
          {notice.text}{" "}
          <button type="button" className="link" onClick={() => setNotice(null)} aria-label="Dismiss">
            ✕
          </button>
        </p>
      ) : null}
      <section className="card">
        <dl className="facts fd-facts">
          <dt>Project</dt>
          <dd>
            <a href={config.urls.project}>{run.project.name}</a>
          </dd>
          <dt>Version</dt>
          <dd>
            <a href={config.urls.version}>v{run.version}</a>
          </dd>
          <dt>Triggered</dt>
          <dd>
            {run.trigger} by {run.triggered_by ?? "system"}
            {run.resubmitted_from ? (
              <>
                {" "}
                (from <a href={urls.page(run.resubmitted_from)}>run #{run.resubmitted_from}</a>)
              </>
            ) : null}
          </dd>
          <dt>Created</dt>
          <dd>{formatTime(run.created_at)}</dd>
          <dt>Started</dt>
          <dd>{formatTime(run.started_at)}</dd>
          <dt>Finished</dt>
          <dd>{formatTime(run.finished_at)}</dd>
          <dt>Duration</dt>
          <dd>
            {roundDuration !== null ? (
              <>
                <span data-testid="round-duration">{formatDuration(roundDuration)}</span> the latest round ·{" "}
                <span data-testid="run-duration">{formatDuration(duration)}</span> in all, since the first start
              </>
            ) : (
              <span data-testid="run-duration">{formatDuration(duration)}</span>
            )}
          </dd>
          <dt>Tasks</dt>
          <dd data-testid="task-summary">
            {split.tasks.length} · {summarizeCounts(counts)}
            {split.instances ? (
              <span className="muted">
                {" "}
                (and {split.instances} instance{split.instances === 1 ? "" : "s"} of {split.fanOuts.size} fan-out
                {split.fanOuts.size === 1 ? "" : "s"})
              </span>
            ) : null}
          </dd>
          <dt>Parameters</dt>
          <dd>
            {Object.keys(run.parameters).length === 0 ? <span className="muted">none</span> : null}
            {Object.entries(run.parameters).map(([name, value]) => (
              <div key={name}>
                <code>{name}</code> = <code>{showValue(value)}</code>
              </div>
            ))}
          </dd>
          {run.message ? (
            <>
              <dt>Message</dt>
              <dd className="pre-line">{run.message}</dd>
            </>
          ) : null}
        </dl>
        <RunOutputsView outputs={run.outputs} />
      </section>
      <div className={selectedTask || selectedFan ? "fd-run__main fd-run__main--drawer" : "fd-run__main"}>
        <section className="card fd-run__graph">
          <div className="fd-toolbar">
            <h2>Graph</h2>
            <label>
              Layout{" "}
              <select value={direction} onChange={(event) => setDirection(event.target.value as Direction)}>
                <option value="LR">left to right</option>
                <option value="TB">top to bottom</option>
              </select>
            </label>
            {graph.groups.size ? (
              <span className="muted">
                {graph.groups.size} wide fan-out{graph.groups.size === 1 ? "" : "s"} collapsed: click one to expand
              </span>
            ) : null}
            {expanded.size ? (
              <button type="button" className="small" onClick={() => setExpanded(new Set())}>
                Collapse fan-outs
              </button>
            ) : null}
            <div className="fd-find">
              <input
                type="search"
                placeholder="Find a task by name"
                aria-label="Find a task by name"
                data-testid="find-task"
                value={query}
                onChange={(event) => setQuery(event.target.value)}
                onKeyDown={(event) => {
                  if (event.key === "Enter" && found.length) openFound(found[0].name);
                  if (event.key === "Escape") setQuery("");
                }}
              />
              {query.trim() ? (
                <ul className="fd-find__results" data-testid="find-results">
                  {found.map((task) => (
                    <li key={task.name}>
                      <button type="button" className="link" onClick={() => openFound(task.name)}>
                        <code>{task.name}</code> <StatusBadge status={task.status} />
                      </button>
                    </li>
                  ))}
                  {found.length ? null : <li className="muted">no task matches</li>}
                </ul>
              ) : null}
            </div>
          </div>
          <div className="fd-run__canvas" data-testid="dag" ref={canvasBox} style={canvasHeight ? { height: canvasHeight } : undefined}>
            <Dag
              // Remounted when the drawer opens or closes, or the canvas takes
              // the graph's height, so the graph fits its new box.
              key={`${selectedTask || selectedFan ? "narrow" : "wide"}-${canvasHeight ?? ""}`}
              onExtent={setExtent}
              minimap={overview}
              tasks={nodes}
              direction={direction}
              selected={selectedTask?.fan_group || selected}
              onSelect={onSelect}
              animateActive
              fitMaxZoom={1}
            />
          </div>
          <div className="fd-legend-bar">
            <Legend present={present} />
          </div>
        </section>
        {selectedFan ? (
          <FanOutPanel
            key={selectedFan.name}
            fan={selectedFan}
            now={now}
            filter={instanceFilter}
            page={instancePage}
            onFilter={setInstanceFilter}
            onPage={setInstancePage}
            onOpen={setSelected}
            onClose={() => setSelected(null)}
            retryFromHere={
              can(config, "run.retry_task") && finished ? () => setDialog({ kind: "retry", task: selectedFan.name }) : undefined
            }
          />
        ) : null}
        {selectedTask ? (
          <TaskDrawer
            key={selectedTask.name}
            runId={runId}
            task={selectedTask}
            children={children.get(selectedTask.name) ?? []}
            events={live.events}
            now={now}
            loadHistory={loadHistory}
            tab={tab}
            onTab={setTab}
            onClose={() => setSelected(null)}
            onBack={selectedTask.fan_group ? () => setSelected(selectedTask.fan_group ?? null) : undefined}
            actions={{
              retryFromHere:
                can(config, "run.retry_task") && finished
                  ? () => setDialog({ kind: "retry", task: selectedTask.name })
                  : undefined,
              debug:
                can(config, "run.debug_task") ? () => setDialog({ kind: "debug", task: selectedTask.name }) : undefined,
            }}
          />
        ) : null}
      </div>
      <section className="card">
        <h2>Timeline</h2>
        <Timeline
          tasks={split.tasks}
          fanOuts={split.fanOuts}
          now={now}
          onSelect={onSelect}
          selected={selectedTask?.fan_group || selected}
          roundStart={roundStart}
        />
      </section>
      {dialog?.kind === "retry" ? (
        <RetryDialog runId={runId} task={dialog.task} onClose={() => setDialog(null)} onDone={retried} />
      ) : null}
      {dialog?.kind === "cancel" ? (
        <CancelDialog
          runId={runId}
          onClose={() => setDialog(null)}
          onDone={(fresh) => {
            setDialog(null);
            adopt(fresh);
          }}
        />
      ) : null}
      {dialog?.kind === "resubmit" ? (
        <ResubmitDialog
          runId={runId}
          parameters={run.parameters}
          onClose={() => setDialog(null)}
          onDone={(fresh) => window.location.assign(urls.page(fresh.id))}
        />
      ) : null}
      {dialog?.kind === "debug" ? <DebugDialog runId={runId} task={dialog.task} workflowId={run.workflow.id} version={run.version} onClose={() => setDialog(null)} /> : null}
    </div>
  );
}

/** The task a `#task-<name>` in the address names, if the run has it. */
function taskFromHash(run: Run): string | null {
  const hash = window.location.hash;
  if (!hash.startsWith("#task-")) return null;
  const name = decodeURIComponent(hash.slice("#task-".length));
  return run.tasks.some((task) => task.name === name) ? name : null;
}
