// The node both the editor and the run monitor draw: a task's name, its state
// (colour, icon, reason), an attempts badge and an error marker; a fan-out
// drawn as a stack (with its instances' counts on the run page), a condition
// marker for a task with `when`.
import { Handle, type Node, type NodeProps, Position } from "@xyflow/react";
import { memo } from "react";

import { type FanCounts, fanSummary } from "./fanCounts";
import { ACTIVE_STATUSES, describeTask, statusColour, statusLine } from "./status";
import { StatusIcon } from "./StatusIcon";

export interface TaskNodeData extends Record<string, unknown> {
  label: string;
  status?: string;
  /** Why it is in its state (Condition, TriggerRule, ...); shown unless it repeats the state. */
  reason?: string;
  /** The state's message (a skipped task's evaluated condition), in the tooltip. */
  message?: string;
  subtitle?: string;
  /** Attempts so far; shown as a badge from the second one. */
  attempts?: number;
  /** A validation message; the node is outlined in red and shows it on hover. */
  error?: string;
  direction?: "TB" | "LR";
  /** For a collapsed fan-out: how many tasks this node stands for. */
  collapsed?: number;
  /** The run page: a fan-out's instances counted by state. */
  fan?: FanCounts;
  /** The editor: a task that runs once per item, "×6" or "per item". */
  fanOut?: string;
  /** The editor: the task's `when` condition. */
  condition?: string;
  /** An exit handler (spec.onExit): drawn in the "On exit" lane. */
  exitHandler?: boolean;
  /** The run page: the workflow a sub-workflow task runs. */
  calls?: string;
  /** The run page: a sub-workflow task's child run. */
  link?: { href: string; label: string };
}

export type TaskFlowNode = Node<TaskNodeData, "task">;

function TaskNodeView({ data, selected }: NodeProps<TaskFlowNode>) {
  const horizontal = data.direction === "LR";
  const status = data.status;
  const stacked = Boolean(data.fan || data.fanOut);
  const classes = ["fd-node"];
  if (status && ACTIVE_STATUSES.has(status)) classes.push("fd-node--active");
  if (status === "Skipped") classes.push("fd-node--skipped");
  if (stacked) classes.push("fd-node--stack");
  if (data.error) classes.push("fd-node--invalid");
  if (data.exitHandler) classes.push("fd-node--exit");
  if (selected) classes.push("fd-node--selected");
  const title =
    data.error ??
    (data.fan
      ? `${describeTask(data.label, status, data.reason, data.message)} (${fanSummary(data.fan)})`
      : describeTask(data.label, status, data.reason, data.message));
  const subtitle = data.subtitle ?? (status ? statusLine(status, data.reason) : undefined);
  return (
    <div
      className={classes.join(" ")}
      style={{ borderLeftColor: statusColour(status) }}
      title={data.condition && !data.error ? `${title}\nRuns only when: ${data.condition}` : title}
      data-task={data.label}
      data-status={status ?? ""}
      data-reason={data.reason || undefined}
      data-exit-handler={data.exitHandler ? "true" : undefined}
    >
      <Handle type="target" position={horizontal ? Position.Left : Position.Top} />
      <div className="fd-node__label">
        {data.condition ? (
          <span className="fd-node__when" data-testid="when-marker" aria-label="runs only when its condition holds">
            if
          </span>
        ) : null}
        {data.label}
      </div>
      {subtitle ? (
        <div className="fd-node__subtitle">
          {status && !data.collapsed ? <StatusIcon status={status} size={10} /> : null}
          {subtitle}
        </div>
      ) : null}
      {data.calls ? <div className="fd-node__subtitle fd-node__calls">runs {data.calls}</div> : null}
      {data.link ? (
        // Following the link must not also select the node (its drawer opens instead).
        <a className="fd-node__link nodrag nopan" href={data.link.href} data-testid="child-run-link" onClick={(event) => event.stopPropagation()}>
          {data.link.label}
        </a>
      ) : null}
      {data.fan ? <FanBar counts={data.fan} /> : null}
      {data.collapsed ? <span className="fd-node__badge">×{data.collapsed}</span> : null}
      {data.fan ? <span className="fd-node__badge fd-node__badge--fan">×{data.fan.total}</span> : null}
      {data.fanOut ? <span className="fd-node__badge fd-node__badge--fan">{data.fanOut}</span> : null}
      {!data.collapsed && !data.fan && data.attempts && data.attempts > 1 ? (
        <span className="fd-node__badge" title={`${data.attempts} attempts`}>
          {data.attempts}
        </span>
      ) : null}
      {data.error ? <div className="fd-node__error">{data.error}</div> : null}
      <Handle type="source" position={horizontal ? Position.Right : Position.Bottom} />
    </div>
  );
}

/** A fan-out's instances as one bar split by state, and the counts in words. */
function FanBar({ counts }: { counts: FanCounts }) {
  const parts: [string, number, string][] = [
    ["Succeeded", counts.succeeded, "succeeded"],
    ["Skipped", counts.skipped, "skipped"],
    ["Failed", counts.failed, "failed"],
    ["Running", counts.running, "running"],
  ];
  const total = Math.max(counts.total, 1);
  return (
    <div className="fd-fan" data-testid="fan-counts" data-total={counts.total} data-succeeded={counts.succeeded} data-failed={counts.failed} data-running={counts.running} data-queued={counts.queued}>
      <div className="fd-fan__bar" aria-hidden="true">
        {parts.map(([status, count]) =>
          count ? <span key={status} style={{ width: `${(count / total) * 100}%`, background: statusColour(status) }} /> : null,
        )}
      </div>
      <div className="fd-fan__text">{fanSummary(counts)}</div>
    </div>
  );
}

export const TaskNode = memo(TaskNodeView);
export const nodeTypes = { task: TaskNode };
