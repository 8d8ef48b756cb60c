// The Gantt chart of attempts: one row per task, bars coloured by state;
// running bars grow with the clock.
import { useMemo } from "react";

import { statusColour } from "../graph/status";
import { computeGantt, ticks } from "./gantt";
import { formatDuration } from "./state";
import type { Task } from "./types";

export function Timeline({ tasks, now, onSelect, selected }: { tasks: Task[]; now: number; onSelect: (name: string) => void; selected: string | null }) {
  const gantt = useMemo(() => computeGantt(tasks, now), [tasks, now]);
  if (!gantt.rows.length) return <p className="muted">No attempt has started yet.</p>;
  const span = gantt.end - gantt.start;
  return (
    <div className="fd-gantt" data-testid="timeline">
      <div className="fd-gantt__axis">
        <div className="fd-gantt__label" />
        <div className="fd-gantt__track">
          {ticks(gantt.start, gantt.end).map((offset) => (
            <span key={offset} className="fd-gantt__tick" style={{ left: `${(offset / Math.max(span, 1)) * 100}%` }}>
              +{formatDuration(offset / 1000)}
            </span>
          ))}
        </div>
      </div>
      <div className="fd-gantt__rows">
        {gantt.rows.map((row) => (
          <div
            key={row.task}
            className={`fd-gantt__row${row.task === selected ? " fd-gantt__row--selected" : ""}`}
            onClick={() => onSelect(row.task)}
          >
            <div className="fd-gantt__label" title={row.task}>
              {row.task}
            </div>
            <div className="fd-gantt__track">
              {row.bars.map((bar) => (
                <span
                  key={bar.attempt}
                  className={`fd-gantt__bar${bar.running ? " fd-gantt__bar--running" : ""}`}
                  data-status={bar.status}
                  title={`${row.task} #${bar.attempt}: ${bar.status}, ${formatDuration((bar.end - bar.start) / 1000)}`}
                  style={{
                    left: `${bar.left * 100}%`,
                    width: `${bar.width * 100}%`,
                    background: statusColour(bar.status === "Launching" || bar.status === "Pending" ? "Queued" : bar.status),
                  }}
                />
              ))}
            </div>
          </div>
        ))}
      </div>
    </div>
  );
}
