// Behind a fan-out's node: its instances, a page at a time, filtered by
// state; each opens the usual task drawer. The counts, filters and paging
// are fanouts.ts's.
import { useId } from "react";

import { fanSummary } from "../graph/fanCounts";
import { statusColour } from "../graph/status";
import {
  compactItem,
  type FanOut,
  fanOutSeconds,
  filterCount,
  fullItem,
  INSTANCE_FILTERS,
  type InstanceFilter,
  instancePage,
} from "./fanouts";
import { formatDuration, secondsBetween } from "./state";
import { StatusBadge } from "./ui";

export interface FanOutPanelProps {
  fan: FanOut;
  now: number;
  filter: InstanceFilter;
  page: number;
  onFilter: (filter: InstanceFilter) => void;
  onPage: (page: number) => void;
  onOpen: (instance: string) => void;
  onClose: () => void;
  retryFromHere?: () => void;
}

export function FanOutPanel({ fan, now, filter, page, onFilter, onPage, onOpen, onClose, retryFromHere }: FanOutPanelProps) {
  const ids = useId();
  const task = fan.task;
  const shown = instancePage(fan.instances, filter, page);
  const why = task.reason && task.reason !== task.status;
  return (
    <aside className="fd-drawer fd-fanout" aria-label={`Fan-out ${fan.name}`} data-fanout={fan.name}>
      <div className="fd-drawer__head">
        <h2>
          {fan.name} <StatusBadge status={task.status} /> <span className="muted">×{fan.counts.total}</span>
        </h2>
        <button type="button" className="link" onClick={onClose} aria-label="Close the fan-out">
          ✕
        </button>
      </div>
      <dl className="facts">
        <dt>Instances</dt>
        <dd data-testid="fanout-summary">{fanSummary(fan.counts)}</dd>
        <dt>Duration</dt>
        <dd>{formatDuration(fanOutSeconds(fan, now))}</dd>
        {task.dependencies.length ? (
          <>
            <dt>Depends on</dt>
            <dd>{task.dependencies.join(", ")}</dd>
          </>
        ) : null}
        {why || (task.message && task.status !== "Expanded") ? (
          <>
            <dt>Why</dt>
            <dd className="pre-line">
              {why ? <strong>{task.reason}</strong> : null}
              {why && task.message ? ": " : null}
              {task.message}
            </dd>
          </>
        ) : null}
      </dl>
      <div className="fd-fanout__counts fd-fan" aria-hidden="true">
        <div className="fd-fan__bar">
          {(["succeeded", "skipped", "failed", "running"] as const).map((bucket) =>
            fan.counts[bucket] ? (
              <span
                key={bucket}
                style={{
                  width: `${(fan.counts[bucket] / Math.max(fan.counts.total, 1)) * 100}%`,
                  background: statusColour(bucket === "succeeded" ? "Succeeded" : bucket === "skipped" ? "Skipped" : bucket === "failed" ? "Failed" : "Running"),
                }}
              />
            ) : null,
          )}
        </div>
      </div>
      {retryFromHere ? (
        <div className="actions fd-drawer__actions">
          <button type="button" onClick={retryFromHere}>
            Retry from here
          </button>
        </div>
      ) : null}
      <div className="fd-filters" role="group" aria-label="Show instances">
        {INSTANCE_FILTERS.map(({ value, label }) => {
          const count = filterCount(fan, value);
          if (value === "skipped" && !count) return null;
          return (
            <button
              key={value}
              type="button"
              aria-pressed={filter === value}
              data-filter={value}
              onClick={() => {
                onFilter(value);
                onPage(0);
              }}
            >
              {label} <span className="fd-filters__count">{count}</span>
            </button>
          );
        })}
      </div>
      <div className="fd-drawer__body">
        {shown.total === 0 ? (
          <p className="muted">{fan.instances.length ? "No instance in this state." : "Not expanded yet: its instances appear when it starts."}</p>
        ) : (
          <>
            <table className="table fd-instances" aria-describedby={`${ids}-range`} data-testid="instances">
              <thead>
                <tr>
                  <th scope="col">#</th>
                  <th scope="col">Item</th>
                  <th scope="col">Status</th>
                  <th scope="col">Attempts</th>
                  <th scope="col">Took</th>
                </tr>
              </thead>
              <tbody>
                {shown.rows.map((instance) => (
                  <tr key={instance.name} data-instance={instance.name} data-status={instance.status} onClick={() => onOpen(instance.name)}>
                    <td>
                      <button
                        type="button"
                        className="small fd-open"
                        aria-label={`Open ${instance.name}`}
                        onClick={(event) => {
                          event.stopPropagation();
                          onOpen(instance.name);
                        }}
                      >
                        {instance.fan_index}
                      </button>
                    </td>
                    <td>
                      <code title={fullItem(instance.fan_item)} className={instance.fan_item === undefined ? "muted" : undefined}>
                        {compactItem(instance.fan_item)}
                      </code>
                    </td>
                    <td title={instance.message || undefined}>
                      <StatusBadge status={instance.status} />
                      {instance.reason && instance.reason !== instance.status ? <span className="muted"> {instance.reason}</span> : null}
                    </td>
                    <td>{instance.attempts_count}</td>
                    <td className="nowrap">{formatDuration(secondsBetween(instance.started_at, instance.finished_at, now))}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <div className="fd-pager">
              <span id={`${ids}-range`} data-testid="instances-range">
                {shown.from}–{shown.to} of {shown.total}
              </span>
              {shown.pages > 1 ? (
                <>
                  <button type="button" className="small" disabled={shown.page === 0} onClick={() => onPage(shown.page - 1)}>
                    Previous
                  </button>
                  <button type="button" className="small" disabled={shown.page >= shown.pages - 1} onClick={() => onPage(shown.page + 1)}>
                    Next
                  </button>
                </>
              ) : null}
            </div>
          </>
        )}
      </div>
    </aside>
  );
}
