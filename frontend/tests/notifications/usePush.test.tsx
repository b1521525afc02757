import { act, cleanup, renderHook, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { createApi } from "../../src/api/client";
import { LOGOUT_PATIENCE_MS, useLogoutEndsPush, usePush } from "../../src/notifications/usePush";
import { type BrowserPush, installPush, uninstallPush } from "../support/push";
import { failing, pushRow, serve } from "../support/shop";

const ORIGIN = "https://shop.test";
const HERE = "https://push.example/this-browser";
const ELSEWHERE = "https://push.example/another-browser";

let browser: BrowserPush;

/** usePush over the shop's API, which a test serves first (serve). */
function hook() {
  const api = createApi({ baseUrl: ORIGIN });
  return renderHook(() => usePush(api));
}

beforeEach(() => {
  browser = installPush();
  document.cookie = "csrftoken=the-token";
});
afterEach(() => {
  cleanup();
  uninstallPush();
});

describe("on only when the server has this browser's row", () => {
  it("a browser subscription the server has a row of shows on", async () => {
    browser.subscribed(HERE);
    serve({ pushRows: [pushRow(1, ELSEWHERE), pushRow(2, HERE)] });
    const { result } = hook();
    expect(result.current.state).toBe("unknown");
    await waitFor(() => expect(result.current.state).toBe("on"));
  });

  it("a browser subscription whose row the server deleted (a logout elsewhere) shows off", async () => {
    browser.subscribed(HERE);
    const server = serve({ pushRows: [pushRow(1, ELSEWHERE)] });
    const { result } = hook();
    await waitFor(() => expect(result.current.state).toBe("off"));
    expect(server.requests.map((r) => r.path)).toEqual(["/api/push/subscriptions/"]);
  });

  it("asks for this browser's row by its endpoint, however many browsers came before", async () => {
    browser.subscribed(HERE);
    const others = Array.from({ length: 20 }, (_, i) => pushRow(i + 1, `${ELSEWHERE}/${i}`));
    const server = serve({ pushRows: [...others, pushRow(21, HERE)] });
    const { result } = hook();
    await waitFor(() => expect(result.current.state).toBe("on"));
    const asked = server.requests.map((r) => [r.path, r.query]);
    expect(asked).toEqual([["/api/push/subscriptions/", `?endpoint=${encodeURIComponent(HERE)}`]]);
  });

  it("a browser with no subscription shows off, whatever the server has", async () => {
    const server = serve({ pushRows: [pushRow(1, HERE)] });
    const { result } = hook();
    await waitFor(() => expect(result.current.state).toBe("off"));
    expect(server.requests).toHaveLength(0);
  });

  it("a list the server cannot give (503) shows off, not on", async () => {
    browser.subscribed(HERE);
    serve({ pushRows: [pushRow(1, HERE)] });
    failing("get", "/api/push/subscriptions/", 503);
    const { result } = hook();
    await waitFor(() => expect(result.current.state).toBe("off"));
  });

  it("a browser without Web Push is unsupported, and turning on says so", async () => {
    uninstallPush();
    const server = serve();
    const { result } = hook();
    expect(result.current.state).toBe("unsupported");
    await act(() => result.current.turnOn());
    expect(result.current.state).toBe("off");
    expect(result.current.status).toBe("Push is not on: this browser has no Web Push");
    expect(server.requests).toHaveLength(0);
  });
});

describe("turning on", () => {
  it("registers /sw.js for the site, subscribes with the server's key, and posts it", async () => {
    const server = serve({ pushRows: [], log: browser.log });
    const { result } = hook();
    await waitFor(() => expect(result.current.state).toBe("off"));
    await act(() => result.current.turnOn());
    expect(result.current.state).toBe("on");
    expect(result.current.status).toBe("This device gets push notifications.");
    expect(browser.registrations).toEqual([{ url: "/sw.js", scope: "/" }]);
    const [options] = browser.pushManager?.subscribedWith ?? [];
    expect(options?.userVisibleOnly).toBe(true);
    // "BAAB-_8" is base64url: - and _ for + and /, without its padding.
    expect([...(options?.applicationServerKey as Uint8Array)]).toEqual([4, 0, 1, 251, 255]);
    const post = server.requests.find((r) => r.method === "POST");
    expect(post).toMatchObject({ path: "/api/push/subscriptions/", csrf: "the-token" });
    expect(JSON.parse(String(post?.body))).toEqual({
      endpoint: "https://push.example/browser-new",
      keys: { p256dh: "BP256", auth: "au" },
    });
    expect(server.pushRows.map((r) => r.endpoint)).toEqual(["https://push.example/browser-new"]);
    expect(browser.log).toEqual([
      "permission",
      "GET /api/push/key/",
      "subscribe",
      "POST /api/push/subscriptions/",
    ]);
  });

  it("is busy while the permission prompt is open", async () => {
    let answer: (permission: NotificationPermission) => void = () => undefined;
    browser.answer = new Promise((resolve) => (answer = resolve));
    serve();
    const { result } = hook();
    await waitFor(() => expect(result.current.state).toBe("off"));
    let turningOn: Promise<void> = Promise.resolve();
    act(() => {
      turningOn = result.current.turnOn();
    });
    expect(result.current.state).toBe("busy");
    await act(async () => {
      answer("granted");
      await turningOn;
    });
    expect(result.current.state).toBe("on");
  });

  it("permission refused: off, with the reason, and nothing subscribed nor sent", async () => {
    browser.answer = "denied";
    const server = serve();
    const { result } = hook();
    await waitFor(() => expect(result.current.state).toBe("off"));
    await act(() => result.current.turnOn());
    expect(result.current.state).toBe("off");
    expect(result.current.status).toBe("Push is not on: not allowed");
    expect(browser.subscription).toBeNull();
    expect(server.requests).toHaveLength(0);
  });

  it("a subscription the server refuses is ended in the browser too, so it does not look on", async () => {
    serve();
    failing("post", "/api/push/subscriptions/", 400);
    const { result } = hook();
    await waitFor(() => expect(result.current.state).toBe("off"));
    await act(() => result.current.turnOn());
    expect(result.current.state).toBe("off");
    expect(result.current.status).toBe("Push is not on: HTTP 400");
    expect(browser.log.slice(-2)).toEqual(["subscribe", "unsubscribe"]);
    expect(browser.subscription).toBeNull();
  });

  it("without the server's key (push not configured) nothing is subscribed", async () => {
    serve();
    const { result } = hook();
    await waitFor(() => expect(result.current.state).toBe("off"));
    failing("get", "/api/push/key/", 503);
    await act(() => result.current.turnOn());
    expect(result.current.state).toBe("off");
    expect(result.current.status).toBe("Push is not on: HTTP 503");
    expect(browser.log).not.toContain("subscribe");
  });
});

describe("turning off", () => {
  it("deletes the server's row first, then unsubscribes the browser", async () => {
    const subscription = browser.subscribed(HERE);
    const server = serve({ pushRows: [pushRow(1, ELSEWHERE), pushRow(7, HERE)], log: browser.log });
    const { result } = hook();
    await waitFor(() => expect(result.current.state).toBe("on"));
    browser.log.length = 0;
    await act(() => result.current.turnOff());
    expect(result.current.state).toBe("off");
    expect(result.current.status).toBe("This device gets no push notifications.");
    expect(browser.log).toEqual([
      "GET /api/push/subscriptions/",
      "DELETE /api/push/subscriptions/7/",
      "unsubscribe",
    ]);
    expect(server.requests.at(-1)?.csrf).toBe("the-token");
    expect(server.pushRows.map((r) => r.endpoint)).toEqual([ELSEWHERE]); // only this browser's
    expect(subscription.unsubscribed).toBe(true);
  });

  it("a row the server no longer has: the browser is unsubscribed, nothing deleted", async () => {
    const subscription = browser.subscribed(HERE);
    const server = serve({ pushRows: [pushRow(1, ELSEWHERE)] });
    const { result } = hook();
    await waitFor(() => expect(result.current.state).toBe("off"));
    await act(() => result.current.turnOff());
    expect(result.current.state).toBe("off");
    expect(subscription.unsubscribed).toBe(true);
    expect(server.requests.filter((r) => r.method === "DELETE")).toHaveLength(0);
    expect(server.pushRows).toHaveLength(1);
  });

  it("a delete the server refuses leaves it on, the browser still subscribed", async () => {
    const subscription = browser.subscribed(HERE);
    const server = serve({ pushRows: [pushRow(7, HERE)] });
    const { result } = hook();
    await waitFor(() => expect(result.current.state).toBe("on"));
    failing("delete", "/api/push/subscriptions/:id/", 503);
    await act(() => result.current.turnOff());
    expect(result.current.state).toBe("on");
    expect(result.current.status).toBe("Push is still on: HTTP 503");
    expect(subscription.unsubscribed).toBe(false);
    expect(server.pushRows).toHaveLength(1);
  });
});

function logoutForm() {
  const form = document.createElement("form");
  form.id = "logout";
  document.body.append(form);
  const submitted = vi.spyOn(form, "submit").mockImplementation(() => undefined);
  const submit = () => form.dispatchEvent(new SubmitEvent("submit", { cancelable: true }));
  return { form, submitted, submit };
}

describe("at logout", () => {
  afterEach(() => {
    document.getElementById("logout")?.remove();
    vi.useRealTimers();
  });

  it("unsubscribes this browser, then lets the logout go on", async () => {
    const subscription = browser.subscribed(HERE);
    const { submitted, submit } = logoutForm();
    let unsubscribedFirst: boolean | null = null;
    submitted.mockImplementation(() => (unsubscribedFirst = subscription.unsubscribed));
    renderHook(() => useLogoutEndsPush());
    expect(submit()).toBe(false); // held back until the browser has unsubscribed
    await waitFor(() => expect(submitted).toHaveBeenCalledTimes(1));
    expect(unsubscribedFirst).toBe(true);
  });

  it("waits for a push service that does not answer 3 s at most, then logs out", async () => {
    vi.useFakeTimers();
    browser.subscribed(HERE).hangs = true;
    const { submitted, submit } = logoutForm();
    renderHook(() => useLogoutEndsPush());
    submit();
    await vi.advanceTimersByTimeAsync(LOGOUT_PATIENCE_MS - 1);
    expect(submitted).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(submitted).toHaveBeenCalledTimes(1);
    expect(LOGOUT_PATIENCE_MS).toBe(3_000); // what docs/notifications.md says
  });

  it("with no subscription in this browser, logs out without waiting", async () => {
    const { submitted, submit } = logoutForm();
    renderHook(() => useLogoutEndsPush());
    submit();
    await waitFor(() => expect(submitted).toHaveBeenCalledTimes(1));
    expect(browser.log).toEqual([]);
  });
});
