// A run's fan-outs (docs/spec.md, "Fan-out"): the instances `square[0]`,
// `square[1]`, ... are not nodes of the graph but counts on their fan-out's
// node, and a list (filtered by state, a page at a time) behind it. Pure, and
// linear in the run's size: a 2,000-instance fan-out is regrouped on every
// batch of events.
import { type FanCounts, fanBucket, fanCounts } from "../graph/fanCounts";
import { secondsBetween, TERMINAL_TASK } from "./state";
import type { Task } from "./types";

export interface FanOut {
  name: string;
  /** The fan-out's own row (Pending, Expanded, then Succeeded or Failed). */
  task: Task;
  /** Its instances, in item order. */
  instances: Task[];
  /** Instances by state, as collapse.ts counts a group's members. */
  byStatus: Record<string, number>;
  counts: FanCounts;
}

export interface SplitRun {
  /** The workflow's tasks, instances left out: what the graph draws. */
  tasks: Task[];
  fanOuts: Map<string, FanOut>;
  /** How many instances there are in all. */
  instances: number;
}

/** The run's tasks with every fan-out's instances gathered under it. */
export function splitFanOuts(all: Task[]): SplitRun {
  const tasks: Task[] = [];
  const byGroup = new Map<string, Task[]>();
  let instances = 0;
  for (const task of all) {
    if (task.fan_group) {
      let list = byGroup.get(task.fan_group);
      if (!list) byGroup.set(task.fan_group, (list = []));
      list.push(task);
      instances += 1;
    } else tasks.push(task);
  }
  const fanOuts = new Map<string, FanOut>();
  for (const task of tasks) {
    const list = byGroup.get(task.name);
    if (!list && (task.fan_out === null || task.fan_out === undefined)) continue;
    const members = inItemOrder(list ?? []);
    const byStatus: Record<string, number> = {};
    for (const member of members) byStatus[member.status] = (byStatus[member.status] ?? 0) + 1;
    fanOuts.set(task.name, {
      name: task.name,
      task,
      instances: members,
      byStatus,
      counts: fanCounts(byStatus, Math.max(task.fan_out ?? 0, members.length)),
    });
  }
  return { tasks, fanOuts, instances };
}

function inItemOrder(list: Task[]): Task[] {
  for (let i = 1; i < list.length; i++) {
    if ((list[i - 1].fan_index ?? 0) > (list[i].fan_index ?? 0)) {
      return list.slice().sort((a, b) => (a.fan_index ?? 0) - (b.fan_index ?? 0));
    }
  }
  return list;
}

/** The instance list's filters: all, or one of the node's buckets. */
export type InstanceFilter = "all" | "running" | "queued" | "succeeded" | "failed" | "skipped";

export const INSTANCE_FILTERS: { value: InstanceFilter; label: string }[] = [
  { value: "all", label: "All" },
  { value: "running", label: "Running" },
  { value: "queued", label: "Queued" },
  { value: "succeeded", label: "Succeeded" },
  { value: "failed", label: "Failed" },
  { value: "skipped", label: "Skipped" },
];

export function filterCount(fan: FanOut, filter: InstanceFilter): number {
  return filter === "all" ? fan.instances.length : fan.instances.filter((task) => fanBucket(task.status) === filter).length;
}

/** The instances a filter keeps. */
export function filterInstances(instances: Task[], filter: InstanceFilter): Task[] {
  if (filter === "all") return instances;
  return instances.filter((task) => fanBucket(task.status) === filter);
}

export const PAGE_SIZE = 100;

export interface InstancePage {
  rows: Task[];
  /** The page shown (clamped), its first row's number (1-based) and how many match. */
  page: number;
  from: number;
  to: number;
  total: number;
  pages: number;
}

/** One page of the filtered instances: a table of 2,000 rows is slow to draw
 * and to read, and the filters find what matters. */
export function instancePage(instances: Task[], filter: InstanceFilter, page: number, size = PAGE_SIZE): InstancePage {
  const kept = filterInstances(instances, filter);
  const pages = Math.max(1, Math.ceil(kept.length / size));
  const shown = Math.min(Math.max(0, page), pages - 1);
  const rows = kept.slice(shown * size, shown * size + size);
  return { rows, page: shown, from: rows.length ? shown * size + 1 : 0, to: shown * size + rows.length, total: kept.length, pages };
}

/** An item on one line: text as it is, anything else as compact JSON, cut
 * to `limit` characters; "…" while it is not read yet. */
export function compactItem(item: unknown, limit = 40): string {
  if (item === undefined) return "…";
  const text = typeof item === "string" ? item : JSON.stringify(item);
  return text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;
}

/** The whole item, for its tooltip. */
export function fullItem(item: unknown): string {
  if (item === undefined) return "not read yet";
  return typeof item === "string" ? item : JSON.stringify(item, null, 2);
}

/** From the first instance's start to the last one's end (now while any
 * runs), in seconds; null before any started. */
export function fanOutSeconds(fan: FanOut, now: number): number | null {
  let start = Infinity;
  let end = -Infinity;
  // Still going while the fan-out is, even between two instances.
  let open = !TERMINAL_TASK.has(fan.task.status);
  for (const task of fan.instances) {
    if (!task.started_at) continue;
    start = Math.min(start, Date.parse(task.started_at));
    if (task.finished_at) end = Math.max(end, Date.parse(task.finished_at));
    else open = true;
  }
  if (start === Infinity) return null;
  const last = open || end === -Infinity ? now : end;
  return secondsBetween(new Date(start).toISOString(), new Date(Math.max(start, last)).toISOString(), now);
}
