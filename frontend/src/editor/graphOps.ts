// Graph edits on the spec document: each takes a document and returns a new
// one (never changing its input), so undo/redo is a stack of documents. Pure:
// no React, no DOM; tested in graphOps.test.ts.
import { DAGRE_LIMIT, fastLayout } from "../graph/fastLayout";
import { boundsOf, laneBox, LANE_GAP, offsetAfter, overlaps, placeLane } from "../graph/lanes";
import { type LayoutInput, layoutGraph, NODE_HEIGHT, NODE_WIDTH } from "../graph/layout";
import { addToDepends, dependsNames, renameInDepends } from "./controlFlow";
import { renameReferences } from "./dataflow";
import {
  type Direction,
  type Doc,
  type GraphEdge,
  type Obj,
  type Point,
  type Task,
  dependenciesOf,
  directionOf,
  edgesOf,
  exitNames,
  isObj,
  listedDependencies,
  orderTaskKeys,
  positionsOf,
  rawExitTasks,
  rawTasks,
  roundPoint,
  setField,
  taskNames,
  tasksOf,
  usesDepends,
  withEveryTask,
  withExitTasks,
  withPositions,
  withSpec,
  withTasks,
  withUi,
} from "./model";

/** dagre's layout for small graphs, the linear one where dagre takes seconds. */
export function layoutTasks(nodes: LayoutInput[], edges: GraphEdge[], direction: Direction): Map<string, Point> {
  return nodes.length > DAGRE_LIMIT ? fastLayout(nodes, edges, direction) : layoutGraph(nodes, edges, direction);
}

export type EditResult = { ok: true; doc: Doc } | { ok: false; message: string };

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function isTaskName(name: string): boolean {
  return name.length <= 63 && DNS_LABEL.test(name);
}

/** `base` made into a DNS label, with -2, -3, ... until no task has it. */
export function uniqueName(base: string, taken: Set<string>): string {
  let stem =
    base
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 56) || "task";
  stem = stem.replace(/-\d+$/, "") || stem;
  if (!taken.has(stem)) return stem;
  for (let n = 2; ; n += 1) {
    const candidate = `${stem}-${n}`;
    if (!taken.has(candidate)) return candidate;
  }
}

export function addTask(
  doc: Doc,
  template: Obj,
  at: Point,
  base = "task",
): { doc: Doc; name: string } {
  const name = uniqueName(base, taskNames(doc));
  const task = orderTaskKeys({ ...structuredClone(template), name });
  let next = withTasks(doc, (tasks) => [...tasks, task]);
  next = withPositions(next, (positions) => ({ ...positions, [name]: roundPoint(at) }));
  return { doc: next, name };
}

export function removeTasks(doc: Doc, names: Iterable<string>): Doc {
  const gone = new Set(names);
  if (gone.size === 0) return doc;
  let next = withEveryTask(doc, (tasks) =>
    tasks
      .filter((task) => !(isObj(task) && typeof task.name === "string" && gone.has(task.name)))
      .map((task) => {
        if (!isObj(task) || !Array.isArray(task.dependencies)) return task;
        if (!task.dependencies.some((dep) => gone.has(dep as string))) return task;
        const deps = task.dependencies.filter((dep) => !gone.has(dep as string));
        return setField(task, "dependencies", deps);
      }),
  );
  next = withPositions(next, (positions) => {
    for (const name of gone) delete positions[name];
    return positions;
  });
  return next;
}

/** A path of task names from `from` down to `to` following dependencies
 * (upstream → downstream), or null. */
export function downstreamPath(doc: Doc, from: string, to: string): string[] | null {
  const children = new Map<string, string[]>();
  for (const edge of edgesOf(doc)) {
    const list = children.get(edge.source) ?? [];
    list.push(edge.target);
    children.set(edge.source, list);
  }
  const previous = new Map<string, string>();
  const queue = [from];
  const seen = new Set([from]);
  while (queue.length) {
    const current = queue.shift()!;
    if (current === to) {
      const path = [to];
      while (path[0] !== from) path.unshift(previous.get(path[0])!);
      return path;
    }
    for (const child of children.get(current) ?? []) {
      if (!seen.has(child)) {
        seen.add(child);
        previous.set(child, current);
        queue.push(child);
      }
    }
  }
  return null;
}

