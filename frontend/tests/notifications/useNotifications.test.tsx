import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { act, cleanup, renderHook, waitFor } from "@testing-library/react";
import { http, HttpResponse } from "msw";
import type { ReactNode } from "react";
import { afterEach, beforeEach, expect, it } from "vitest";

import { createApi } from "../../src/api/client";
import { useNotifications } from "../../src/notifications/useNotifications";
import { FakeSocket, installFakes, sent } from "../support/fakes";
import { type Shop, failing, notification, serve, server } from "../support/shop";

const ORIGIN = "https://shop.test";

function hook(options = {}) {
  const api = createApi({ baseUrl: ORIGIN });
  const client = new QueryClient();
  const wrapper = ({ children }: { children: ReactNode }) => (
    <QueryClientProvider client={client}>{children}</QueryClientProvider>
  );
  return renderHook((props: object) => useNotifications({ api, origin: ORIGIN, ...props }), {
    wrapper,
    initialProps: options,
  });
}

/** From now on the page is read when asked, and answered only on the returned release(). */
function pagesHeld(shop: Shop): () => void {
  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  server.use(
    http.get("*/api/notifications/", async () => {
      const page = shop.page();
      await held;
      return HttpResponse.json(page);
    }),
  );
  return release;
}

const pages = (shop: Shop) => shop.requests.filter((r) => r.path === "/api/notifications/");

beforeEach(() => {
  installFakes();
  document.cookie = "csrftoken=the-token";
});
afterEach(cleanup);

it("loads the newest page and the unread count, then connects after its newest id", async () => {
  serve({ rows: [notification(3), notification(1, { is_read: true }), notification(2)] });
  const { result } = hook();
  await waitFor(() => expect(FakeSocket.all).toHaveLength(1));
  expect(result.current.notifications.map((n) => n.id)).toEqual([3, 2, 1]);
  expect(result.current.unread).toBe(2);
  expect(FakeSocket.last().url.searchParams.get("last_id")).toBe("3");
});

it("a live notification is added once, newest first, with the server's count", async () => {
  const shop = serve({ rows: [notification(1)] });
  const { result } = hook();
  await waitFor(() => expect(FakeSocket.all).toHaveLength(1));
  act(() => FakeSocket.last().open());
  expect(result.current.transport).toBe("websocket");
  const frame = shop.frame(shop.add(notification(2)));
  await sent(frame);
  await sent(frame); // again
  expect(result.current.notifications.map((n) => n.id)).toEqual([2, 1]);
  expect(result.current.unread).toBe(2);
});

it("the count is the server's, not the rows': a page of 20 shows the 25 unread", async () => {
  const shop = serve({ rows: Array.from({ length: 25 }, (_, i) => notification(100 + i)) });
  const { result } = hook();
  await waitFor(() => expect(result.current.unread).toBe(25));
  expect(result.current.notifications).toHaveLength(20);
  act(() => FakeSocket.last().open());
  await sent(shop.frame(shop.rows[1]!)); // in the count, not the page
  expect(result.current.unread).toBe(25);
});

it("a page read before a frame but answered after it does not take the count back", async () => {
  const shop = serve({ rows: [notification(1)] });
  const { result } = hook();
  await waitFor(() => expect(FakeSocket.all).toHaveLength(1));
  shop.read(1); // in another tab
  const release = pagesHeld(shop);
  act(() => FakeSocket.last().open()); // the page is read now: nothing unread
  await waitFor(() => expect(pages(shop)).toHaveLength(2));
  await sent(shop.frame(shop.add(notification(2)))); // 1 unread
  expect(result.current.unread).toBe(1);
  release();
  await waitFor(() => expect(result.current.notifications[1]?.is_read).toBe(true));
  expect(result.current.notifications.map((n) => n.id)).toEqual([2, 1]);
  expect(result.current.unread).toBe(1);
});

it("a frame's count read before a read's answer, arriving after it, does not take it back", async () => {
  const shop = serve({ rows: [notification(1), notification(2)] });
  const { result } = hook();
  await waitFor(() => expect(FakeSocket.all).toHaveLength(1));
  act(() => FakeSocket.last().open());
  const late = shop.frame(shop.rows[1]!); // the count as read for this frame: 2
  shop.read(1);
  await act(() => result.current.markRead(2)); // answered: 0
  await sent(late);
  expect(result.current.unread).toBe(0);
});

it("one committed after the page though older than its newest is counted", async () => {
  const shop = serve({ rows: [notification(3), notification(5)] });
  const { result } = hook();
  await waitFor(() => expect(result.current.unread).toBe(2));
  act(() => FakeSocket.last().open());
  await sent(shop.frame(shop.add(notification(4))));
  expect(result.current.unread).toBe(3);
  expect(result.current.notifications.map((n) => n.id)).toEqual([5, 4, 3]);
});

it("after a drop, the new socket resumes after the last live one, not the first page", async () => {
  const shop = serve({ rows: [notification(1)] });
  hook({ reconnectMs: 10 });
  await waitFor(() => expect(FakeSocket.all).toHaveLength(1));
  act(() => FakeSocket.last().open());
  await sent(shop.frame(shop.add(notification(7))));
  act(() => FakeSocket.last().drop());
  await waitFor(() => expect(FakeSocket.all).toHaveLength(2));
  expect(FakeSocket.last().url.searchParams.get("last_id")).toBe("7");
});

