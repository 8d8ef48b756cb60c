// A line diff (Myers' O(ND) algorithm) laid out side by side, for comparing
// two versions' YAML.

export type DiffKind = "same" | "removed" | "added" | "changed";

export interface DiffRow {
  kind: DiffKind;
  left: { number: number; text: string } | null;
  right: { number: number; text: string } | null;
}

type Op = { op: "=" | "-" | "+"; a: number; b: number };

function myers(a: string[], b: string[]): Op[] {
  const n = a.length;
  const m = b.length;
  const max = n + m;
  const offset = max + 1;
  const v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  for (let d = 0; d <= Math.min(max, MAX_EDITS); d += 1) {
    // Only the diagonals reachable in d steps: the trace stays O(D²).
    trace.push(v.slice(offset - d, offset + d + 1));
    for (let k = -d; k <= d; k += 2) {
      let x: number;
      if (k === -d || (k !== d && v[offset + k - 1] < v[offset + k + 1])) x = v[offset + k + 1];
      else x = v[offset + k - 1] + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x += 1;
        y += 1;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) return backtrack(trace, a, b, d);
    }
  }
  // Too different to be worth aligning: everything removed, then added.
  return [
    ...a.map((_, i): Op => ({ op: "-", a: i, b: 0 })),
    ...b.map((_, j): Op => ({ op: "+", a: n, b: j })),
  ];
}

const MAX_EDITS = 4000;

function backtrack(trace: Int32Array[], a: string[], b: string[], depth: number): Op[] {
  const ops: Op[] = [];
  let x = a.length;
  let y = b.length;
  for (let d = depth; d > 0; d -= 1) {
    const v = trace[d];
    const at = (k: number) => v[k + d];
    const k = x - y;
    const prevK = k === -d || (k !== d && at(k - 1) < at(k + 1)) ? k + 1 : k - 1;
    const prevX = at(prevK);
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      x -= 1;
      y -= 1;
      ops.push({ op: "=", a: x, b: y });
    }
    if (x === prevX) {
      y -= 1;
      ops.push({ op: "+", a: x, b: y });
    } else {
      x -= 1;
      ops.push({ op: "-", a: x, b: y });
    }
  }
  while (x > 0 && y > 0) {
    x -= 1;
    y -= 1;
    ops.push({ op: "=", a: x, b: y });
  }
  return ops.reverse();
}

export function diffLines(leftText: string, rightText: string): DiffRow[] {
  const a = leftText.split("\n");
  const b = rightText.split("\n");
  // Trim the common head and tail first: versions usually differ in a few lines.
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head += 1;
  let tail = 0;
  while (
    tail < a.length - head &&
    tail < b.length - head &&
    a[a.length - 1 - tail] === b[b.length - 1 - tail]
  ) {
    tail += 1;
  }
  const rows: DiffRow[] = [];
  const same = (i: number, j: number) =>
    rows.push({ kind: "same", left: { number: i + 1, text: a[i] }, right: { number: j + 1, text: b[j] } });
  for (let i = 0; i < head; i += 1) same(i, i);
  const midA = a.slice(head, a.length - tail);
  const midB = b.slice(head, b.length - tail);
  let removed: DiffRow[] = [];
  let added: DiffRow[] = [];
  const flush = () => {
    // Pair removed and added lines into "changed" rows, side by side.
    const count = Math.max(removed.length, added.length);
    for (let i = 0; i < count; i += 1) {
      const left = removed[i]?.left ?? null;
      const right = added[i]?.right ?? null;
      rows.push({ kind: left && right ? "changed" : left ? "removed" : "added", left, right });
    }
    removed = [];
    added = [];
  };
  for (const op of myers(midA, midB)) {
    if (op.op === "=") {
      flush();
      same(head + op.a, head + op.b);
    } else if (op.op === "-") {
      removed.push({ kind: "removed", left: { number: head + op.a + 1, text: midA[op.a] }, right: null });
    } else {
      added.push({ kind: "added", left: null, right: { number: head + op.b + 1, text: midB[op.b] } });
    }
  }
  flush();
  for (let t = tail; t > 0; t -= 1) same(a.length - t, b.length - t);
  return rows;
}
