// The action dialogs' form logic, pure: typed parameters, override lists, the
// debug answer's commands.

/** A typed value back from its text: JSON when the original was not a string. */
export function parseParameter(text: string, original: unknown): unknown {
  if (typeof original === "string" || original === undefined) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** One item a line, blank lines dropped; null when there is none (not overridden). */
export function lines(text: string): string[] | null {
  const items = text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
  return items.length ? items : null;
}

/** KEY=VALUE lines as the debug endpoint's env list; the first "=" splits. */
export function envLines(text: string): { name: string; value: string }[] | null {
  const entries = (lines(text) ?? []).map((line) => {
    const at = line.indexOf("=");
    return at < 0 ? { name: line, value: "" } : { name: line.slice(0, at), value: line.slice(at + 1) };
  });
  return entries.length ? entries : null;
}

/** POST /api/runs/{id}/tasks/{name}/debug/ answers the new run plus how to look at it. */
export interface DebugResponse {
  id: number;
  commands?: Partial<Record<"backend" | "namespace" | "pod" | "exec" | "logs" | "log_path" | "log_url" | "note", string | null>>;
}

const COMMAND_LABELS: [keyof NonNullable<DebugResponse["commands"]>, string][] = [
  ["exec", "Shell into the pod"],
  ["logs", "Follow its log"],
  ["log_path", "Its log file"],
  ["log_url", "Its log over the API"],
];

/** The commands worth copying, labelled, in the order a person uses them. */
export function debugCommands(answer: DebugResponse): { label: string; text: string }[] {
  const commands = answer.commands ?? {};
  return COMMAND_LABELS.flatMap(([key, label]) => {
    const text = commands[key];
    return text ? [{ label, text }] : [];
  });
}

