// A person's notifications as an open tab holds them: the list (newest first), the unread
// count, how they arrive (live.ts), the last read receipt. Framework-free, so that any
// view can subscribe; useNotifications is React's.
import { type Api, type Notification, isSignedOut, must } from "../api/client";
import { type LiveOptions, type Receipt, type Transport, connectLive } from "./live";

export interface FeedState {
  notifications: Notification[];
  unread: number;
  transport: Transport;
  /** What the transport says, for people: "live (WebSocket)", "reconnecting…". */
  status: string;
  receipt: Receipt | null;
  /** False until the first page has come. */
  loaded: boolean;
  /** The last action that failed, for people: "Not marked read: HTTP 404". */
  problem: string | null;
}

export class NotificationFeed {
  private state: FeedState = {
    notifications: [],
    unread: 0,
    transport: "connecting",
    status: "connecting…",
    receipt: null,
    loaded: false,
    problem: null,
  };
  private readonly listeners = new Set<() => void>();
  /** Where a (re)connection resumes; null until a page came (the server sends from now). */
  private lastId: number | null = null;
  private disconnect: (() => void) | null = null;
  /** Below this id a notification missing from the page the tab holds may still be in
   * its count (the page was full); at or above, the page shows all its count saw. */
  private countedBelow = 0;
  /** Refreshes started and the latest answered: an older answer never overwrites a newer. */
  private refreshes = 0;
  private answered = 0;

  constructor(
    private readonly api: Api,
    private readonly live: LiveOptions,
  ) {}

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): FeedState => this.state;

  /** The first page, then live: connecting after it means resuming after its newest. */
  start(): void {
    if (this.disconnect) return;
    let stopped = false;
    this.disconnect = () => {
      stopped = true;
    };
    const connect = () => {
      if (stopped) return;
      this.disconnect = connectLive(
        {
          lastId: () => this.lastId,
          opened: () => void this.refresh().catch(() => undefined),
          notification: (notification) => this.receive(notification),
          receipt: (receipt) => this.set({ receipt }),
          transport: (transport, status) => this.set({ transport, status }),
          poll: () => this.refresh(),
        },
        this.live,
      );
    };
    this.refresh().then(connect, (error) => (isSignedOut(error) ? this.signOut() : connect()));
  }

  stop(): void {
    this.disconnect?.();
    this.disconnect = null;
  }

  /** The newest page and the unread count it was read with (the source of truth). */
  refresh = async (): Promise<void> => {
    const started = ++this.refreshes;
    const page = await must(this.api.GET("/api/notifications/"));
    if (started < this.answered) return;
    this.answered = started;
    const ids = page.results.map((n) => n.id);
    // Resume after this page only if nothing lies between it and what the tab had: after
    // more than a page of notifications, the server's catch-up sends the rest in order.
    const joins =
      this.lastId === null || page.next === null || ids.some((id) => id <= this.lastId!);
    if (joins) this.lastId = Math.max(this.lastId ?? 0, ...ids);
    const fresh = new Map(page.results.map((n) => [n.id, n]));
    const kept = this.state.notifications.filter((n) => !fresh.has(n.id));
    this.countedBelow = page.next === null ? 0 : Math.min(...ids);
    // What came live while the page was on its way was not in the page's snapshot.
    const since = kept.filter((n) => this.uncounted(n)).length;
    this.set({
      notifications: newestFirst([...fresh.values(), ...kept]),
      unread: page.unread + since,
      loaded: true,
    });
  };

  markRead = (id: number): Promise<void> =>
    this.attempt("Not marked read", async () => {
      const shown = this.state.notifications.find((n) => n.id === id);
      if (!shown || shown.is_read) return;
      const path = { notification_id: id };
      const read = await must(
        this.api.POST("/api/notifications/{notification_id}/read/", { params: { path } }),
      );
      this.set({
        notifications: this.state.notifications.map((n) => (n.id === id ? read : n)),
        unread: Math.max(0, this.state.unread - 1),
      });
    });

  /** Both mark what the tab held when it asked (up_to_id): one written since, which the
   * person has not seen, stays unread. */
  markAllRead = (): Promise<void> =>
    this.attempt("Not marked read", async () => {
      const upTo = Math.max(0, ...this.state.notifications.map((n) => n.id));
      const body = upTo > 0 ? { up_to_id: upTo } : {};
      await must(this.api.POST("/api/notifications/read-all/", { body }));
      const now = new Date().toISOString();
      const notifications = this.state.notifications.map((n) =>
        n.is_read || n.id > upTo ? n : { ...n, is_read: true, read_at: now },
      );
      this.set({ notifications, unread: notifications.filter((n) => !n.is_read).length });
    });

  private async attempt(what: string, action: () => Promise<void>): Promise<void> {
    try {
      await action();
      this.set({ problem: null });
    } catch (error) {
      if (isSignedOut(error)) this.signOut();
      this.set({ problem: `${what}: ${(error as Error).message}` });
    }
  }

  private signOut(): void {
    this.stop();
    this.set({ transport: "signed-out", status: "signed out" });
  }

  private receive(notification: Notification): void {
    this.lastId = Math.max(this.lastId ?? 0, notification.id);
    if (this.state.notifications.some((n) => n.id === notification.id)) return;
    this.set({
      notifications: newestFirst([notification, ...this.state.notifications]),
      unread: this.state.unread + (this.uncounted(notification) ? 1 : 0),
      loaded: true,
    });
  }

  private uncounted(notification: Notification): boolean {
    return !notification.is_read && notification.id >= this.countedBelow;
  }

  private set(change: Partial<FeedState>): void {
    this.state = { ...this.state, ...change };
    for (const listener of this.listeners) listener();
  }
}

function newestFirst(notifications: Notification[]): Notification[] {
  return notifications.sort((a, b) => b.id - a.id);
}
