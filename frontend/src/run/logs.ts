// The log viewer's buffer: bounded, numbered lines; search; optional leading
// timestamps hidden or shown. Pure.

export const MAX_LINES = 20_000;

export interface LogBuffer {
  /** Number of the first line kept (lines before it were dropped to stay bounded). */
  first: number;
  lines: string[];
}

export const emptyLog: LogBuffer = { first: 1, lines: [] };

/** Append lines, dropping the oldest beyond `max`; line numbers stay those of the log. */
export function appendLines(buffer: LogBuffer, lines: string[], max: number = MAX_LINES): LogBuffer {
  if (lines.length === 0) return buffer;
  const all = buffer.lines.concat(lines);
  const drop = Math.max(0, all.length - max);
  return { first: buffer.first + drop, lines: drop ? all.slice(drop) : all };
}

/** The lines of a whole log fetched as text (a trailing newline ends the last line). */
export function splitText(text: string): string[] {
  if (!text) return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

const TIMESTAMP = /^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\s/;

/** A line's leading ISO timestamp (as Kubernetes writes with timestamps on), if any. */
export function splitTimestamp(line: string): { time: string; text: string } {
  const match = TIMESTAMP.exec(line);
  if (!match) return { time: "", text: line };
  return { time: match[1], text: line.slice(match[0].length) };
}

export function hasTimestamps(lines: string[]): boolean {
  const sample = lines.slice(0, 20);
  return sample.length > 0 && sample.every((line) => TIMESTAMP.test(line));
}

export interface LogLine {
  number: number;
  time: string;
  text: string;
}

/** The lines to show: numbered, and only those matching `query` (any case) when given. */
export function visibleLines(buffer: LogBuffer, query: string): LogLine[] {
  const needle = query.trim().toLowerCase();
  const out: LogLine[] = [];
  buffer.lines.forEach((line, index) => {
    if (needle && !line.toLowerCase().includes(needle)) return;
    const { time, text } = splitTimestamp(line);
    out.push({ number: buffer.first + index, time, text });
  });
  return out;
}
