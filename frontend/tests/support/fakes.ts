// Stand-ins for the browser's WebSocket and EventSource (jsdom has neither a server nor a
// network), driven by the test: open, send a frame, drop. And the shop's API as a fetch.
import type { Notification } from "../../src/api/client";

export class FakeSocket {
  static all: FakeSocket[] = [];
  static last(): FakeSocket {
    const socket = FakeSocket.all.at(-1);
    if (!socket) throw new Error("no WebSocket was opened");
    return socket;
  }
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: string }) => void) | null = null;
  onclose: ((event: { code: number }) => void) | null = null;
  closedByPage = false;
  readonly url: URL;
  constructor(url: string | URL) {
    this.url = new URL(url);
    FakeSocket.all.push(this);
  }
  open(): void {
    this.onopen?.();
  }
  frame(data: object): void {
    this.onmessage?.({ data: JSON.stringify(data) });
  }
  drop(code = 1006): void {
    this.onclose?.({ code });
  }
  close(): void {
    this.closedByPage = true;
  }
}

export class FakeEventSource {
  static readonly CLOSED = 2;
  static all: FakeEventSource[] = [];
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  readyState = 0;
  closedByPage = false;
  readonly url: URL;
  private readonly listeners = new Map<string, (event: { data: string }) => void>();
  constructor(url: string | URL) {
    this.url = new URL(url);
    FakeEventSource.all.push(this);
  }
  addEventListener(type: string, listener: (event: { data: string }) => void): void {
    this.listeners.set(type, listener);
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.();
  }
  event(type: string, data: object): void {
    this.listeners.get(type)?.({ data: JSON.stringify(data) });
  }
  /** An HTTP error: the browser gives up on this one. */
  fail(): void {
    this.readyState = FakeEventSource.CLOSED;
    this.onerror?.();
  }
  close(): void {
    this.closedByPage = true;
  }
}

export function installFakes(): void {
  FakeSocket.all = [];
  FakeEventSource.all = [];
  globalThis.WebSocket = FakeSocket as unknown as typeof WebSocket;
  globalThis.EventSource = FakeEventSource as unknown as typeof EventSource;
}

export function notification(id: number, fields: Partial<Notification> = {}): Notification {
  return {
    id,
    kind: "order_placed",
    message: `Order #${id} confirmed`,
    link: "",
    is_read: false,
    read_at: null,
    created_at: "2026-11-26T10:00:00Z",
    ...fields,
  };
}

const PAGE_SIZE = 20; // the API's

/** The notifications API over `rows` (the database): what a fetch to it answers. */
export class ShopApi {
  requests: { method: string; path: string; csrf: string | null; body: unknown }[] = [];
  status = 200;
  constructor(public rows: Notification[] = []) {}

  preferences: Record<string, Record<string, boolean>> = Object.fromEntries(
    [
      "order_placed",
      "message",
      "low_stock",
      "side_effect_failed",
      "duplicate_order",
      "new_device_login",
    ].map((kind) => [kind, { in_app: true, email: true, push: false }]),
  );

  /** As the API: PUT merges some kinds' channels; a staff kind's in_app cannot go off. */
  private unread(): number {
    return this.rows.filter((n) => !n.is_read).length;
  }

  private preferencesAnswer(request: Request, body: string | null): Response {
    if (request.method === "PUT") {
      const change = JSON.parse(body ?? "{}") as Record<string, Record<string, boolean>>;
      if (change.side_effect_failed?.in_app === false) {
        return json({ side_effect_failed: ["This kind must reach you in the app."] }, 400);
      }
      for (const [kind, channels] of Object.entries(change)) {
        this.preferences[kind] = { ...this.preferences[kind], ...channels };
      }
    }
    return json(this.preferences);
  }

  fetch = async (input: Request | string | URL): Promise<Response> => {
    const request = input instanceof Request ? input : new Request(input);
    const path = new URL(request.url).pathname;
    const body = request.method === "GET" ? null : await request.text();
    this.requests.push({
      method: request.method,
      path,
      csrf: request.headers.get("X-CSRFToken"),
      body,
    });
    if (this.status !== 200) return json({ detail: "no" }, this.status);
    const read = path.match(/^\/api\/notifications\/(\d+)\/read\/$/);
    if (read) {
      const row = this.rows.find((n) => n.id === Number(read[1]));
      if (!row) return json({ detail: "Not found." }, 404);
      Object.assign(row, { is_read: true, read_at: "2026-11-26T10:01:00Z" });
      return json({ ...row, unread: this.unread() });
    }
    if (path === "/api/notifications/read-all/") {
      const upTo = (JSON.parse(body || "{}") as { up_to_id?: number }).up_to_id ?? Infinity;
      const marking = this.rows.filter((n) => !n.is_read && n.id <= upTo);
      marking.forEach((n) => Object.assign(n, { is_read: true }));
      return json({ marked: marking.length, unread: this.unread() });
    }
    if (path === "/api/notifications/preferences/") return this.preferencesAnswer(request, body);
    if (path === "/api/notifications/unread-count/")
      return json({ unread: this.rows.filter((n) => !n.is_read).length });
    if (path === "/api/notifications/") {
      const all = [...this.rows].sort((a, b) => b.id - a.id);
      const next = all.length > PAGE_SIZE ? `${new URL(request.url).origin}${path}?page=2` : null;
      const unread = all.filter((n) => !n.is_read).length;
      return json({
        count: all.length,
        next,
        previous: null,
        results: all.slice(0, PAGE_SIZE),
        unread,
      });
    }
    return json({ detail: "Not found." }, 404);
  };
}

function json(body: object, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}