/** Make `target` depend on `source` (an edge source → target), refusing an
 * edge that would close a cycle with a message that names the cycle. A
 * target with a `depends` expression gets `&& source` in it (the two are
 * exclusive: docs/spec.md). */
export function connect(doc: Doc, source: string, target: string): EditResult {
  const names = taskNames(doc);
  if (!names.has(source) || !names.has(target)) {
    return { ok: false, message: "Both ends of a connection must be tasks." };
  }
  if (source === target) {
    return { ok: false, message: `${source} cannot depend on itself.` };
  }
  const target_ = tasksOf(doc).find((task) => task.name === target)!;
  if (dependenciesOf(target_).includes(source)) {
    return { ok: false, message: `${target} already depends on ${source}.` };
  }
  const exits = exitNames(doc);
  if (exits.has(source) !== exits.has(target)) return { ok: false, message: acrossLanes(source, target, exits) };
  const back = downstreamPath(doc, target, source);
  if (back) {
    return {
      ok: false,
      message: `Refused: ${source} → ${target} would close a cycle (${[...back, target].join(" → ")}).`,
    };
  }
  return {
    ok: true,
    doc: updateTask(doc, target, (task) =>
      usesDepends(task)
        ? { ...task, depends: addToDepends(task.depends as string, source) }
        : orderTaskKeys({ ...task, dependencies: [...listedDependencies(task), source] }),
    ),
  };
}

/** Why an edge between a task of the run and an exit handler is refused. */
function acrossLanes(source: string, target: string, exits: Set<string>): string {
  if (exits.has(target)) {
    return `Refused: ${target} is an exit handler, which runs once every other task has ended: it may run after other exit handlers only, not after ${source}.`;
  }
  return `Refused: ${source} is an exit handler, which runs once every other task has ended: ${target} cannot run after it.`;
}

/** The edges of `edges` that come from a `depends` expression: cutting one
 * means rewriting the expression, which is the user's to do. */
export function dependsEdges(doc: Doc, edges: GraphEdge[]): GraphEdge[] {
  const byName = new Map(tasksOf(doc).map((task) => [task.name, task]));
  return edges.filter((edge) => {
    const task = byName.get(edge.target);
    return task !== undefined && usesDepends(task) && dependsNames(task.depends).includes(edge.source);
  });
}

export function disconnect(doc: Doc, edges: GraphEdge[]): Doc {
  if (edges.length === 0) return doc;
  const cut = new Map<string, Set<string>>();
  for (const edge of edges) {
    const set = cut.get(edge.target) ?? new Set();
    set.add(edge.source);
    cut.set(edge.target, set);
  }
  return withEveryTask(doc, (tasks) =>
    tasks.map((task) => {
      if (!isObj(task) || typeof task.name !== "string" || !cut.has(task.name)) return task;
      const drop = cut.get(task.name)!;
      const deps = listedDependencies(task).filter((dep) => !drop.has(dep));
      return setField(task, "dependencies", deps);
    }),
  );
}

export function updateTask(doc: Doc, name: string, change: (task: Task) => Obj): Doc {
  return withEveryTask(doc, (tasks) =>
    tasks.map((task) => (isObj(task) && task.name === name ? change(task as Task) : task)),
  );
}

/** Rename a task, every dependency on it, every reference to its outputs
 * (`{{tasks.old.outputs...}}` in other tasks and the workflow's outputs) and
 * its saved position. */
export function renameTask(doc: Doc, from: string, to: string): EditResult {
  if (from === to) return { ok: true, doc };
  if (!to) return { ok: false, message: "A task needs a name." };
  if (taskNames(doc).has(to)) return { ok: false, message: `Another task is named ${to}.` };
  let next = withEveryTask(doc, (tasks) =>
    tasks.map((task) => {
      if (!isObj(task)) return task;
      let changed: Obj = task;
      if (task.name === from) changed = { ...changed, name: to };
      if (Array.isArray(task.dependencies) && task.dependencies.includes(from)) {
        changed = {
          ...changed,
          dependencies: task.dependencies.map((dep) => (dep === from ? to : dep)),
        };
      }
      if (typeof task.depends === "string" && dependsNames(task.depends).includes(from)) {
        changed = { ...changed, depends: renameInDepends(task.depends, from, to) };
      }
      return changed;
    }),
  );
  next = withSpec(next, (spec) => {
    const renamed = { ...spec };
    for (const key of ["tasks", "onExit", "outputs"]) if (key in spec) renamed[key] = renameReferences(spec[key], from, to);
    return renamed;
  });
  next = withPositions(next, (positions) => {
    if (from in positions) {
      positions[to] = positions[from];
      delete positions[from];
    }
    return positions;
  });
  return { ok: true, doc: next };
}

