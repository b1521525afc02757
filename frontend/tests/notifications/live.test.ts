import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import type { Notification } from "../../src/api/client";
import {
  type LiveHandlers,
  type Receipt,
  type Transport,
  connectLive,
} from "../../src/notifications/live";
import { FakeEventSource, FakeSocket, installFakes } from "../support/fakes";
import { notification } from "../support/shop";

const ORIGIN = "https://shop.test";

function handlers(lastId: number | null = 0) {
  const seen = {
    notifications: [] as Notification[],
    receipts: [] as Receipt[],
    transports: [] as Transport[],
    opened: 0,
    lastId,
  };
  const live: LiveHandlers = {
    lastId: () => seen.lastId,
    opened: () => {
      seen.opened += 1;
    },
    notification: (n) => {
      seen.notifications.push(n);
      seen.lastId = Math.max(seen.lastId ?? 0, n.id);
    },
    receipt: (r) => seen.receipts.push(r),
    transport: (t) => seen.transports.push(t),
  };
  return { seen, live };
}

beforeEach(() => {
  installFakes();
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("the WebSocket", () => {
  it("opens on the site's wss address, resuming after the tab's last id", () => {
    const { seen, live } = handlers(41);
    connectLive(live, { origin: ORIGIN });
    const socket = FakeSocket.last();
    expect(socket.url.href).toBe("wss://shop.test/ws/notifications/?last_id=41");
    socket.open();
    socket.frame({ type: "notification", ...notification(42) });
    socket.frame({
      type: "receipt",
      order: 7,
      message_ids: [1, 2],
      read_at: "2026-11-26T10:00:00Z",
    });
    expect(seen.transports).toEqual(["connecting", "websocket"]);
    expect(seen.notifications.map((n) => n.id)).toEqual([42]);
    expect(seen.receipts.map((r) => r.order)).toEqual([7]);
  });

  it("dropped, says polling meanwhile and reconnects after what arrived last, waiting longer each failure", () => {
    const { seen, live } = handlers(0);
    connectLive(live, { origin: ORIGIN, reconnectMs: 2_000, pollMs: 10_000 });
    FakeSocket.last().open();
    FakeSocket.last().frame({ type: "notification", ...notification(5) });
    FakeSocket.last().drop();
    expect(seen.transports.at(-1)).toBe("polling");

    vi.advanceTimersByTime(1_999);
    expect(FakeSocket.all).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.all).toHaveLength(2);
    expect(FakeSocket.last().url.searchParams.get("last_id")).toBe("5"); // resume

    // The server is still down: the next try waits 4 s, and it stays a WebSocket (it
    // opened before, so nothing on the way refuses them).
    FakeSocket.last().drop();
    vi.advanceTimersByTime(3_999);
    expect(FakeSocket.all).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.all).toHaveLength(3);
    expect(FakeEventSource.all).toHaveLength(0);

    FakeSocket.last().open();
    expect(seen.transports.at(-1)).toBe("websocket"); // live again: the tab stops polling
  });

  it("closed with 4401 (no valid credentials) stops: signed out, no retry", () => {
    const { seen, live } = handlers();
    connectLive(live, { origin: ORIGIN });
    FakeSocket.last().open();
    FakeSocket.last().drop(4401);
    vi.advanceTimersByTime(120_000);
    expect(seen.transports.at(-1)).toBe("signed-out");
    expect(FakeSocket.all).toHaveLength(1);
  });
});

function refusedTwice() {
  FakeSocket.last().drop();
  vi.advanceTimersByTime(1);
  FakeSocket.last().drop();
}

describe("the fallbacks", () => {
  it("a WebSocket refused twice hands over to Server-Sent Events, resuming there", () => {
    const { seen, live } = handlers(9);
    connectLive(live, { origin: ORIGIN, reconnectMs: 2_000 });
    FakeSocket.last().drop(); // refused on the way, or a server restarting: once more
    expect(FakeEventSource.all).toHaveLength(0);
    vi.advanceTimersByTime(2_000);
    FakeSocket.last().drop();
    const stream = FakeEventSource.all.at(-1)!;
    expect(stream.url.href).toBe("https://shop.test/api/notifications/stream/?last_event_id=9");
    stream.open();
    stream.event("notification", notification(10));
    stream.event("receipt", { order: 3, message_ids: [4], read_at: "2026-11-26T10:00:00Z" });
    expect(seen.transports.at(-1)).toBe("sse");
    expect(seen.opened).toBe(1);
    expect(seen.notifications.map((n) => n.id)).toEqual([10]);
    expect(seen.receipts.map((r) => r.order)).toEqual([3]);
  });

  it("with the stream refused too, says polling and tries the stream again after pollMs", () => {
    const { seen, live } = handlers();
    connectLive(live, { origin: ORIGIN, pollMs: 10_000, reconnectMs: 1 });
    refusedTwice();
    FakeEventSource.all.at(-1)!.fail();
    expect(seen.transports.at(-1)).toBe("polling");
    vi.advanceTimersByTime(9_999);
    expect(FakeEventSource.all).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeEventSource.all).toHaveLength(2); // tried again
    FakeEventSource.all.at(-1)!.open();
    expect(seen.transports.at(-1)).toBe("sse");
  });
});

it("before the tab has loaded any, the socket asks for nothing old (from now on)", () => {
  const { live } = handlers(null);
  connectLive(live, { origin: ORIGIN });
  expect(FakeSocket.last().url.href).toBe("wss://shop.test/ws/notifications/");
});

it("a socket that opens and drops at once keeps backing off; one that stayed up does not", () => {
  const { live } = handlers();
  connectLive(live, { origin: ORIGIN, reconnectMs: 1_000, stableMs: 10_000 });
  const reconnectAfter = () => {
    const before = FakeSocket.all.length;
    let waited = 0;
    while (FakeSocket.all.length === before) {
      vi.advanceTimersByTime(100);
      waited += 100;
    }
    return waited;
  };
  FakeSocket.last().open();
  FakeSocket.last().drop(); // a server that accepts, then closes at once
  expect(reconnectAfter()).toBe(1_000);
  FakeSocket.last().open();
  FakeSocket.last().drop();
  expect(reconnectAfter()).toBe(2_000);
  FakeSocket.last().open();
  vi.advanceTimersByTime(10_000); // up for a while: a success
  FakeSocket.last().drop();
  expect(reconnectAfter()).toBe(1_000);
});

it("closing leaves nothing running: no retry, the socket closed", () => {
  const { live } = handlers();
  const close = connectLive(live, { origin: ORIGIN });
  FakeSocket.last().open();
  close();
  expect(FakeSocket.last().closedByPage).toBe(true);
  FakeSocket.last().drop();
  vi.advanceTimersByTime(120_000);
  expect(FakeSocket.all).toHaveLength(1);
});
