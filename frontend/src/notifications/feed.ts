// A person's notifications as an open tab holds them: the list (newest first), the unread
// count, how they arrive (live.ts), the last read receipt. Framework-free, so that any
// view can subscribe; useNotifications is React's.
import { type Api, type Notification, must } from "../api/client";
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
}

export class NotificationFeed {
  private state: FeedState = {
    notifications: [],
    unread: 0,
    transport: "connecting",
    status: "connecting…",
    receipt: null,
    loaded: false,
  };
  private readonly listeners = new Set<() => void>();
  private lastId = 0;
  private disconnect: (() => void) | null = null;

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
          notification: (notification) => this.receive(notification),
          receipt: (receipt) => this.set({ receipt }),
          transport: (transport, status) => this.set({ transport, status }),
          poll: () => this.refresh(),
        },
        this.live,
      );
    };
    this.refresh().then(connect, (error: { signedOut?: boolean }) =>
      error?.signedOut ? this.set({ transport: "signed-out", status: "signed out" }) : connect(),
    );
  }

  stop(): void {
    this.disconnect?.();
    this.disconnect = null;
  }

  /** The newest page and the unread count from the API (the source of truth). */
  refresh = async (): Promise<void> => {
    const [page, count] = await Promise.all([
      must(this.api.GET("/api/notifications/")),
      must(this.api.GET("/api/notifications/unread-count/")),
    ]);
    const fresh = new Map(page.results.map((n) => [n.id, n]));
    const kept = this.state.notifications.filter((n) => !fresh.has(n.id));
    this.lastId = Math.max(this.lastId, ...fresh.keys());
    this.set({ notifications: newestFirst([...fresh.values(), ...kept]), unread: count.unread, loaded: true });
  };

  markRead = async (id: number): Promise<void> => {
    const shown = this.state.notifications.find((n) => n.id === id);
    if (!shown || shown.is_read) return;
    const read = await must(this.api.POST("/api/notifications/{notification_id}/read/", { params: { path: { notification_id: id } } }));
    this.set({
      notifications: this.state.notifications.map((n) => (n.id === id ? read : n)),
      unread: Math.max(0, this.state.unread - 1),
    });
  };

  markAllRead = async (): Promise<void> => {
    await must(this.api.POST("/api/notifications/read-all/"));
    const now = new Date().toISOString();
    this.set({
      notifications: this.state.notifications.map((n) => (n.is_read ? n : { ...n, is_read: true, read_at: now })),
      unread: 0,
    });
  };

  private receive(notification: Notification): void {
    this.lastId = Math.max(this.lastId, notification.id);
    if (this.state.notifications.some((n) => n.id === notification.id)) return;
    this.set({
      notifications: newestFirst([notification, ...this.state.notifications]),
      unread: this.state.unread + (notification.is_read ? 0 : 1),
      loaded: true,
    });
  }

  private set(change: Partial<FeedState>): void {
    this.state = { ...this.state, ...change };
    for (const listener of this.listeners) listener();
  }
}

function newestFirst(notifications: Notification[]): Notification[] {
  return notifications.sort((a, b) => b.id - a.id);
}
