// Sub-workflows and exit handlers on the run page (docs/spec.md): a
// sub-workflow task's child runs (the run's `children`, which events do not
// carry: the page reads the run again when a task starts one), and the exit
// handlers as a group of their own after the run's tasks. Pure: tested in
// subruns.test.ts.
import type { DagTask } from "../graph/DagView";
import { TERMINAL_RUN, TERMINAL_TASK } from "./state";
import type { ChildRun, Run, Task } from "./types";

/** Each task's child runs, oldest first (a retried task starts a new one). */
export function childRunsByTask(run: Pick<Run, "children">): Map<string, ChildRun[]> {
  const byTask = new Map<string, ChildRun[]>();
  for (const child of run.children ?? []) {
    const list = byTask.get(child.task) ?? [];
    list.push(child);
    byTask.set(child.task, list);
  }
  for (const list of byTask.values()) list.sort((a, b) => a.id - b.id);
  return byTask;
}

/** Whether the page's `children` are behind: a sub-workflow task has started
 * more attempts than the page knows child runs of, or has ended while its
 * latest child still reads as running. Then the run is read again. An attempt
 * refused before its run started (TooDeep, say) has none, which is why the
 * page stops asking after a few reads that bring nothing new. */
export function childrenStale(run: Run): boolean {
  const known = childRunsByTask(run);
  return run.tasks.some((task) => {
    if (!task.workflow) return false;
    const children = known.get(task.name) ?? [];
    if (task.attempts_count > children.length) return true;
    const latest = children.at(-1);
    return latest !== undefined && TERMINAL_TASK.has(task.status) && !TERMINAL_RUN.has(latest.status);
  });
}

/** The graph's nodes with what sub-workflows and exit handlers add: the
 * workflow a task runs and a link to its latest child run; the exit
 * handlers' flag, which draws them in the "On exit" lane. */
export function decorateNodes(nodes: DagTask[], run: Run, page: (id: number) => string): DagTask[] {
  if (!run.tasks.some((task) => task.workflow || task.exit_handler)) return nodes;
  const byName = new Map(run.tasks.map((task) => [task.name, task]));
  const children = childRunsByTask(run);
  return nodes.map((node) => {
    const task = byName.get(node.id);
    if (!task || (!task.workflow && !task.exit_handler)) return node;
    const latest = children.get(task.name)?.at(-1);
    return {
      ...node,
      exitHandler: task.exit_handler || undefined,
      calls: task.workflow?.name,
      link: latest ? { href: page(latest.id), label: `open run #${latest.id}` } : undefined,
    };
  });
}

/** The tasks of the run, then the exit handlers: the timeline's two groups. */
export function splitExitHandlers(tasks: Task[]): { main: Task[]; exit: Task[] } {
  const main: Task[] = [];
  const exit: Task[] = [];
  for (const task of tasks) (task.exit_handler ? exit : main).push(task);
  return { main, exit };
}
