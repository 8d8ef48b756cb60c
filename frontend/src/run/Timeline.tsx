// The Gantt chart of attempts: one row per task, bars coloured by state;
// running bars grow with the clock. A fan-out is one row (its instance list
// has each one); a skipped task is a grey mark at the moment it was skipped.
import { useMemo } from "react";

import { describeTask, statusColour } from "../graph/status";
import { StatusIcon } from "../graph/StatusIcon";
import type { FanOut } from "./fanouts";
import { computeGantt, ticks } from "./gantt";
import { formatDuration } from "./state";
import type { Task } from "./types";

export interface TimelineProps {
  tasks: Task[];
  fanOuts?: ReadonlyMap<string, FanOut>;
  now: number;
  onSelect: (name: string) => void;
  selected: string | null;
}

export function Timeline({ tasks, fanOuts, now, onSelect, selected }: TimelineProps) {
  const gantt = useMemo(() => computeGantt(tasks, now, fanOuts), [tasks, now, fanOuts]);
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
            data-row={row.task}
            onClick={() => onSelect(row.task)}
          >
            <div className="fd-gantt__label" title={row.task}>
              {row.task}
              {row.instances !== undefined ? <span className="fd-gantt__count"> ×{row.instances}</span> : null}
            </div>
            <div className="fd-gantt__track">
              {row.bars.map((bar) => (
                <span
                  key={bar.attempt}
                  className={`fd-gantt__bar${bar.running ? " fd-gantt__bar--running" : ""}`}
                  data-status={bar.status}
                  title={
                    bar.attempt === 0
                      ? `${row.task}: ${row.instances} instances, ${bar.status}, ${formatDuration((bar.end - bar.start) / 1000)}`
                      : `${row.task} #${bar.attempt}: ${bar.status}, ${formatDuration((bar.end - bar.start) / 1000)}`
                  }
                  style={{
                    left: `${bar.left * 100}%`,
                    width: `${bar.width * 100}%`,
                    background: statusColour(bar.status === "Launching" || bar.status === "Pending" ? "Queued" : bar.status),
                  }}
                />
              ))}
              {row.mark ? (
                <span
                  className="fd-gantt__mark"
                  data-status={row.mark.status}
                  style={{ left: `${row.mark.left * 100}%` }}
                  title={`${describeTask(row.task, row.mark.status, row.mark.reason, row.mark.message)} (+${formatDuration((row.mark.at - gantt.start) / 1000)})`}
                >
                  <StatusIcon status={row.mark.status} size={11} />
                  <span className="fd-gantt__mark-text">{row.mark.status}</span>
                </span>
              ) : null}
            </div>
          </div>
        ))}
      </div>
    </div>
  );
}
