// Stand-ins for the browser's Web Push (jsdom has no service worker, PushManager nor
// Notification): one registration at most, holding one subscription at most, and the
// permission prompt's answer. They write to `log`, as the shop's API does (shop.ts), so a
// test can say what happened before what.
import { vi } from "vitest";

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
