// The shop's notifications page: the bell with the unread count, the list, read receipts,
// each kind's channels, and Web Push on this device.
import { useEffect } from "react";

import type { Channel, Kind, Notification } from "../api/client";
import type { Receipt } from "./live";
import { useNotifications } from "./useNotifications";
import { usePreferences } from "./usePreferences";
import { useLogoutEndsPush, usePush } from "./usePush";

const TITLE = "Notifications · Shopflow";
const CHANNELS: Channel[] = ["in_app", "email", "push"];
const KIND_LABELS: Record<Kind, string> = {
  order_placed: "Orders placed",
  message: "Messages",
  low_stock: "Low stock (staff)",
  side_effect_failed: "Failed side effects (staff)",
  duplicate_order: "Duplicate orders (staff)",
  new_device_login: "Sign-ins from a new device",
};

export function NotificationsTab() {
  const feed = useNotifications();
  useLogoutEndsPush();
  useEffect(() => {
    document.title = (feed.unread ? `(${feed.unread}) ` : "") + TITLE;
  }, [feed.unread]);
  return (
    <>
      <div className="bar">
        <h1>
          Notifications{" "}
          <span
            id="unread-badge"
            className="badge"
            data-count={feed.unread}
            aria-label={`${feed.unread} unread`}
          >
            {feed.unread}
          </span>
        </h1>
        <span
          id="live"
          data-transport={feed.transport}
          className={live(feed.transport) ? "on" : ""}
          title="Live updates"
        >
          {feed.status}
        </span>
        <button id="mark-all-read" type="button" onClick={() => void feed.markAllRead()}>
          Mark all read
        </button>
      </div>
      {feed.problem && (
        <p id="feed-problem" className="problem" role="alert">
          {feed.problem}
        </p>
      )}
      {feed.loaded && feed.notifications.length === 0 && (
        <p id="empty">
          Nothing yet: notifications about your orders and messages appear here as they happen.
        </p>
      )}
      <ul id="notifications">
        {feed.notifications.map((n) => (
          <NotificationItem key={n.id} notification={n} onRead={() => void feed.markRead(n.id)} />
        ))}
      </ul>
      {feed.receipt && <ReceiptLine receipt={feed.receipt} />}
      <PreferencesSection />
    </>
  );
}

function live(transport: string): boolean {
  return transport === "websocket" || transport === "sse";
}

function NotificationItem({
  notification: n,
  onRead,
}: {
  notification: Notification;
  onRead: () => void;
}) {
  return (
    <li data-id={n.id} className={n.is_read ? "read" : "unread"}>
      {n.link ? (
        <a className="text" href={n.link}>
          {n.message}
        </a>
      ) : (
        <span className="text">{n.message}</span>
      )}
      <time dateTime={n.created_at}>{new Date(n.created_at).toLocaleString()}</time>
      <button type="button" className="mark-read" onClick={onRead} disabled={n.is_read}>
        Mark read
      </button>
    </li>
  );
}

function ReceiptLine({ receipt }: { receipt: Receipt }) {
  const count = receipt.message_ids.length;
  const what = count === 1 ? "message" : `${count} messages`;
  return (
    <p id="receipt" data-order={receipt.order}>
      Read: your {what} about order #{receipt.order}, {new Date(receipt.read_at).toLocaleString()}.
    </p>
  );
}

function PreferencesSection() {
  const { preferences, status, change } = usePreferences();
  const push = usePush();
  return (
    <section id="preferences">
      <h2>What reaches you, and how</h2>
      <table>
        <thead>
          <tr>
            <th>Kind</th>
            <th>In the app</th>
            <th>Email</th>
            <th>Web Push</th>
          </tr>
        </thead>
        <tbody>
          {preferences &&
            (Object.keys(KIND_LABELS) as Kind[]).map((kind) => (
              <tr key={kind}>
                <th>{KIND_LABELS[kind]}</th>
                {CHANNELS.map((channel) => (
                  <td key={channel}>
                    <input
                      type="checkbox"
                      name={`${kind}.${channel}`}
                      aria-label={`${KIND_LABELS[kind]}: ${channel}`}
                      checked={preferences[kind][channel]}
                      onChange={(event) => void change(kind, channel, event.target.checked)}
                    />
                  </td>
                ))}
              </tr>
            ))}
        </tbody>
      </table>
      <p id="preferences-status" aria-live="polite">
        {status}
      </p>
      <p>
        {push.state === "on" ? (
          <button id="push-unsubscribe" type="button" onClick={() => void push.turnOff()}>
            Stop notifying me on this device
          </button>
        ) : (
          <button
            id="push-subscribe"
            type="button"
            disabled={push.state === "busy" || push.state === "unsupported"}
            onClick={() => void push.turnOn()}
          >
            Notify me on this device
          </button>
        )}{" "}
        <span id="push-status" data-state={push.state} aria-live="polite">
          {push.state === "unsupported" ? "This browser has no Web Push." : push.status}
        </span>
      </p>
    </section>
  );
}