export interface Clipboard {
  tasks: Task[];
  positions: Record<string, Point>;
  /** Those of `tasks` that are exit handlers: pasted as exit handlers. */
  exits?: string[];
}

/** The chosen tasks, keeping only the dependencies among them. */
export function copyTasks(doc: Doc, names: Iterable<string>): Clipboard {
  const chosen = new Set(names);
  const all = positionsOf(doc);
  const tasks = tasksOf(doc)
    .filter((task) => chosen.has(task.name))
    .map((task) => {
      let copy: Task = structuredClone(task);
      if ("dependencies" in copy) {
        const deps = listedDependencies(copy).filter((dep) => chosen.has(dep));
        copy = setField(copy, "dependencies", deps) as Task;
      }
      // A depends expression is kept only with every task it names.
      if ("depends" in copy && !dependsNames(copy.depends).every((name) => chosen.has(name))) {
        copy = setField(copy, "depends", undefined) as Task;
      }
      return copy;
    });
  const positions: Record<string, Point> = {};
  for (const task of tasks) if (all[task.name]) positions[task.name] = all[task.name];
  const exits = exitNames(doc);
  return { tasks, positions, exits: tasks.map((task) => task.name).filter((name) => exits.has(name)) };
}

/** Add the clipboard's tasks under fresh names, shifted by `offset`; returns
 * the new names (in clipboard order). */
export function pasteTasks(
  doc: Doc,
  clipboard: Clipboard,
  offset: Point = { x: 40, y: 40 },
): { doc: Doc; names: string[] } {
  const taken = taskNames(doc);
  const renamed = new Map<string, string>();
  for (const task of clipboard.tasks) {
    const name = uniqueName(task.name, taken);
    taken.add(name);
    renamed.set(task.name, name);
  }
  const added = clipboard.tasks.map((task) => {
    const copy: Obj = { ...structuredClone(task), name: renamed.get(task.name)! };
    if ("dependencies" in copy) {
      copy.dependencies = listedDependencies(copy).map((dep) => renamed.get(dep) ?? dep);
    }
    if (typeof copy.depends === "string") {
      let expression = copy.depends;
      // Through placeholders (no task name has "_"), so renaming a to b and b to c gives b, c.
      const names = dependsNames(expression);
      names.forEach((name, i) => (expression = renameInDepends(expression, name, `__${i}__`)));
      names.forEach((name, i) => (expression = renameInDepends(expression, `__${i}__`, renamed.get(name) ?? name)));
      copy.depends = expression;
    }
    return copy;
  });
  const exits = new Set((clipboard.exits ?? []).map((name) => renamed.get(name)));
  let next = withTasks(doc, (tasks) => [...tasks, ...added.filter((task) => !exits.has(task.name as string))]);
  if (exits.size) next = withExitTasks(next, (tasks) => [...tasks, ...added.filter((task) => exits.has(task.name as string))]);
  let fallback = 0;
  next = withPositions(next, (positions) => {
    for (const task of clipboard.tasks) {
      const from = clipboard.positions[task.name] ?? { x: 0, y: (fallback += 60) };
      positions[renamed.get(task.name)!] = roundPoint({ x: from.x + offset.x, y: from.y + offset.y });
    }
    return positions;
  });
  return { doc: next, names: [...renamed.values()] };
}

export function duplicateTasks(doc: Doc, names: Iterable<string>): { doc: Doc; names: string[] } {
  return pasteTasks(doc, copyTasks(doc, names));
}

export function moveTasks(doc: Doc, moved: Record<string, Point>): Doc {
  if (Object.keys(moved).length === 0) return doc;
  return withPositions(doc, (positions) => {
    for (const [name, point] of Object.entries(moved)) positions[name] = roundPoint(point);
    return positions;
  });
}

/** Every task laid out in layers along `direction`: the run's tasks, then
 * the exit handlers laid out on their own and placed after them (their lane). */
