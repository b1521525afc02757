import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { act, cleanup, render, screen, waitFor, within } from "@testing-library/react";
import { StrictMode } from "react";
import { afterEach, beforeEach, expect, it } from "vitest";

import { NotificationsTab } from "../../src/notifications/NotificationsTab";
import { FakeSocket, installFakes, sent } from "../support/fakes";
import { type Shop, notification, serve } from "../support/shop";

let shop: Shop;

beforeEach(() => {
  installFakes();
  shop = serve({ rows: [notification(2), notification(1, { is_read: true })] });
});
afterEach(cleanup);

function renderTab() {
  return render(
    <StrictMode>
      <QueryClientProvider client={new QueryClient()}>
        <NotificationsTab />
      </QueryClientProvider>
    </StrictMode>,
  );
}

it("under StrictMode opens one socket, and shows the list, the count and how it is live", async () => {
  renderTab();
  await screen.findByText("Order #2 confirmed");
  await waitFor(() => expect(FakeSocket.all).toHaveLength(1)); // not one per effect run
  act(() => FakeSocket.last().open());
  expect(screen.getByRole("status", { name: "Live updates" }).textContent).toBe("live (WebSocket)");
  expect(screen.getByRole("status", { name: "1 unread" }).textContent).toBe("1");
  expect(document.title).toBe("(1) Notifications · Shopflow");

  const frame = shop.frame(shop.add(notification(3))); // committed, then published
  await sent(frame);
  await screen.findByText("Order #3 confirmed");
  expect(document.title).toBe("(2) Notifications · Shopflow");
  const list = screen.getByRole("list", { name: "Notifications" });
  const items = within(list)
    .getAllByRole("listitem")
    .map((li) => li.textContent);
  expect(items.map((text) => text?.match(/Order #(\d)/)?.[1])).toEqual(["3", "2", "1"]);
});

it("a channel the server refuses to turn off is checked again, with its reason", async () => {
  renderTab();
  const box = await screen.findByLabelText<HTMLInputElement>(
    "Failed side effects (staff): In the app",
  );
  expect(box.checked).toBe(true);
  act(() => box.click());
  await screen.findByText("Not saved: HTTP 400");
  expect(box.checked).toBe(true);
  expect(shop.preferences.side_effect_failed?.in_app).toBe(true);
});

it("offers only the kinds the server lists: a customer is shown no staff-only kind", async () => {
  for (const kind of ["low_stock", "side_effect_failed", "duplicate_order"]) {
    delete shop.preferences[kind]; // as the API answers a customer
  }
  renderTab();
  await screen.findByLabelText("Messages: Email");
  const boxes = screen.getAllByRole("checkbox").map((box) => box.getAttribute("aria-label"));
  expect(boxes.filter((label) => label?.endsWith(": In the app"))).toEqual([
    "Orders placed: In the app",
    "Orders cancelled: In the app",
    "Orders shipped: In the app",
    "Messages: In the app",
    "Sign-ins from a new device: In the app",
  ]);
  expect(boxes.some((label) => label?.includes("(staff)"))).toBe(false);
});

it("a channel turned off is saved, that one only, and the count is asked again", async () => {
  renderTab();
  const box = await screen.findByLabelText<HTMLInputElement>("Messages: Email");
  await waitFor(() => expect(FakeSocket.all).toHaveLength(1));
  const asked = shop.requests.length;
  act(() => box.click());
  await screen.findByText("Saved.");
  expect(box.checked).toBe(false);
  expect(shop.preferences.message).toEqual({ in_app: true, email: false, push: false });
  expect(shop.preferences.order_placed?.email).toBe(true);
  const put = shop.requests.find((r) => r.method === "PUT");
  expect(JSON.parse(String(put?.body))).toEqual({ message: { email: false } });
  // A kind turned off in the app leaves the count: the inbox is read again after a save.
  await waitFor(() =>
    expect(shop.requests.slice(asked).map((r) => `${r.method} ${r.path}`)).toContain(
      "GET /api/notifications/",
    ),
  );
});
