// A task's log: the last lines, then a live tail over the websocket; search,
// line numbers, timestamps (when the lines carry them), download.
import { useEffect, useMemo, useRef, useState } from "react";

import { api } from "../common/api";
import { urls } from "./config";
import { appendLines, emptyLog, hasTimestamps, type LogBuffer, splitText, visibleLines } from "./logs";
import { type Connection, LiveSocket, type SocketLike, wsUrl } from "./socket";

const TAIL_LINES = 1000;
const SHOWN_LINES = 5000;

type LogState = "connecting" | "waiting" | "live" | "ended" | "fetched" | "unavailable";

export function LogView({ runId, task, attempt }: { runId: number; task: string; attempt: number }) {
  const [buffer, setBuffer] = useState<LogBuffer>(emptyLog);
  const [state, setState] = useState<LogState>("connecting");
  const [endStatus, setEndStatus] = useState<string | null>(null);
  const [query, setQuery] = useState("");
  const [showTimes, setShowTimes] = useState(true);
  const [follow, setFollow] = useState(true);
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => {
    setBuffer(emptyLog);
    setState("connecting");
    setEndStatus(null);
    // Each connection starts again from the tail: its first lines replace what is shown.
    let fresh = true;
    let fellBack = false;
    let current: SocketLike | null = null;
    const fallback = () =>
      // Without the live endpoint, read the log once over REST (not a poll).
      api<string>(urls.log(runId, task, attempt))
        .then((text) => {
          setBuffer(appendLines(emptyLog, splitText(typeof text === "string" ? text : "")));
          setState((old) => (old === "live" || old === "ended" ? old : "fetched"));
        })
        .catch(() => setState("unavailable"));
    const socket = new LiveSocket({
      url: () => wsUrl(urls.wsLog(runId, task), { attempt, tail: TAIL_LINES }),
      since: () => null,
      open: (url) => {
        current = new WebSocket(url) as unknown as SocketLike;
        return current;
      },
      onMessage: (raw) => {
        const message = raw as { type: string; lines?: string[]; batch?: number; status?: string | null };
        if (message.type === "lines") {
          const first = fresh;
          fresh = false;
          setBuffer((old) => appendLines(first ? emptyLog : old, message.lines ?? []));
          setState("live");
          // Flow control: the server sends a few batches ahead of our acknowledgements.
          if (typeof message.batch === "number" && current) {
            (current as unknown as WebSocket).send(JSON.stringify({ type: "ack", batch: message.batch }));
          }
        } else if (message.type === "waiting") {
          setState("waiting");
        } else if (message.type === "end") {
          setState("ended");
          setEndStatus(message.status ?? null);
        }
      },
      onStatus: (status: Connection) => {
        if (status === "connecting" || status === "reconnecting") fresh = true;
        if ((status === "reconnecting" || status === "refused") && !fellBack) {
          fellBack = true;
          fallback();
        }
      },
      finished: (code) => code === 1000,
    });
    socket.start();
    return () => socket.stop();
  }, [runId, task, attempt]);

  const timestamps = useMemo(() => hasTimestamps(buffer.lines), [buffer]);
  const shown = useMemo(() => visibleLines(buffer, query), [buffer, query]);
  const cut = shown.length > SHOWN_LINES ? shown.slice(shown.length - SHOWN_LINES) : shown;

  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [cut, follow]);

  return (
    <div className="fd-log" data-log-state={state}>
      <div className="fd-log__bar">
        <input
          type="search"
          placeholder="Search the log"
          value={query}
          onChange={(event) => setQuery(event.target.value)}
          aria-label="Search the log"
        />
        {timestamps ? (
          <label className="fd-check">
            <input type="checkbox" checked={showTimes} onChange={(event) => setShowTimes(event.target.checked)} /> timestamps
          </label>
        ) : null}
        <label className="fd-check">
          <input type="checkbox" checked={follow} onChange={(event) => setFollow(event.target.checked)} /> follow
        </label>
        <a className="button small" href={urls.rawLog(runId, task, attempt)}>
          Download
        </a>
        <span className="muted fd-log__state">
          {state === "live" ? "live" : null}
          {state === "waiting" ? "waiting for the attempt to start…" : null}
          {state === "connecting" ? "connecting…" : null}
          {state === "ended" ? `ended${endStatus ? ` (${endStatus})` : ""}` : null}
          {state === "fetched" ? "not live" : null}
          {state === "unavailable" ? "no log yet" : null}
          {query ? ` · ${shown.length} matching` : null}
        </span>
      </div>
      <div className="fd-log__lines" ref={box} data-testid="log-lines">
        {shown.length > cut.length ? (
          <div className="muted">… {shown.length - cut.length} earlier lines: download the whole log</div>
        ) : null}
        {buffer.first > 1 ? <div className="muted">… the first {buffer.first - 1} lines are not kept here</div> : null}
        {cut.map((line) => (
          <div className="fd-log__line" key={line.number}>
            <span className="fd-log__number">{line.number}</span>
            {timestamps && showTimes && line.time ? <span className="fd-log__time">{line.time}</span> : null}
            <span className="fd-log__text">{line.text}</span>
          </div>
        ))}
        {shown.length === 0 && state !== "connecting" ? (
          <div className="muted">{query ? "No line matches." : "No output yet."}</div>
        ) : null}
      </div>
    </div>
  );
}
