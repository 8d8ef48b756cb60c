// A kind: Job attempt in the task drawer (docs/spec.md, "Jobs"): its
// settings with the two retry budgets side by side, and its shards — one per
// completion index, each with the log its pods left (archived when the Job
// ended; the attempt's own log has a line per pod).
import { useEffect, useState } from "react";

import { api } from "../common/api";
import { urls } from "./config";

interface JobSettings {
  completions?: number;
  parallelism?: number;
  completion_mode?: string;
  backoff_limit?: number;
  active_deadline_seconds?: number | null;
}

interface Shard {
  index: string;
  pods: string[];
}

/** The shards the attempt's log lists ("index 2: pod NAME succeeded"). */
export function shardsOf(log: string): Shard[] {
  const found = new Map<string, string[]>();
  for (const line of log.split("\n")) {
    const match = /^index (\d+): pod (\S+) (.+)$/.exec(line);
    if (!match) continue;
    const pods = found.get(match[1]) ?? [];
    pods.push(`${match[2]} ${match[3]}`);
    found.set(match[1], pods);
  }
  return [...found.entries()].sort((a, b) => Number(a[0]) - Number(b[0])).map(([index, pods]) => ({ index, pods }));
}

async function text(path: string): Promise<string> {
  const response = await fetch(path, { credentials: "same-origin" });
  return response.ok ? response.text() : "";
}

export function JobShards({ runId, task, attempt, ended }: { runId: number; task: string; attempt: number; ended: boolean }) {
  const [job, setJob] = useState<{ settings: JobSettings; retries: number } | null>(null);
  const [shards, setShards] = useState<Shard[]>([]);
  const [open, setOpen] = useState<string | null>(null);
  const [shardLog, setShardLog] = useState("");
  useEffect(() => {
    setJob(null);
    setShards([]);
    setOpen(null);
    if (!attempt) return;
    api<{ request: Record<string, unknown> }>(urls.request(runId, task, attempt))
      .then((asked) => {
        const settings = asked.request?.job as JobSettings | null | undefined;
        const retry = asked.request?.retry as { limit?: number } | undefined;
        if (settings) setJob({ settings, retries: retry?.limit ?? 0 });
      })
      .catch(() => setJob(null));
  }, [runId, task, attempt]);
  useEffect(() => {
    if (!job || !ended) return;
    text(urls.log(runId, task, attempt)).then((log) => setShards(shardsOf(log)));
  }, [job, ended, runId, task, attempt]);
  useEffect(() => {
    if (open === null) return;
    setShardLog("");
    text(`${urls.log(runId, task, attempt)}&index=${open}`).then(setShardLog);
  }, [open, runId, task, attempt]);
  if (!job) return null;
  const { settings, retries } = job;
  const backoff = settings.backoff_limit ?? 0;
  return (
    <section className="fd-job" data-testid="job-shards" aria-label="Job">
      <dl className="facts">
        <dt>Job</dt>
        <dd data-field="job">
          {settings.completions ?? 1} completion{(settings.completions ?? 1) === 1 ? "" : "s"}, {settings.parallelism ?? 1} at once
          {settings.completion_mode === "Indexed" ? ", indexed" : ""}
        </dd>
        <dt>Retries</dt>
        <dd data-field="retries">
          backoffLimit {backoff} (failed pods within this Job) × Flowdeck retry {retries} (a new Job each): up to{" "}
          {(backoff + 1) * (retries + 1)} pods per completion
        </dd>
      </dl>
      {ended ? (
        <div className="fd-row" role="group" aria-label="Shards">
          {shards.map((shard) => (
            <button
              type="button"
              key={shard.index}
              data-shard={shard.index}
              aria-pressed={open === shard.index}
              title={shard.pods.join("\n")}
              onClick={() => setOpen(open === shard.index ? null : shard.index)}
            >
              #{shard.index} {shard.pods[shard.pods.length - 1].split(" ").slice(1).join(" ")}
            </button>
          ))}
        </div>
      ) : (
        <p className="muted">Its shards' logs are archived when the Job ends.</p>
      )}
      {open !== null ? (
        <pre className="fd-request" data-testid="shard-log">
          {shardLog}
        </pre>
      ) : null}
    </section>
  );
}