export function layoutDocument(doc: Doc, direction: Direction): Map<string, Point> {
  const exits = exitNames(doc);
  const tasks = tasksOf(doc);
  const edges = edgesOf(doc);
  const main = layoutTasks(
    tasks.filter((task) => !exits.has(task.name)).map((task) => ({ id: task.name })),
    edges,
    direction,
  );
  if (exits.size === 0) return main;
  const lane = layoutTasks(
    tasks.filter((task) => exits.has(task.name)).map((task) => ({ id: task.name })),
    edges,
    direction,
  );
  return placeLane(main, lane, direction);
}

/** Move the exit handlers' lane after the run's tasks when it overlaps them
 * (a task just made an exit handler, or back), keeping its own arrangement. */
export function settleExitLane(doc: Doc): Doc {
  const exits = exitNames(doc);
  if (exits.size === 0) return doc;
  const positions = positionsOf(doc);
  const main = Object.entries(positions).filter(([name]) => !exits.has(name) && taskNames(doc).has(name));
  const lane = Object.entries(positions).filter(([name]) => exits.has(name));
  const graph = boundsOf(main);
  const box = laneBox(lane);
  if (!graph || !box) return doc;
  const padded = { x: graph.x - LANE_GAP / 2, y: graph.y - LANE_GAP / 2, width: graph.width + LANE_GAP, height: graph.height + LANE_GAP };
  if (!overlaps(padded, box)) return doc;
  const offset = offsetAfter(graph, box, directionOf(doc));
  return withPositions(doc, (all) => {
    for (const [name, point] of lane) all[name] = { x: point.x + offset.x, y: point.y + offset.y };
    return all;
  });
}

export type ExitResult = { ok: true; doc: Doc; cut: GraphEdge[] } | { ok: false; message: string };

/** Make `name` an exit handler (`on`: moved from spec.tasks to spec.onExit)
 * or a task of the run again. Edges between the two kinds cannot be, so its
 * dependencies on the side it leaves are cut (and theirs on it), and listed;
 * a depends expression that would name across is refused, as it is the
 * user's to rewrite. */
export function setExitHandler(doc: Doc, name: string, on: boolean): ExitResult {
  const exits = exitNames(doc);
  const task = tasksOf(doc).find((item) => item.name === name);
  if (!task) return { ok: false, message: `There is no task ${name}.` };
  if (exits.has(name) === on) return { ok: true, doc, cut: [] };
  // The tasks it leaves behind: those of the list it was in.
  const behind = new Set(tasksOf(doc).map((item) => item.name).filter((other) => other !== name && exits.has(other) === !on));
  if (usesDepends(task)) {
    const named = dependsNames(task.depends).filter((other) => behind.has(other));
    if (named.length) {
      return { ok: false, message: `${name}'s depends expression names ${named.join(", ")}: edit it in its form first (Control flow).` };
    }
  }
  for (const other of tasksOf(doc)) {
    if (behind.has(other.name) && usesDepends(other) && dependsNames(other.depends).includes(name)) {
      return { ok: false, message: `${other.name}'s depends expression names ${name}: edit it in ${other.name}'s form first (Control flow).` };
    }
  }
  const cut: GraphEdge[] = [
    ...listedDependencies(task).filter((dep) => behind.has(dep)).map((dep) => ({ source: dep, target: name })),
    ...tasksOf(doc)
      .filter((other) => behind.has(other.name) && listedDependencies(other).includes(name))
      .map((other) => ({ source: name, target: other.name })),
  ];
  let next = disconnect(doc, cut);
  const moved = tasksOf(next).find((item) => item.name === name)!;
  const isIt = (item: unknown) => isObj(item) && item.name === name;
  next = withEveryTask(next, (tasks) => tasks.filter((item) => !isIt(item)));
  next = on ? withExitTasks(next, (tasks) => [...tasks, moved]) : withTasks(next, (tasks) => [...tasks, moved]);
  next = withPositions(next, (positions) => {
    const here = positions[name];
    const others = Object.entries(positions).filter(([other]) => other !== name && (on ? exits.has(other) : !exits.has(other)));
    const group = boundsOf(others);
    if (!group) return positions;
    // Next to the group it joins, so the lane stays one box.
    const horizontal = directionOf(doc) === "TB";
    if (on) {
      positions[name] = horizontal
        ? { x: group.x + group.width + 24, y: group.y }
        : { x: group.x, y: group.y + group.height + 24 };
    } else if (here) {
      positions[name] = horizontal
        ? { x: group.x, y: group.y + group.height + 48 }
        : { x: group.x + group.width + 48, y: group.y };
    }
    return positions;
  });
  return { ok: true, doc: settleExitLane(next), cut };
}

