// The shop's API as Mock Service Worker answers it in Vitest (msw/node intercepts the
// page's fetch): the notifications and push endpoints over in-memory rows, each change
// giving the database a new version, as the server's `unread_as_of`. A test that needs
// another answer (an error, a held one) overrides a route with `server.use(...)`.
import { http, HttpResponse, type JsonBodyType } from "msw";
import { setupServer } from "msw/node";

import type { Notification, PushSubscriptionRow } from "../../src/api/client";

export const server = setupServer();

const PAGE_SIZE = 20; // the API's
const KINDS = [
  "order_placed",
  "order_cancelled",
  "order_fulfilled",
  "message",
  "low_stock",
  "side_effect_failed",
  "duplicate_order",
  "new_device_login",
];

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

export function pushRow(id: number, endpoint: string): PushSubscriptionRow {
  return { id, endpoint, created_at: "2026-11-26T10:00:00Z" };
}

export interface Recorded {
  method: string;
  path: string;
  query: string;
  csrf: string | null;
  body: string | null;
}

/** The shop's database, and what was asked of it. */
export class Shop {
  rows: Notification[] = [];
  pushRows: PushSubscriptionRow[] = [];
  preferences: Record<string, Record<string, boolean>> = Object.fromEntries(
    KINDS.map((kind) => [kind, { in_app: true, email: true, push: false }]),
  );
  publicKey = "BAAB-_8";
  requests: Recorded[] = [];
  /** "GET /api/push/key/", ...: requests in order, beside what else a test logs there. */
  readonly log: string[];
  /** Each change gives the database a new version. */
  private changes = 0;

  constructor(
    given: { rows?: Notification[]; pushRows?: PushSubscriptionRow[]; log?: string[] } = {},
  ) {
    this.rows = given.rows ?? [];
    this.pushRows = given.pushRows ?? [];
    this.log = given.log ?? [];
  }

  /** A notification committed (its frame is the test's to send). */
  add(row: Notification): Notification {
    this.rows.push(row);
    this.changed();
    return row;
  }

  /** Marked read elsewhere (another tab). */
  read(id: number): void {
    const row = this.rows.find((n) => n.id === id);
    if (row) Object.assign(row, { is_read: true, read_at: "2026-11-26T10:01:00Z" });
    this.changed();
  }

  changed(): void {
    this.changes += 1;
  }

  /** The unread count and its version, as the server answers them now. */
  unread(): { unread: number; unread_as_of: string } {
    const unread = this.rows.filter((n) => !n.is_read).length;
    return { unread, unread_as_of: String(this.changes).padStart(22, "0") };
  }

  /** A live frame of `row` as the server sends it: with the count now. */
  frame(row: Notification): object {
    return { type: "notification", ...row, ...this.unread() };
  }

  page(): JsonBodyType {
    const all = [...this.rows].sort((a, b) => b.id - a.id);
    const next = all.length > PAGE_SIZE ? "https://shop.test/api/notifications/?page=2" : null;
    const results = all.slice(0, PAGE_SIZE);
    return { count: all.length, next, previous: null, results, ...this.unread() };
  }

  /** The routes, answering from this database; each request recorded. */
  listen(): void {
    server.resetHandlers(...this.handlers());
    server.events.removeAllListeners();
    server.events.on("request:start", ({ request }) => {
      const url = new URL(request.url);
      const recorded: Recorded = {
        method: request.method,
        path: url.pathname,
        query: url.search,
        csrf: request.headers.get("X-CSRFToken"),
        body: null,
      };
      this.requests.push(recorded);
      this.log.push(`${request.method} ${url.pathname}`);
      if (request.method !== "GET")
        void request
          .clone()
          .text()
          .then((b) => (recorded.body = b));
    });
  }

  private handlers() {
    return [
      http.get("*/api/notifications/", () => HttpResponse.json(this.page())),
      http.post("*/api/notifications/:id/read/", ({ params }) => {
        const row = this.rows.find((n) => n.id === Number(params.id));
        if (!row) return HttpResponse.json({ detail: "Not found." }, { status: 404 });
        if (!row.is_read) this.read(row.id);
        return HttpResponse.json({ ...row, ...this.unread() });
      }),
      http.post("*/api/notifications/read-all/", async ({ request }) => {
        const body = (await request.json()) as { up_to_id?: number };
        const marking = this.rows.filter((n) => !n.is_read && n.id <= (body.up_to_id ?? Infinity));
        marking.forEach((n) => Object.assign(n, { is_read: true }));
        this.changed();
        return HttpResponse.json({ marked: marking.length, ...this.unread() });
      }),
      http.get("*/api/notifications/preferences/", () => HttpResponse.json(this.preferences)),
      http.put("*/api/notifications/preferences/", async ({ request }) => {
        // As the API: some kinds' channels merged; a staff kind's in_app cannot go off.
        const change = (await request.json()) as Record<string, Record<string, boolean>>;
        if (change.side_effect_failed?.in_app === false) {
          const reason = ["This kind must reach you in the app."];
          return HttpResponse.json({ side_effect_failed: reason }, { status: 400 });
        }
        for (const [kind, channels] of Object.entries(change)) {
          this.preferences[kind] = { ...this.preferences[kind], ...channels };
        }
        this.changed();
        return HttpResponse.json(this.preferences);
      }),
      http.get("*/api/push/key/", () => HttpResponse.json({ public_key: this.publicKey })),
      http.get("*/api/push/subscriptions/", ({ request }) => {
        const endpoint = new URL(request.url).searchParams.get("endpoint");
        const results = this.pushRows.filter((r) => endpoint === null || r.endpoint === endpoint);
        return HttpResponse.json({ count: results.length, next: null, previous: null, results });
      }),
      http.post("*/api/push/subscriptions/", async ({ request }) => {
        const { endpoint } = (await request.json()) as { endpoint: string };
        const known = this.pushRows.find((r) => r.endpoint === endpoint);
        if (known) return HttpResponse.json(known);
        const row = pushRow(Math.max(0, ...this.pushRows.map((r) => r.id)) + 1, endpoint);
        this.pushRows.push(row);
        return HttpResponse.json(row, { status: 201 });
      }),
      http.delete("*/api/push/subscriptions/:id/", ({ params }) => {
        const before = this.pushRows.length;
        this.pushRows = this.pushRows.filter((r) => r.id !== Number(params.id));
        if (this.pushRows.length === before) {
          return HttpResponse.json({ detail: "Not found." }, { status: 404 });
        }
        return new HttpResponse(null, { status: 204 });
      }),
    ];
  }
}

/** A shop over these rows, whose API answers from now on. */
export function serve(given: ConstructorParameters<typeof Shop>[0] = {}): Shop {
  const shop = new Shop(given);
  shop.listen();
  return shop;
}

/** `method path` answers `status` from now on (an error the test wants). */
export function failing(method: "get" | "post" | "put" | "delete", path: string, status: number) {
  server.use(http[method](`*${path}`, () => HttpResponse.json({ detail: "no" }, { status })));
}
