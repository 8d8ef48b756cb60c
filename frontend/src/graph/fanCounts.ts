// A fan-out's instances counted in the four words its node shows: running,
// succeeded, failed, queued (and skipped, rarely). Pure; tested with the run
// page's grouping in run/fanouts.test.ts.

export interface FanCounts {
  /** Instances the fan-out has (its `fan_out`). */
  total: number;
  running: number;
  succeeded: number;
  skipped: number;
  /** Did not succeed: Failed, Error, UpstreamFailed, Cancelled (the server's "failed"). */
  failed: number;
  /** Not started yet: Pending or Queued (and any not heard of yet). */
  queued: number;
}

const BUCKET: Record<string, keyof Omit<FanCounts, "total" | "queued">> = {
  Running: "running",
  Retrying: "running",
  Cancelling: "running",
  Succeeded: "succeeded",
  Skipped: "skipped",
  Failed: "failed",
  Error: "failed",
  UpstreamFailed: "failed",
  Cancelled: "failed",
};

/** The bucket an instance in `status` counts in. */
export function fanBucket(status: string): "running" | "succeeded" | "skipped" | "failed" | "queued" {
  return BUCKET[status] ?? "queued";
}

/** Counts by state (as collapse.ts keeps them) into the node's buckets. */
export function fanCounts(byStatus: Record<string, number>, total: number): FanCounts {
  const counts: FanCounts = { total, running: 0, succeeded: 0, skipped: 0, failed: 0, queued: 0 };
  let known = 0;
  for (const [status, count] of Object.entries(byStatus)) {
    const bucket = BUCKET[status];
    if (bucket) {
      counts[bucket] += count;
      known += count;
    }
  }
  counts.queued = Math.max(0, total - known);
  return counts;
}

/** "20 running · 150 succeeded · 30 queued of 200": the buckets that are not
 * empty, failures always named once there are any. */
export function fanSummary(counts: FanCounts): string {
  const parts: string[] = [];
  if (counts.running) parts.push(`${counts.running} running`);
  if (counts.succeeded) parts.push(`${counts.succeeded} succeeded`);
  if (counts.failed) parts.push(`${counts.failed} failed`);
  if (counts.skipped) parts.push(`${counts.skipped} skipped`);
  if (counts.queued) parts.push(`${counts.queued} queued`);
  return `${parts.join(" · ") || "none"} of ${counts.total}`;
}
