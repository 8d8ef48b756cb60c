// Completing a reference where `{{` is typed: is the caret inside an open
// `{{...`, which completions match what follows the braces, and the text
// once one is picked. Pure: the field in Completions.tsx holds the state;
// tested in completion.test.ts.
import type { Completion } from "./dataflow";

export interface OpenReference {
  /** Where the `{{` starts. */
  start: number;
  /** What was typed after it, spaces trimmed ("tasks.ex"). */
  query: string;
}

/** The reference being typed at `caret`: a `{{` before it with only a
 * reference's characters between, or null. */
export function openReference(text: string, caret: number): OpenReference | null {
  const before = text.slice(0, caret);
  const start = before.lastIndexOf("{{");
  if (start < 0) return null;
  const typed = before.slice(start + 2);
  if (!/^\s*[A-Za-z0-9_.-]*$/.test(typed)) return null;
  return { start, query: typed.trim() };
}

/** The completions that contain `query` (any case), those starting with it
 * first, at most `limit`. */
export function matchCompletions(list: Completion[], query: string, limit = 50): Completion[] {
  const wanted = query.toLowerCase();
  const starting: Completion[] = [];
  const containing: Completion[] = [];
  for (const completion of list) {
    const label = completion.label.toLowerCase();
    if (label.startsWith(wanted)) starting.push(completion);
    else if (label.includes(wanted)) containing.push(completion);
  }
  return [...starting, ...containing].slice(0, limit);
}

/** `text` with the reference typed at `caret` replaced by `completion`: the
 * `{{`, what follows it up to the caret, and the rest of a reference already
 * closed after the caret (`{{tasks.a.out|puts.x}}`), so braces never double. */
export function insertCompletion(
  text: string,
  caret: number,
  open: OpenReference,
  completion: Completion,
): { text: string; caret: number } {
  const closing = /^[A-Za-z0-9_.-]*\s*\}\}/.exec(text.slice(caret));
  const end = caret + (closing ? closing[0].length : 0);
  return {
    text: text.slice(0, open.start) + completion.text + text.slice(end),
    caret: open.start + completion.text.length,
  };
}
