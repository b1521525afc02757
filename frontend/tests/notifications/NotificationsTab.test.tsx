import { StrictMode } from "react";
import { act, cleanup, render, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, expect, it } from "vitest";

import { NotificationsTab } from "../../src/notifications/NotificationsTab";
import { FakeSocket, installFakes } from "../support/fakes";
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
      <NotificationsTab />
    </StrictMode>,
  );
}

it("under StrictMode opens one socket, and shows the list, the count and how it is live", async () => {
  renderTab();
  await screen.findByText("Order #2 confirmed");
  await waitFor(() => expect(FakeSocket.all).toHaveLength(1)); // not one per effect run
  act(() => FakeSocket.last().open());
  expect(document.querySelector("#live")?.textContent).toBe("live (WebSocket)");
  expect(screen.getByLabelText("1 unread").textContent).toBe("1");
  expect(document.title).toBe("(1) Notifications · Shopflow");

  shop.add(notification(3)); // committed, then published
  act(() => FakeSocket.last().frame({ type: "notification", ...notification(3) }));
  await screen.findByText("Order #3 confirmed");
  expect(document.title).toBe("(2) Notifications · Shopflow");
  expect(
    [...document.querySelectorAll("#notifications li")].map((li) => li.getAttribute("data-id")),
  ).toEqual(["3", "2", "1"]);
});

it("a channel the server refuses to turn off is checked again, with its reason", async () => {
  renderTab();
  const box = await screen.findByLabelText<HTMLInputElement>("Failed side effects (staff): in_app");
  expect(box.checked).toBe(true);
  act(() => box.click());
  await screen.findByText("Not saved: HTTP 400");
  expect(box.checked).toBe(true);
  expect(shop.preferences.side_effect_failed?.in_app).toBe(true);
});

it("a channel turned off is saved, that one only", async () => {
  renderTab();
  const box = await screen.findByLabelText<HTMLInputElement>("Messages: email");
  act(() => box.click());
  await screen.findByText("Saved.");
  expect(box.checked).toBe(false);
  expect(shop.preferences.message).toEqual({ in_app: true, email: false, push: false });
  expect(shop.preferences.order_placed?.email).toBe(true);
  const put = shop.requests.find((r) => r.method === "PUT");
  expect(JSON.parse(String(put?.body))).toEqual({ message: { email: false } });
});