/** Lay every task out again in layers along `direction`, and remember it. */
export function autoLayout(doc: Doc, direction: Direction): Doc {
  const placed = layoutDocument(doc, direction);
  const positions: Record<string, Point> = {};
  for (const [name, point] of placed) positions[name] = roundPoint(point);
  const next = withPositions(doc, () => positions);
  return withUi(next, (ui) => ({ ...ui, direction }));
}

/** Positions for tasks that have none: all of them laid out when none has a
 * position, otherwise stacked below the lowest placed task. */
export function placeMissing(doc: Doc): Doc {
  const tasks = tasksOf(doc);
  const positions = positionsOf(doc);
  const missing = tasks.filter((task) => !positions[task.name]);
  if (missing.length === 0) return doc;
  if (missing.length === tasks.length) {
    const direction = doc.spec && isObj(doc.spec) && isObj(doc.spec.ui) && doc.spec.ui.direction === "LR" ? "LR" : "TB";
    const placed = layoutDocument(doc, direction);
    return withPositions(doc, () => {
      const all: Record<string, Point> = {};
      for (const [name, point] of placed) all[name] = roundPoint(point);
      return all;
    });
  }
  return withPositions(doc, (all) => {
    const direction = directionOf(doc);
    for (const task of missing) all[task.name] = freeSpot(all, besideUpstream(all, dependenciesOf(task), direction), direction);
    return all;
  });
}

// The layout's steps between layers and between siblings (NODE_WIDTH 180,
// NODE_HEIGHT 44, with room for the edges).
const LAYER_STEP = { TB: 110, LR: 240 };
const SIBLING_STEP = { TB: 210, LR: 70 };

/** Where a task added without a position goes, as the layout would put it:
 * one layer after its upstream tasks, centred across them; a task without
 * any (placed) beside the graph's first layer. */
function besideUpstream(all: Record<string, Point>, upstream: string[], direction: Direction): Point {
  const ups = upstream.map((name) => all[name]).filter((point): point is Point => Boolean(point));
  const points = Object.values(all);
  if (ups.length) {
    const mean = (values: number[]) => Math.round(values.reduce((sum, value) => sum + value, 0) / values.length);
    return direction === "TB"
      ? { x: mean(ups.map((p) => p.x)), y: Math.max(...ups.map((p) => p.y)) + LAYER_STEP.TB }
      : { x: Math.max(...ups.map((p) => p.x)) + LAYER_STEP.LR, y: mean(ups.map((p) => p.y)) };
  }
  if (points.length === 0) return { x: 0, y: 0 };
  const first = direction === "TB" ? Math.min(...points.map((p) => p.y)) : Math.min(...points.map((p) => p.x));
  return direction === "TB"
    ? { x: Math.max(...points.map((p) => p.x)) + SIBLING_STEP.TB, y: first }
    : { x: first, y: Math.max(...points.map((p) => p.y)) + SIBLING_STEP.LR };
}

/** `wanted`, or the next spot across its layer that no node takes. */
function freeSpot(all: Record<string, Point>, wanted: Point, direction: Direction): Point {
  const taken = (point: Point) =>
    Object.values(all).some((other) => Math.abs(other.x - point.x) < NODE_WIDTH + 10 && Math.abs(other.y - point.y) < NODE_HEIGHT + 10);
  const point = { ...wanted };
  for (let step = 0; step < 1000 && taken(point); step++) {
    if (direction === "TB") point.x += SIBLING_STEP.TB;
    else point.y += SIBLING_STEP.LR;
  }
  return point;
}

/** Index of each task in `spec.tasks` (or `spec.onExit`) by name (error paths count positions). */
export function taskIndexes(doc: Doc, list: "tasks" | "onExit" = "tasks"): Map<number, string> {
  const indexes = new Map<number, string>();
  (list === "tasks" ? rawTasks(doc) : rawExitTasks(doc)).forEach((task, index) => {
    if (isObj(task) && typeof task.name === "string") indexes.set(index, task.name);
  });
  return indexes;
}
