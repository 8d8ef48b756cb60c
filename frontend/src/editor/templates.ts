// The palette: task templates a user drags onto the canvas.
import { type Obj } from "./model";

export interface TaskTemplate {
  id: string;
  label: string;
  hint: string;
  base: string;
  task: Obj;
}

export const TASK_TEMPLATES: TaskTemplate[] = [
  {
    id: "shell",
    label: "Shell command",
    hint: "Runs a shell script in busybox",
    base: "shell",
    task: { image: "busybox:1.36", command: ["sh", "-c", "echo hello"] },
  },
  {
    id: "python",
    label: "Python script",
    hint: "Runs Python code in python:3.12-slim",
    base: "python",
    task: { image: "python:3.12-slim", command: ["python", "-c", "print('hello')"] },
  },
  {
    id: "container",
    label: "Container",
    hint: "Any image with its own entrypoint and arguments",
    base: "container",
    task: { image: "alpine:3.20", args: [] },
  },
];

export const TEMPLATE_MIME = "application/x-flowdeck-template";

export function templateById(id: string): TaskTemplate | undefined {
  return TASK_TEMPLATES.find((template) => template.id === id);
}

export type CommandMode = "shell" | "python" | "raw";

const SHELLS = ["sh", "bash"];
const PYTHONS = ["python", "python3"];

/** How the form shows a task's command: a script box for `sh -c <script>` and
 * `python -c <code>`, otherwise one argument per line. */
export function commandMode(command: unknown): CommandMode {
  if (!Array.isArray(command) || command.length !== 3) return "raw";
  if (command[1] !== "-c" || typeof command[2] !== "string") return "raw";
  if (SHELLS.includes(command[0] as string)) return "shell";
  if (PYTHONS.includes(command[0] as string)) return "python";
  return "raw";
}

/** Lines of a textarea as a list of strings: one argument per line; a blank
 * last line is ignored. */
export function linesToList(text: string): string[] {
  const lines = text.split("\n");
  if (lines.length && lines[lines.length - 1] === "") lines.pop();
  return lines;
}
