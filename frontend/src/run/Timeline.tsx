// The Gantt chart of attempts: one row per task, bars coloured by state;
// running bars grow with the clock. A fan-out is one row (its instance list
// has each one); a skipped task is a grey mark at the moment it was skipped.
// Exit handlers follow the run's tasks under their own heading, "On exit".
import { Fragment, useMemo, useState } from "react";

import { describeTask, statusColour } from "../graph/status";
import { StatusIcon } from "../graph/StatusIcon";
import type { FanOut } from "./fanouts";
import { computeGantt, ticks } from "./gantt";
import { formatDuration } from "./state";
import { splitExitHandlers } from "./subruns";
import type { Task } from "./types";

export interface TimelineProps {
  tasks: Task[];
  fanOuts?: ReadonlyMap<string, FanOut>;
  now: number;
  onSelect: (name: string) => void;
  selected: string | null;
  /** When the run's latest round began (gantt.latestRoundStart); null: never retried. */
  roundStart?: number | null;
}

export function Timeline({ tasks, fanOuts, now, onSelect, selected, roundStart = null }: TimelineProps) {
  const groups = useMemo(() => splitExitHandlers(tasks), [tasks]);
  // A retried run is shown from its latest round, the earlier ones a click away:
  // on the whole run's span the latest round's bars would be slivers.
  const round = roundStart;
  const [whole, setWhole] = useState(false);
  const since = whole ? null : round;
  const gantt = useMemo(
    () => computeGantt([...groups.main, ...groups.exit], now, fanOuts, since),
    [groups, now, fanOuts, since],
  );
  const focus =
    round !== null ? (
      <div className="fd-gantt__focus" role="group" aria-label="Timeline shows">
        <button type="button" aria-pressed={!whole} onClick={() => setWhole(false)}>
          Latest round
        </button>
        <button type="button" aria-pressed={whole} onClick={() => setWhole(true)}>
          Whole run
        </button>
      </div>
    ) : null;
  if (!gantt.rows.length)
    return (
      <>
        {focus}
        <p className="muted">{since === null ? "No attempt has started yet." : "Nothing has started in this round yet."}</p>
      </>
    );
  const span = gantt.end - gantt.start;
  const exits = new Set(groups.exit.map((task) => task.name));
  const firstExit = gantt.rows.findIndex((row) => exits.has(row.task));
  return (
    <>
    {focus}
    <div className="fd-gantt" data-testid="timeline" data-focus={since === null ? "run" : "round"}>
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
        {gantt.rows.map((row, index) => (
          <Fragment key={row.task}>
          {index === firstExit ? <ExitHeading /> : null}
          <div
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
          </Fragment>
        ))}
        {groups.exit.length && firstExit < 0 ? <ExitHeading waiting /> : null}
      </div>
    </div>
    </>
  );
}

/** The heading of the exit handlers' rows. */
function ExitHeading({ waiting = false }: { waiting?: boolean }) {
  return (
    <div className="fd-gantt__group" data-testid="timeline-exit-group">
      On exit
      <span className="muted"> — {waiting ? "the exit handlers wait for every other task to end" : "exit handlers, after every other task"}</span>
    </div>
  );
}
