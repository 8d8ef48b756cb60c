// A daemon attempt in the task drawer (docs/spec.md, "Daemons"): where it
// serves once ready (its Service's cluster IP and DNS name on Kubernetes,
// 127.0.0.1 locally), the ports it declared, and that the run's end stops it.
import { useEffect, useState } from "react";

import { api } from "../common/api";
import { urls } from "./config";
import { type DaemonAddress, daemonAddress, isDaemon } from "./daemon";
import type { TaskOutputs } from "./outputs";

export function DaemonInfo({ runId, task, attempt, status }: { runId: number; task: string; attempt: number; status: string }) {
  const [daemon, setDaemon] = useState<boolean>(false);
  const [address, setAddress] = useState<DaemonAddress | null>(null);
  useEffect(() => {
    setDaemon(false);
    setAddress(null);
    if (!attempt) return;
    let live = true;
    api<{ request: Record<string, unknown> }>(urls.request(runId, task, attempt))
      .then(async (asked) => {
        if (!live || !isDaemon(asked.request)) return;
        setDaemon(true);
        if (status !== "Succeeded") return;
        const outputs = await api<TaskOutputs>(urls.outputs(runId, task, attempt));
        if (live) setAddress(daemonAddress(asked.request, outputs.parameters));
      })
      .catch(() => setDaemon(false));
    return () => {
      live = false;
    };
  }, [runId, task, attempt, status]);
  if (!daemon) return null;
  return (
    <section className="fd-job" data-testid="daemon-address" aria-label="Daemon">
      <dl className="facts">
        <dt>Daemon</dt>
        {address ? (
          <dd data-field="address">
            serves at <code>{address.ip}</code>
            {address.service && address.service !== address.ip ? (
              <>
                {" "}
                (<code>{address.service}</code>)
              </>
            ) : null}
            , port{address.ports.length === 1 ? "" : "s"} {address.ports.join(", ")}; stopped when the run ends
          </dd>
        ) : (
          <dd data-field="address">{status === "Succeeded" ? "ready" : "not ready yet"}: dependants start once it is</dd>
        )}
      </dl>
    </section>
  );
}
