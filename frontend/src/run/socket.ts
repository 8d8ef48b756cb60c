// A websocket that comes back: after a drop it reconnects with backoff, asking
// for what it missed (`since` the last applied seq). No polling anywhere.

export type Connection = "connecting" | "live" | "reconnecting" | "closed" | "refused";

export interface SocketLike {
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason?: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  close(code?: number): void;
}

export interface LiveSocketOptions {
  /** The URL for a (re)connection; `since` is null for a first one with no snapshot. */
  url: (since: number | null) => string;
  /** The last seq applied, or null to ask for a snapshot. */
  since: () => number | null;
  onMessage: (message: unknown) => void;
  onStatus?: (status: Connection, detail?: string) => void;
  open?: (url: string) => SocketLike;
  schedule?: (callback: () => void, ms: number) => unknown;
  cancel?: (handle: unknown) => void;
  /** Close codes after which trying again cannot help (4401 anonymous, 4403, 4404). */
  fatal?: (code: number) => boolean;
  /** A clean close that means "done" (the log endpoint's 1000 after `end`). */
  finished?: (code: number) => boolean;
  random?: () => number;
}

export const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];

export function backoff(failures: number, random: () => number = Math.random): number {
  const base = BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)];
  return Math.round(base * (0.75 + random() * 0.5));
}

export function wsUrl(path: string, query: Record<string, string | number | null | undefined> = {}): string {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== null && value !== undefined && value !== "") params.set(key, String(value));
  }
  const search = params.toString();
  return `${scheme}://${window.location.host}${path}${search ? `?${search}` : ""}`;
}

export class LiveSocket {
  private socket: SocketLike | null = null;
  private failures = 0;
  private timer: unknown = null;
  private stopped = false;
  private readonly options: Required<Omit<LiveSocketOptions, "onStatus">> & Pick<LiveSocketOptions, "onStatus">;

  constructor(options: LiveSocketOptions) {
    this.options = {
      open: (url) => new WebSocket(url) as unknown as SocketLike,
      schedule: (callback, ms) => setTimeout(callback, ms),
      cancel: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
      fatal: (code) => code === 4401 || code === 4403 || code === 4404,
      finished: () => false,
      random: Math.random,
      ...options,
    };
  }

  start(): void {
    this.stopped = false;
    this.connect("connecting");
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.options.cancel(this.timer);
    this.timer = null;
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onclose = null;
      socket.close(1000);
    }
    this.options.onStatus?.("closed");
  }

  /** Drop the connection and come back at once with `since` (after a gap). */
  resync(): void {
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onclose = null;
      socket.onmessage = null;
      socket.close(1000);
    }
    this.connect("reconnecting");
  }

  private connect(status: Connection): void {
    if (this.stopped) return;
    this.timer = null;
    this.options.onStatus?.(status);
    const socket = this.options.open(this.options.url(this.options.since()));
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.failures = 0;
      this.options.onStatus?.("live");
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      let message: unknown;
      try {
        message = JSON.parse(String(event.data));
      } catch {
        return;
      }
      this.options.onMessage(message);
    };
    socket.onerror = () => {};
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped) return;
      if (this.options.fatal(event.code)) {
        this.stopped = true;
        this.options.onStatus?.("refused", event.reason || `closed with code ${event.code}`);
        return;
      }
      if (this.options.finished(event.code)) {
        this.stopped = true;
        this.options.onStatus?.("closed");
        return;
      }
      const delay = backoff(this.failures, this.options.random);
      this.failures += 1;
      this.options.onStatus?.("reconnecting");
      this.timer = this.options.schedule(() => this.connect("reconnecting"), delay);
    };
  }
}
