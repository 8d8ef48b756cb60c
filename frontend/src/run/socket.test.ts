import { describe, expect, it } from "vitest";

import { backoff, type Connection, LiveSocket, type SocketLike } from "./socket";

class FakeSocket implements SocketLike {
  onopen: SocketLike["onopen"] = null;
  onmessage: SocketLike["onmessage"] = null;
  onclose: SocketLike["onclose"] = null;
  onerror: SocketLike["onerror"] = null;
  closed: number | null = null;
  constructor(public url: string) {}
  close(code?: number) {
    this.closed = code ?? 1000;
  }
}

function harness(options: { fatal?: (code: number) => boolean } = {}) {
  const sockets: FakeSocket[] = [];
  const timers: { callback: () => void; ms: number }[] = [];
  const statuses: Connection[] = [];
  const messages: unknown[] = [];
  let seq: number | null = 42;
  const live = new LiveSocket({
    url: (since) => `ws://x/ws/runs/7/${since === null ? "" : `?since=${since}`}`,
    since: () => seq,
    onMessage: (message) => {
      messages.push(message);
      const events = (message as { events?: { seq: number }[] }).events ?? [];
      for (const event of events) seq = event.seq;
    },
    onStatus: (status) => statuses.push(status),
    open: (url) => {
      const socket = new FakeSocket(url);
      sockets.push(socket);
      return socket;
    },
    schedule: (callback, ms) => timers.push({ callback, ms }),
    cancel: () => {},
    random: () => 0.5,
    ...options,
  });
  return { live, sockets, timers, statuses, messages };
}

describe("LiveSocket", () => {
  it("reconnects after a drop asking for events since the last one applied", () => {
    const { live, sockets, timers, statuses } = harness();
    live.start();
    expect(sockets[0].url).toBe("ws://x/ws/runs/7/?since=42");
    sockets[0].onopen!({});
    sockets[0].onmessage!({ data: JSON.stringify({ type: "events", events: [{ seq: 43 }, { seq: 44 }] }) });
    sockets[0].onclose!({ code: 1006 });
    expect(statuses).toEqual(["connecting", "live", "reconnecting"]);
    expect(timers).toHaveLength(1);
    timers[0].callback();
    expect(sockets[1].url).toBe("ws://x/ws/runs/7/?since=44");
  });

  it("waits longer after each failure, and starts over once connected", () => {
    const { live, sockets, timers } = harness();
    live.start();
    sockets[0].onclose!({ code: 1006 });
    timers[0].callback();
    sockets[1].onclose!({ code: 1006 });
    timers[1].callback();
    sockets[2].onclose!({ code: 1006 });
    expect(timers[1].ms).toBeGreaterThan(timers[0].ms);
    expect(timers[2].ms).toBeGreaterThan(timers[1].ms);
    timers[2].callback();
    sockets[3].onopen!({});
    sockets[3].onclose!({ code: 1006 });
    expect(timers[3].ms).toBeLessThanOrEqual(BACKOFF_CAP);
    expect(timers[3].ms).toBe(timers[0].ms);
  });

  it("gives up when the server refuses the run", () => {
    const { live, sockets, timers, statuses } = harness();
    live.start();
    sockets[0].onclose!({ code: 4404 });
    expect(timers).toHaveLength(0);
    expect(statuses.at(-1)).toBe("refused");
  });

  it("does not come back after stop", () => {
    const { live, sockets, timers } = harness();
    live.start();
    live.stop();
    expect(sockets[0].closed).toBe(1000);
    expect(timers).toHaveLength(0);
  });

  it("resyncs at once from the last seq after a gap", () => {
    const { live, sockets } = harness();
    live.start();
    sockets[0].onmessage!({ data: JSON.stringify({ type: "events", events: [{ seq: 50 }] }) });
    live.resync();
    expect(sockets[0].closed).toBe(1000);
    expect(sockets[1].url).toBe("ws://x/ws/runs/7/?since=50");
  });

  it("ignores a message that is not JSON", () => {
    const { live, sockets, messages } = harness();
    live.start();
    sockets[0].onmessage!({ data: "not json" });
    expect(messages).toEqual([]);
  });
});

const BACKOFF_CAP = 15000 * 1.25;

describe("backoff", () => {
  it("grows and is capped, with jitter around the base", () => {
    expect(backoff(0, () => 0.5)).toBe(500);
    expect(backoff(3, () => 0.5)).toBe(4000);
    expect(backoff(99, () => 1)).toBeLessThanOrEqual(BACKOFF_CAP);
    expect(backoff(0, () => 0)).toBe(375);
  });
});
