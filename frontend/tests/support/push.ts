// Stand-ins for the browser's Web Push (jsdom has no service worker, PushManager nor
// Notification): one registration at most, holding one subscription at most, and the
// permission prompt's answer. And the push API over `rows` (the database) as a fetch.
// Both write to `log`, so a test can say what happened before what.
import { vi } from "vitest";

import type { PushSubscriptionRow } from "../../src/api/client";

export class FakePushSubscription {
  unsubscribed = false;
  /** A push service that never answers the unsubscribe. */
  hangs = false;
  constructor(
    private readonly manager: FakePushManager,
    readonly endpoint: string,
  ) {}
  toJSON() {
    return { endpoint: this.endpoint, expirationTime: null, keys: { p256dh: "BP256", auth: "au" } };
  }
  unsubscribe(): Promise<boolean> {
    if (this.hangs) return new Promise(() => undefined);
    this.manager.log.push("unsubscribe");
    this.unsubscribed = true;
    this.manager.subscription = null;
    return Promise.resolve(true);
  }
}

export class FakePushManager {
  subscription: FakePushSubscription | null = null;
  subscribedWith: PushSubscriptionOptionsInit[] = [];
  constructor(readonly log: string[]) {}
  getSubscription(): Promise<FakePushSubscription | null> {
    return Promise.resolve(this.subscription);
  }
  subscribe(options: PushSubscriptionOptionsInit): Promise<FakePushSubscription> {
    this.log.push("subscribe");
    this.subscribedWith.push(options);
    this.subscription ??= new FakePushSubscription(this, "https://push.example/browser-new");
    return Promise.resolve(this.subscription);
  }
}

/** This browser: navigator.serviceWorker, PushManager and Notification, as the page sees them. */
export class BrowserPush {
  readonly log: string[] = [];
  registrations: { url: string; scope: string | undefined }[] = [];
  pushManager: FakePushManager | null = null;
  /** What the permission prompt answers (a promise: the prompt is still open). */
  answer: NotificationPermission | Promise<NotificationPermission> = "granted";

  readonly serviceWorker = {
    register: (url: string, options?: RegistrationOptions) => {
      this.registrations.push({ url, scope: options?.scope });
      this.pushManager ??= new FakePushManager(this.log);
      return Promise.resolve({ scope: options?.scope, pushManager: this.pushManager });
    },
    getRegistration: (scope: string) =>
      Promise.resolve(
        this.pushManager && scope === "/" ? { scope, pushManager: this.pushManager } : undefined,
      ),
  };

  /** A service worker registered earlier, holding a subscription to `endpoint`. */
  subscribed(endpoint: string): FakePushSubscription {
    this.pushManager ??= new FakePushManager(this.log);
    this.pushManager.subscription = new FakePushSubscription(this.pushManager, endpoint);
    return this.pushManager.subscription;
  }

  get subscription(): FakePushSubscription | null {
    return this.pushManager?.subscription ?? null;
  }
}

/** Gives this window Web Push; `uninstallPush` (after each test) takes it away again. */
export function installPush(): BrowserPush {
  const browser = new BrowserPush();
  Object.defineProperty(navigator, "serviceWorker", {
    value: browser.serviceWorker,
    configurable: true,
  });
  vi.stubGlobal("PushManager", FakePushManager);
  const notification = {
    permission: "default" as NotificationPermission,
    requestPermission: async () => {
      browser.log.push("permission");
      notification.permission = await browser.answer;
      return notification.permission;
    },
  };
  vi.stubGlobal("Notification", notification);
  return browser;
}

export function uninstallPush(): void {
  Reflect.deleteProperty(navigator, "serviceWorker");
  vi.unstubAllGlobals();
}

export function pushRow(id: number, endpoint: string): PushSubscriptionRow {
  return { id, endpoint, created_at: "2026-11-26T10:00:00Z" };
}

const PAGE_SIZE = 20; // the API's

/** The push API over `rows`: the key, the list by pages, subscribe (one row per endpoint), delete. */
export class PushApi {
  requests: { method: string; path: string; query: string; csrf: string | null; body: unknown }[] =
    [];
  /** An answer other than 200 for one method: { POST: 400 }. */
  status: Record<string, number> = {};
  publicKey = "BAAB-_8";
  constructor(
    public rows: PushSubscriptionRow[] = [],
    readonly log: string[] = [],
  ) {}

  private list(url: URL): Response {
    const page = Number(url.searchParams.get("page") ?? "1");
    const endpoint = url.searchParams.get("endpoint");
    if (endpoint !== null) {
      const results = this.rows.filter((r) => r.endpoint === endpoint);
      return json({ count: results.length, next: null, previous: null, results });
    }
    const results = this.rows.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
    if (page > 1 && results.length === 0) return json({ detail: "Invalid page." }, 404);
    const more = this.rows.length > page * PAGE_SIZE;
    const next = more ? `${url.origin}${url.pathname}?page=${page + 1}` : null;
    return json({ count: this.rows.length, next, previous: null, results });
  }

  private subscribe(body: string | null): Response {
    const { endpoint } = JSON.parse(body ?? "{}") as { endpoint: string };
    const known = this.rows.find((r) => r.endpoint === endpoint);
    if (known) return json(known);
    const row = pushRow(Math.max(0, ...this.rows.map((r) => r.id)) + 1, endpoint);
    this.rows.push(row);
    return json(row, 201);
  }

  fetch = async (input: Request | string | URL): Promise<Response> => {
    const request = input instanceof Request ? input : new Request(input);
    const url = new URL(request.url);
    const body = request.method === "GET" ? null : await request.text();
    const csrf = request.headers.get("X-CSRFToken");
    this.requests.push({
      method: request.method,
      path: url.pathname,
      query: url.search,
      csrf,
      body,
    });
    this.log.push(`${request.method} ${url.pathname}`);
    const status = this.status[request.method];
    if (status) return json({ detail: "no" }, status);
    if (url.pathname === "/api/push/key/") return json({ public_key: this.publicKey });
    if (url.pathname === "/api/push/subscriptions/") {
      return request.method === "POST" ? this.subscribe(body) : this.list(url);
    }
    const one = url.pathname.match(/^\/api\/push\/subscriptions\/(\d+)\/$/);
    if (one && request.method === "DELETE") {
      const before = this.rows.length;
      this.rows = this.rows.filter((r) => r.id !== Number(one[1]));
      return this.rows.length < before ? new Response(null, { status: 204 }) : notFound();
    }
    return notFound();
  };
}

function notFound(): Response {
  return json({ detail: "Not found." }, 404);
}

function json(body: object, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}