it("while neither is up it polls; after more than a page, it resumes where the tab was", async () => {
  const shop = serve({ rows: [notification(1)] });
  const { result } = hook({ reconnectMs: 10, pollMs: 20 });
  await waitFor(() => expect(FakeSocket.all).toHaveLength(1));
  act(() => FakeSocket.last().open());
  act(() => FakeSocket.last().drop());
  // 25 while it was down, more than a page: polls show the newest 20 meanwhile...
  Array.from({ length: 25 }, (_, i) => shop.add(notification(100 + i)));
  await waitFor(() => expect(result.current.unread).toBe(26));
  expect(pages(shop).length).toBeGreaterThan(1);
  await waitFor(() => expect(FakeSocket.all.length).toBeGreaterThan(1));
  // ...but every reconnection resumes after 1, so the server sends all 25 in order.
  for (const socket of FakeSocket.all.slice(1))
    expect(socket.url.searchParams.get("last_id")).toBe("1");
});

it("polls one at a time: a slow answer is not overtaken by the next", async () => {
  const shop = serve({ rows: [notification(1)] });
  hook({ reconnectMs: 60_000, pollMs: 10 });
  await waitFor(() => expect(FakeSocket.all).toHaveLength(1));
  act(() => FakeSocket.last().drop()); // polling
  const release = pagesHeld(shop);
  await waitFor(() => expect(pages(shop)).toHaveLength(2));
  await new Promise((resolve) => setTimeout(resolve, 100)); // ten polls' time: waiting is the point
  expect(pages(shop)).toHaveLength(2);
  release();
  await waitFor(() => expect(pages(shop).length).toBeGreaterThan(2));
});

it("a first load that failed still connects, asking for nothing old, and loads once open", async () => {
  const shop = serve({ rows: [notification(4), notification(5)] });
  failing("get", "/api/notifications/", 503);
  const { result } = hook();
  await waitFor(() => expect(FakeSocket.all).toHaveLength(1));
  expect(FakeSocket.last().url.searchParams.has("last_id")).toBe(false);
  shop.listen(); // answering again
  act(() => FakeSocket.last().open());
  await waitFor(() => expect(result.current.notifications.map((n) => n.id)).toEqual([5, 4]));
  expect(result.current.unread).toBe(2);
});

it("marking read posts with Django's CSRF token and shows the server's count", async () => {
  const shop = serve({ rows: [notification(1), notification(2)] });
  const { result } = hook();
  await waitFor(() => expect(result.current.unread).toBe(2));
  await act(() => result.current.markRead(1));
  expect(result.current.unread).toBe(1);
  expect(result.current.notifications.find((n) => n.id === 1)?.is_read).toBe(true);
  const post = shop.requests.find((r) => r.method === "POST");
  expect(post).toMatchObject({ path: "/api/notifications/1/read/", csrf: "the-token" });

  await act(() => result.current.markRead(1)); // already read: no request
  expect(shop.requests.filter((r) => r.method === "POST")).toHaveLength(1);
  await act(() => result.current.markAllRead());
  expect(result.current.unread).toBe(0);
  expect(result.current.notifications.every((n) => n.is_read)).toBe(true);
});

it("a mark the server refuses says so, and changes nothing", async () => {
  serve({ rows: [notification(1)] });
  const { result } = hook();
  await waitFor(() => expect(result.current.unread).toBe(1));
  failing("post", "/api/notifications/:id/read/", 404);
  await act(() => result.current.markRead(1));
  expect(result.current.problem).toBe("Not marked read: HTTP 404");
  expect(result.current.unread).toBe(1);
});

it("a session that is gone (401) shows signed out and opens no socket", async () => {
  serve({ rows: [notification(1)] });
  failing("get", "/api/notifications/", 401);
  const { result } = hook();
  await waitFor(() => expect(result.current.transport).toBe("signed-out"));
  expect(FakeSocket.all).toHaveLength(0);
});

it("unmounting closes the socket", async () => {
  serve();
  const { unmount } = hook();
  await waitFor(() => expect(FakeSocket.all).toHaveLength(1));
  unmount();
  expect(FakeSocket.last().closedByPage).toBe(true);
});

it("takes its options each render: another origin reconnects there", async () => {
  serve();
  const { rerender } = hook();
  await waitFor(() => expect(FakeSocket.all).toHaveLength(1));
  rerender({ origin: "https://elsewhere.test" });
  await waitFor(() => expect(FakeSocket.all).toHaveLength(2));
  expect(FakeSocket.all[0]?.closedByPage).toBe(true);
  expect(FakeSocket.last().url.host).toBe("elsewhere.test");
});

it("mark all read marks up to what the tab holds: one written since stays unread", async () => {
  const shop = serve({ rows: [notification(1), notification(2)] });
  const { result } = hook();
  await waitFor(() => expect(result.current.unread).toBe(2));
  act(() => FakeSocket.last().open());
  const late = shop.frame(shop.add(notification(3))); // written, its frame on its way

  await act(() => result.current.markAllRead());
  await sent(late); // its count (3) read before the mark's (1)

  const post = shop.requests.find((r) => r.path === "/api/notifications/read-all/");
  expect(JSON.parse(post?.body as string)).toEqual({ up_to_id: 2 });
  expect(shop.rows.find((n) => n.id === 3)?.is_read).toBe(false);
  expect(result.current.unread).toBe(1);
  expect(result.current.notifications.map((n) => [n.id, n.is_read])).toEqual([
    [3, false],
    [2, true],
    [1, true],
  ]);
});
