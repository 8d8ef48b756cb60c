// The node both the editor and the run monitor draw: a task's name, its state
// colour, an attempts badge and an error marker.
import { Handle, type Node, type NodeProps, Position } from "@xyflow/react";
import { memo } from "react";

import { ACTIVE_STATUSES, statusColour } from "./status";

export interface TaskNodeData extends Record<string, unknown> {
  label: string;
  status?: string;
  subtitle?: string;
  /** Attempts so far; shown as a badge from the second one. */
  attempts?: number;
  /** A validation message; the node is outlined in red and shows it on hover. */
  error?: string;
  direction?: "TB" | "LR";
  /** For a collapsed fan-out: how many tasks this node stands for. */
  collapsed?: number;
}

export type TaskFlowNode = Node<TaskNodeData, "task">;

function TaskNodeView({ data, selected }: NodeProps<TaskFlowNode>) {
  const horizontal = data.direction === "LR";
  const status = data.status;
  const classes = ["fd-node"];
  if (status && ACTIVE_STATUSES.has(status)) classes.push("fd-node--active");
  if (data.error) classes.push("fd-node--invalid");
  if (selected) classes.push("fd-node--selected");
  return (
    <div
      className={classes.join(" ")}
      style={{ borderLeftColor: statusColour(status) }}
      title={data.error ?? (status ? `${data.label}: ${status}` : data.label)}
      data-task={data.label}
      data-status={status ?? ""}
    >
      <Handle type="target" position={horizontal ? Position.Left : Position.Top} />
      <div className="fd-node__label">{data.label}</div>
      {data.subtitle ? <div className="fd-node__subtitle">{data.subtitle}</div> : null}
      {data.collapsed ? <span className="fd-node__badge">×{data.collapsed}</span> : null}
      {!data.collapsed && data.attempts && data.attempts > 1 ? (
        <span className="fd-node__badge" title={`${data.attempts} attempts`}>
          {data.attempts}
        </span>
      ) : null}
      {data.error ? <div className="fd-node__error">{data.error}</div> : null}
      <Handle type="source" position={horizontal ? Position.Right : Position.Bottom} />
    </div>
  );
}

export const TaskNode = memo(TaskNodeView);
export const nodeTypes = { task: TaskNode };
