// Wide fan-outs drawn as one group node, so a 2,000-task run stays readable:
// more than `threshold` tasks with the same (already collapsed) dependencies
// become a node that counts its members by state. Pure.
import type { DagTask } from "../graph/DagView";
import type { FanOut } from "./fanouts";
import type { Task } from "./types";

export const FAN_OUT_THRESHOLD = 50;
export const GROUP_PREFIX = "group:";

export interface Group {
  id: string;
  members: string[];
  counts: Record<string, number>;
  status: string;
}

export interface CollapsedGraph {
  tasks: DagTask[];
  groups: Map<string, Group>;
  /** task name -> the group drawn in its place */
  groupOf: Map<string, string>;
}

// The order a group shows the state of its members in: the first one present wins.
const GROUP_STATUS_ORDER = [
  "Running",
  "Expanded",
  "Retrying",
  "Cancelling",
  "Queued",
  "Failed",
  "Error",
  "UpstreamFailed",
  "Cancelled",
  "Pending",
  "Succeeded",
  "Skipped",
];

/** Ended, and not as a failure: a group of these and Pending ones is under way. */
const SETTLED_WELL = new Set(["Succeeded", "Skipped"]);

export function groupStatus(counts: Record<string, number>): string {
  const present = GROUP_STATUS_ORDER.filter((status) => counts[status]);
  if (present.length === 0) return "Pending";
  // Done only when every member is done; a partly started group shows its activity.
  if (present.includes("Pending") && present.length > 1 && present.every((status) => status === "Pending" || SETTLED_WELL.has(status))) {
    return "Running";
  }
  return present[0];
}

function hash(text: string): string {
  let h = 5381;
  for (let i = 0; i < text.length; i++) h = ((h << 5) + h + text.charCodeAt(i)) | 0;
  return (h >>> 0).toString(36);
}

/** Depth of each task (longest path from a root); tasks arrive in any order. */
function depths(tasks: Task[]): Map<string, number> {
  const byName = new Map(tasks.map((task) => [task.name, task]));
  const depth = new Map<string, number>();
  const visiting = new Set<string>();
  const visit = (name: string): number => {
    const known = depth.get(name);
    if (known !== undefined) return known;
    const task = byName.get(name);
    if (!task || visiting.has(name)) return 0; // unknown or a cycle: a root
    visiting.add(name);
    let d = 0;
    for (const dep of task.dependencies) if (byName.has(dep)) d = Math.max(d, visit(dep) + 1);
    visiting.delete(name);
    depth.set(name, d);
    return d;
  };
  for (const task of tasks) visit(task.name);
  return depth;
}

export function summarizeCounts(counts: Record<string, number>): string {
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([status, count]) => `${count} ${status}`)
    .join(" · ");
}

interface Structure {
  groupOf: Map<string, string>;
  mapped: Map<string, string[]>;
}

/**
 * Which group each task is drawn in and its edges once collapsed: this
 * depends on the tasks' names and dependencies only, not on their states, so
 * the last answer is kept and given again while they are the same objects (a
 * batch of events replaces the tasks it changes with copies that share their
 * `dependencies`). A 10,000-task run worked it all out again on every batch.
 */
let last: { tasks: Task[]; expanded: string; threshold: number; structure: Structure } | null = null;

function sameStructure(a: readonly Task[], b: readonly Task[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (x.name !== y.name || x.dependencies !== y.dependencies || Boolean(x.exit_handler) !== Boolean(y.exit_handler)) return false;
  }
  return true;
}

function structureOf(tasks: Task[], expanded: ReadonlySet<string>, threshold: number): Structure {
  const expandedKey = [...expanded].sort().join("\n");
  if (last && last.threshold === threshold && last.expanded === expandedKey && sameStructure(last.tasks, tasks)) {
    last.tasks = tasks;
    return last.structure;
  }
  const depth = depths(tasks);
  const levels = new Map<number, Task[]>();
  for (const task of tasks) {
    const d = depth.get(task.name) ?? 0;
    if (!levels.has(d)) levels.set(d, []);
    levels.get(d)!.push(task);
  }
  const groupOf = new Map<string, string>();
  const mapped = new Map<string, string[]>();
  const known = new Set(tasks.map((task) => task.name));
  // A debug run holds one task of its version: edges to tasks it lacks are dropped.
  const mapDeps = (task: Task) =>
    [...new Set(task.dependencies.filter((dep) => known.has(dep)).map((dep) => groupOf.get(dep) ?? dep))].sort();
  // Level by level: a task's dependencies are all collapsed (or not) before it is keyed.
  for (const d of [...levels.keys()].sort((a, b) => a - b)) {
    const siblings = new Map<string, Task[]>();
    for (const task of levels.get(d)!) {
      const deps = mapDeps(task);
      mapped.set(task.name, deps);
      // Exit handlers are never grouped with the run's tasks: they have their own lane.
      const key = `${d}|${task.exit_handler ? "exit" : ""}|${deps.join(",")}`;
      if (!siblings.has(key)) siblings.set(key, []);
      siblings.get(key)!.push(task);
    }
    for (const [key, members] of siblings) {
      if (members.length <= threshold) continue;
      const id = GROUP_PREFIX + hash(key);
      if (expanded.has(id)) continue;
      for (const member of members) groupOf.set(member.name, id);
    }
  }
  const structure = { groupOf, mapped };
  last = { tasks, expanded: expandedKey, threshold, structure };
  return structure;
}

/**
 * The tasks to draw: each fan-out wider than `threshold` (and not in
 * `expanded`) replaced by one group node; edges to and from its members go to
 * the group instead. `tasks` hold no instances of dynamic fan-outs
 * (fanouts.ts): those are counted on their fan-out's node (`fanOuts`).
 */
export function collapseFanOuts(
  tasks: Task[],
  expanded: ReadonlySet<string> = new Set(),
  threshold: number = FAN_OUT_THRESHOLD,
  fanOuts: ReadonlyMap<string, FanOut> = new Map(),
): CollapsedGraph {
  const { groupOf, mapped } = structureOf(tasks, expanded, threshold);
  const groups = new Map<string, Group>();
  const drawn: DagTask[] = [];
  for (const task of tasks) {
    const id = groupOf.get(task.name);
    if (id === undefined) {
      drawn.push({
        id: task.name,
        label: task.name,
        dependencies: mapped.get(task.name) ?? task.dependencies,
        status: task.status,
        reason: task.reason,
        message: task.message,
        attempts: task.attempts_count,
        fan: fanOuts.get(task.name)?.counts,
      });
      continue;
    }
    let group = groups.get(id);
    if (!group) {
      group = { id, members: [], counts: {}, status: "Pending" };
      groups.set(id, group);
      drawn.push({ id, label: "", dependencies: mapped.get(task.name) ?? [], status: "Pending", exitHandler: task.exit_handler || undefined });
    }
    group.members.push(task.name);
    group.counts[task.status] = (group.counts[task.status] ?? 0) + 1;
  }
  for (const node of drawn) {
    const group = groups.get(node.id);
    if (!group) continue;
    group.status = groupStatus(group.counts);
    node.status = group.status;
    node.collapsed = group.members.length;
    node.label = `${group.members[0]} … ${group.members[group.members.length - 1]}`;
    node.subtitle = summarizeCounts(group.counts);
  }
  return { tasks: drawn, groups, groupOf };
}
