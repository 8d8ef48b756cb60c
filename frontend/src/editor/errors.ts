// Server validation errors ({path, message}) placed where the user can see
// them: on a task (and the field inside it) or on the workflow's settings.
import { type Doc } from "./model";
import { taskIndexes } from "./graphOps";

export interface FieldError {
  path: string;
  message: string;
}

export interface PlacedError {
  /** The path inside the task ("resources.limits.cpu") or the whole path for a
   * workflow-level error. "" for the task as a whole. */
  field: string;
  message: string;
  path: string;
}

export interface PlacedErrors {
  byTask: Map<string, PlacedError[]>;
  workflow: PlacedError[];
}

// A task of the run (spec.tasks[i]) or an exit handler (spec.onExit[i]).
const TASK_PATH = /^spec\.(tasks|onExit)\[(\d+)\](?:\.(.*)|(\[.*))?$/;

export function placeErrors(doc: Doc, errors: FieldError[]): PlacedErrors {
  const names = { tasks: taskIndexes(doc), onExit: taskIndexes(doc, "onExit") };
  const byTask = new Map<string, PlacedError[]>();
  const workflow: PlacedError[] = [];
  for (const error of errors) {
    const match = error.path.match(TASK_PATH);
    const name = match ? names[match[1] as "tasks" | "onExit"].get(Number(match[2])) : undefined;
    if (match && name !== undefined) {
      const list = byTask.get(name) ?? [];
      list.push({ field: match[3] ?? match[4] ?? "", message: error.message, path: error.path });
      byTask.set(name, list);
    } else {
      workflow.push({ field: error.path, message: error.message, path: error.path });
    }
  }
  return { byTask, workflow };
}

/** How many errors are placed: the count the header and the list both show. */
export function countPlaced(placed: PlacedErrors): number {
  let count = placed.workflow.length;
  for (const list of placed.byTask.values()) count += list.length;
  return count;
}

/** The errors of a list edited one item per line (args, a command), each
 * saying its line: `args[1]` is line 2 of the Arguments box. */
export function lineErrors(errors: PlacedError[] | undefined, field: string): PlacedError[] {
  const item = new RegExp(`^${field.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\[(\\d+)\\]`);
  return errorsUnder(errors, field).map((error) => {
    const match = error.field.match(item);
    return match ? { ...error, message: `Line ${Number(match[1]) + 1}: ${error.message}` } : error;
  });
}

/** The errors of a field and everything inside it: "env" matches "env[0].name",
 * "retry.backoff" matches "retry.backoff.delay" but not "retryx". */
export function errorsUnder(errors: PlacedError[] | undefined, field: string): PlacedError[] {
  if (!errors) return [];
  return errors.filter(
    (error) =>
      error.field === field ||
      error.field.startsWith(`${field}.`) ||
      error.field.startsWith(`${field}[`),
  );
}
