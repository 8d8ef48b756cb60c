// The runs list, live: rows change status in place, new runs that match the
// filters appear on top, durations tick, and the dashboard's figures are asked
// again from the server (debounced) whenever a run changes — all driven by
// /ws/runs/, never by a timer asking the server.
import "../run/run.css";
import "./runs.css";

import { api } from "../common/api";
import { type Connection, LiveSocket, wsUrl } from "../run/socket";
import type { RunSummary } from "../run/types";
import { type Dashboard, elapsedSeconds, formatElapsed, place, type RunsPageConfig, waitingNote } from "./live";

const DASHBOARD_DELAY_MS = 1000;
const LIVE_TEXT: Record<Connection, string> = {
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
  closed: "offline",
  refused: "not live",
};

function badge(status: string): HTMLElement {
  const span = document.createElement("span");
  span.className = `badge status-${status.toLowerCase()}`;
  span.textContent = status;
  return span;
}

function link(href: string, text: string): HTMLAnchorElement {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  return a;
}

function cell(...children: (Node | string)[]): HTMLTableCellElement {
  const td = document.createElement("td");
  td.append(...children);
  return td;
}

function localTime(iso: string): string {
  const date = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(
    date.getMinutes(),
  )}:${pad(date.getSeconds())}`;
}

/** A row like _runs_table.html's, built from text nodes only. */
function buildRow(run: RunSummary, showWorkflow: boolean): HTMLTableRowElement {
  const row = document.createElement("tr");
  row.dataset.runId = String(run.id);
  row.className = "fd-new-row";
  row.append(cell(link(`/runs/${run.id}/`, `#${run.id}`)));
  if (showWorkflow) {
    row.append(cell(link(`/projects/${run.project.id}/`, run.project.name)));
    row.append(cell(link(`/workflows/${run.workflow.id}/`, run.workflow.name)));
  }
  row.append(cell(link(`/workflows/${run.workflow.id}/versions/${run.version}/`, `v${run.version}`)));
  const status = cell();
  status.className = "run-status";
  row.append(status);
  row.append(cell(run.trigger));
  row.append(cell(run.triggered_by ?? "system"));
  const created = cell(localTime(run.created_at));
  created.className = "nowrap";
  created.title = run.created_at;
  row.append(created);
  const duration = cell();
  duration.className = "nowrap run-duration";
  row.append(duration);
  updateRow(row, run);
  return row;
}

function updateRow(row: HTMLTableRowElement, run: RunSummary): void {
  row.dataset.status = run.status;
  row.dataset.started = run.started_at ?? "";
  row.dataset.finished = run.finished_at ?? "";
  const status = row.querySelector(".run-status");
  if (status) {
    const note = waitingNote(run);
    const children: Node[] = [badge(run.status)];
    if (note) {
      const div = document.createElement("div");
      div.className = "run-note muted";
      div.textContent = note;
      children.push(div);
    }
    status.replaceChildren(...children);
  }
  tickRow(row, Date.now());
}

function tickRow(row: HTMLTableRowElement, now: number): void {
  const duration = row.querySelector(".run-duration");
  if (!duration) return;
  const seconds = elapsedSeconds(row.dataset.started || null, row.dataset.finished || null, now);
  duration.textContent = formatElapsed(seconds);
}

function renderDashboard(dashboard: Dashboard): void {
  for (const [status, count] of Object.entries(dashboard.counts)) {
    const number = document.querySelector(`.dashboard-count[data-status="${status}"] .dashboard-number`);
    if (number) number.textContent = String(count);
  }
  const list = document.getElementById("runs-failures");
  if (!list) return;
  const items = dashboard.failures.map((failure) => {
    const li = document.createElement("li");
    const message = document.createElement("span");
    message.className = "muted";
    message.textContent = failure.message.length > 120 ? `${failure.message.slice(0, 119)}…` : failure.message;
    li.append(link(failure.url, `#${failure.id}`), ` ${failure.workflow} `, message);
    return li;
  });
  if (!items.length) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = "None.";
    items.push(li);
  }
  list.replaceChildren(...items);
}

function start(config: RunsPageConfig): void {
  const indicator = document.getElementById("runs-live");
  let refresh: ReturnType<typeof setTimeout> | null = null;
  // Runs pushed while the table is being read again, re-applied over it.
  let pushedDuringRefresh: Map<number, RunSummary> | null = null;

  const table = () => document.querySelector<HTMLTableElement>("#runs-table table.runs-table");
  const rows = () => [...(table()?.tBodies[0]?.rows ?? [])];

  const refreshDashboard = () => {
    if (refresh !== null) return;
    refresh = setTimeout(() => {
      refresh = null;
      api<Dashboard>(window.location.pathname + window.location.search)
        .then(renderDashboard)
        .catch(() => {});
    }, DASHBOARD_DELAY_MS);
  };

  /**
   * Read this page again and replace the table, then re-apply what was pushed
   * meanwhile (the HTML may predate it). Done on each `ready`: changes between
   * the page's rendering (or a drop) and the subscription are not lost.
   */
  const refreshTable = async () => {
    pushedDuringRefresh = new Map();
    try {
      const response = await fetch(window.location.href, { credentials: "same-origin" });
      if (!response.ok) return;
      const html = await response.text();
      const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("runs-table");
      const current = document.getElementById("runs-table");
      if (fresh && current) current.replaceChildren(...[...fresh.childNodes].map((node) => document.importNode(node, true)));
    } finally {
      const pushed = pushedDuringRefresh ?? new Map<number, RunSummary>();
      pushedDuringRefresh = null;
      for (const run of pushed.values()) onRun(run);
    }
  };

  function onRun(run: RunSummary): void {
    pushedDuringRefresh?.set(run.id, run);
    refreshDashboard();
    const shown = new Set(rows().map((row) => Number(row.dataset.runId)));
    const where = place(run, shown, config.filters, config.page);
    const row = rows().find((r) => Number(r.dataset.runId) === run.id);
    if (where === "update" && row) updateRow(row, run);
    else if (where === "remove" && row) row.remove();
    else if (where === "prepend") {
      const body = table()?.tBodies[0];
      if (!body) {
        // The page said "No runs": read it again to get the table.
        if (!pushedDuringRefresh) void refreshTable();
        return;
      }
      body.prepend(buildRow(run, table()!.hasAttribute("data-show-workflow")));
      while (body.rows.length > config.page_size) body.deleteRow(body.rows.length - 1);
    }
  }

  const socket = new LiveSocket({
    url: () => wsUrl("/ws/runs/"),
    since: () => null,
    onMessage: (raw) => {
      const message = raw as { type: string; run?: RunSummary };
      if (message.type === "run" && message.run) onRun(message.run);
      if (message.type === "ready") {
        refreshDashboard();
        void refreshTable();
      }
    },
    onStatus: (status) => {
      if (indicator) {
        indicator.className = `fd-live fd-live--${status}`;
        indicator.dataset.connection = status;
        const text = indicator.querySelector(".fd-live__text");
        if (text) text.textContent = LIVE_TEXT[status];
      }
    },
  });
  socket.start();

  setInterval(() => {
    const now = Date.now();
    for (const row of rows()) if (row.dataset.started && !row.dataset.finished) tickRow(row, now);
  }, 1000);
}

const data = document.getElementById("flowdeck-runs-data");
if (data?.textContent) start(JSON.parse(data.textContent) as RunsPageConfig);
