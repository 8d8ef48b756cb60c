// Finding a task of a big run by name: the graph collapses wide groups, so a
// 10,000-task run needs a way to a task that is not drawn. Pure.
import type { Task } from "./types";

export const FIND_LIMIT = 20;

/**
 * The tasks whose name contains `query` (any case), best first: the exact
 * name, then names starting with it, then the rest in the run's order; at most
 * `limit`. An empty query finds nothing.
 */
export function findTasks(tasks: readonly Task[], query: string, limit: number = FIND_LIMIT): Task[] {
  const needle = query.trim().toLowerCase();
  if (!needle) return [];
  const exact: Task[] = [];
  const prefix: Task[] = [];
  const inside: Task[] = [];
  for (const task of tasks) {
    const name = task.name.toLowerCase();
    if (name === needle) exact.push(task);
    else if (name.startsWith(needle)) {
      if (prefix.length < limit) prefix.push(task);
    } else if (inside.length < limit && name.includes(needle)) inside.push(task);
  }
  return [...exact, ...prefix, ...inside].slice(0, limit);
}
