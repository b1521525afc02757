// How new notifications reach an open tab: a WebSocket, resumed after the last id the tab
// has; Server-Sent Events when WebSockets never open (a proxy that refuses them); while
// neither is up it says "polling", and the tab polls the API (useNotifications). The
// database is the source of truth: every (re)connection names the last id seen and the
// server sends what came after it, so nothing is lost.
import type { Notification } from "../api/client";
import type { Count } from "./inbox";

export type Transport = "connecting" | "websocket" | "sse" | "polling" | "signed-out";

/** The other side read this person's messages about an order. */
export interface Receipt {
  order: number;
  message_ids: number[];
  read_at: string;
}

export interface LiveHandlers {
  /** The highest notification id the tab has: where a (re)connection resumes; null
   * before the tab has loaded any (the server then sends from now on). */
  lastId: () => number | null;
  /** A socket or a stream opened: what happened meanwhile elsewhere (reads in another
   * tab, the count) is worth asking the API again. */
  opened: () => void;
  /** A notification, with the person's unread count after it. */
  notification: (notification: Notification & Count) => void;
  receipt: (receipt: Receipt) => void;
  transport: (transport: Transport, detail: string) => void;
}

export interface LiveOptions {
  /** The site, e.g. "https://shop.example"; the WebSocket's scheme follows it. */
  origin: string;
  /** How often the tab polls while neither is up (said, not done, here). */
  pollMs?: number;
  /** The first wait before a dropped WebSocket reconnects; doubled each failure. */
  reconnectMs?: number;
  maxReconnectMs?: number;
  /** A socket open this long was a success: the next drop waits reconnectMs again. */
  stableMs?: number;
}

/** Sockets that never opened, in a row, before the tab takes WebSockets for refused. */
const REFUSALS_BEFORE_FALLBACK = 2;

type Frame = ({ type: "notification" } & Notification & Count) | ({ type: "receipt" } & Receipt);

/** Connect, and keep connected until the returned function is called. */
export function connectLive(handlers: LiveHandlers, options: LiveOptions): () => void {
  const pollMs = options.pollMs ?? 10_000;
  const firstWait = options.reconnectMs ?? 2_000;
  const maxWait = options.maxReconnectMs ?? 30_000;
  const stableMs = options.stableMs ?? 10_000;
  let closed = false;
  let socketEverOpened = false;
  let refusals = 0;
  let wait = firstWait;
  let socket: WebSocket | null = null;
  let stream: EventSource | null = null;
  let retryTimer: ReturnType<typeof setTimeout> | null = null;

  const say = (transport: Transport, detail: string) => {
    if (!closed) handlers.transport(transport, detail);
  };
  const receive = (frame: Frame) => {
    if (frame.type === "notification") handlers.notification(frame);
    else if (frame.type === "receipt") handlers.receipt(frame);
  };
  const polling = (why: string) =>
    say("polling", `${why} (checking every ${Math.round(pollMs / 1000)} s)`);
  const retry = (connect: () => void, after: number) => {
    if (!closed) retryTimer = setTimeout(connect, after);
  };
  const signedOut = () => {
    say("signed-out", "signed out");
    close();
  };

  const resumeUrl = (path: string, parameter: string) => {
    const url = new URL(path, options.origin);
    const lastId = handlers.lastId();
    if (lastId !== null) url.searchParams.set(parameter, String(lastId));
    return url;
  };

  function connectSocket() {
    const url = resumeUrl("/ws/notifications/", "last_id");
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const current = new WebSocket(url);
    socket = current;
    let openedAt: number | null = null;
    current.onopen = () => {
      openedAt = Date.now();
      socketEverOpened = true;
      refusals = 0;
      say("websocket", "live (WebSocket)");
      handlers.opened();
    };
    current.onmessage = (event) => receive(JSON.parse(event.data as string) as Frame);
    current.onclose = (event) => {
      if (closed || socket !== current) return;
      if (event.code === 4401) return signedOut();
      // Never opened, twice in a row, and never did: something on the way refuses them.
      if (openedAt === null && !socketEverOpened && ++refusals >= REFUSALS_BEFORE_FALLBACK) {
        return connectStream();
      }
      // A socket that stayed up was a success; one that drops at once backs off further.
      if (openedAt !== null && Date.now() - openedAt >= stableMs) wait = firstWait;
      polling("reconnecting…");
      retry(connectSocket, wait);
      wait = Math.min(wait * 2, maxWait);
    };
  }

  // The browser reconnects an EventSource by itself, sending Last-Event-ID; when it gives
  // up (an HTTP error), the tab polls and opens a new one later.
  function connectStream() {
    const current = new EventSource(resumeUrl("/api/notifications/stream/", "last_event_id"));
    stream = current;
    current.onopen = () => {
      say("sse", "live (Server-Sent Events)");
      handlers.opened();
    };
    const frame = (type: Frame["type"]) => (event: MessageEvent) =>
      receive({ type, ...JSON.parse(event.data as string) } as Frame);
    current.addEventListener("notification", frame("notification"));
    current.addEventListener("receipt", frame("receipt"));
    current.onerror = () => {
      if (closed || stream !== current) return;
      polling("reconnecting…");
      if (current.readyState === EventSource.CLOSED) retry(connectStream, pollMs);
    };
  }

  function close() {
    closed = true;
    if (retryTimer !== null) clearTimeout(retryTimer);
    socket?.close();
    stream?.close();
  }

  say("connecting", "connecting…");
  connectSocket();
  return close;
}
