// The document's tasks and edges as React Flow nodes and edges. Pure, so the
// rule that keeps a big canvas fast is tested: an unchanged task keeps its
// node object (with the size React Flow measured), because a new object
// without `measured` makes React Flow measure the node again, a forced layout
// per node (2.5 s for a click at 2,000 tasks).
import type { Edge, MarkerType } from "@xyflow/react";

import { NODE_HEIGHT, NODE_WIDTH } from "../graph/layout";
import type { TaskFlowNode, TaskNodeData } from "../graph/TaskNode";
import { DEFAULT_RULE, dependsResults, fanOutBadge } from "./controlFlow";
import { type PlacedErrors } from "./errors";
import { type Direction, type Doc, type Point, type Task, edgeId, edgesOf, tasksOf, usesDepends } from "./model";
import { callOf } from "./subworkflow";

const ARROW = { type: "arrowclosed" as MarkerType, width: 16, height: 16 };

function subtitleOf(task: Task): string {
  const call = callOf(task);
  if (call) return `runs ${call.name || "another workflow"}${call.version !== null ? ` v${call.version}` : ""}`;
  return typeof task.image === "string" ? task.image : "";
}

function conditionOf(task: Task): string | undefined {
  return typeof task.when === "string" && task.when.trim() ? task.when : undefined;
}

function errorOf(errors: PlacedErrors, name: string): string | undefined {
  const list = errors.byTask.get(name);
  if (!list?.length) return undefined;
  return list.length === 1 ? list[0].message : `${list[0].message} (+${list.length - 1} more)`;
}

/** The nodes for `tasks`, reusing each node of `current` whose task looks the
 * same; null when the result would equal `current`. */
export function buildNodes(
  tasks: Task[],
  positions: Record<string, Point>,
  errors: PlacedErrors,
  selected: Set<string>,
  direction: Direction,
  current: TaskFlowNode[],
  exits: ReadonlySet<string> = new Set(),
): TaskFlowNode[] | null {
  const previous = new Map(current.map((node) => [node.id, node]));
  let changed = current.length !== tasks.length;
  const next = tasks.map((task, index) => {
    const position = positions[task.name] ?? { x: 0, y: 0 };
    const error = errorOf(errors, task.name);
    const subtitle = subtitleOf(task);
    const fanOut = fanOutBadge(task) || undefined;
    const condition = conditionOf(task);
    const isSelected = selected.has(task.name);
    const exitHandler = exits.has(task.name) || undefined;
    const old = previous.get(task.name);
    if (
      old &&
      old.position.x === position.x &&
      old.position.y === position.y &&
      old.data.error === error &&
      old.data.subtitle === subtitle &&
      old.data.fanOut === fanOut &&
      old.data.condition === condition &&
      old.data.direction === direction &&
      old.data.exitHandler === exitHandler &&
      Boolean(old.selected) === isSelected
    ) {
      if (current[index] !== old) changed = true;
      return old;
    }
    changed = true;
    const data: TaskNodeData = { label: task.name, subtitle, error, direction, fanOut, condition, exitHandler };
    return {
      ...old, // keeps `measured`
      id: task.name,
      type: "task" as const,
      position,
      width: NODE_WIDTH,
      height: NODE_HEIGHT,
      selected: isSelected,
      ariaLabel: `${exitHandler ? "Exit handler" : "Task"} ${task.name}${subtitle.startsWith("runs ") ? `, ${subtitle}` : ""}${fanOut ? `, runs once per item (${fanOut})` : ""}${condition ? `, runs only when ${condition}` : ""}${error ? `: ${error}` : ""}`,
      data,
    };
  });
  return changed ? next : null;
}

/** What an edge into `target` says when the target does not simply wait for
 * every upstream to succeed: its trigger rule, or what its depends
 * expression asks of this upstream; "" otherwise. */
export function edgeRule(target: Task | undefined, source: string): string {
  if (!target) return "";
  if (usesDepends(target)) {
    const results = (dependsResults(target.depends).get(source) ?? []).filter(Boolean);
    return results.length ? results.join(" / ") : "depends";
  }
  return typeof target.triggerRule === "string" && target.triggerRule !== DEFAULT_RULE ? target.triggerRule : "";
}

const RULE_STYLE = { strokeDasharray: "6 4" };
const RULE_LABEL_STYLE = { fontSize: 11, fill: "#92400e" };
const RULE_LABEL_BG = { fill: "#fffbeb" };

/** The edges of `doc`, reusing each edge of `previous` (by id) whose
 * selection and label are unchanged; returns the edges and the cache for
 * next time. An edge into a task with a rule other than the default is
 * dashed and labelled with it. */
export function buildEdges(
  doc: Doc,
  selectedEdges: Set<string>,
  previous: Map<string, Edge>,
): { edges: Edge[]; cache: Map<string, Edge> } {
  const cache = new Map<string, Edge>();
  const byName = new Map(tasksOf(doc).map((task) => [task.name, task]));
  const edges = edgesOf(doc).map((edge) => {
    const id = edgeId(edge);
    const isSelected = selectedEdges.has(id);
    const rule = edgeRule(byName.get(edge.target), edge.source);
    const old = previous.get(id);
    const next: Edge =
      old && Boolean(old.selected) === isSelected && (old.label ?? "") === rule
        ? old
        : {
            id,
            source: edge.source,
            target: edge.target,
            selected: isSelected,
            markerEnd: ARROW,
            ariaLabel: `${edge.source} to ${edge.target}${rule ? ` (${rule})` : ""}`,
            ...(rule
              ? { label: rule, className: "fd-edge--rule", style: RULE_STYLE, labelStyle: RULE_LABEL_STYLE, labelBgStyle: RULE_LABEL_BG, labelBgPadding: [4, 2] as [number, number], labelBgBorderRadius: 3 }
              : {}),
          };
    cache.set(id, next);
    return next;
  });
  return { edges, cache };
}
