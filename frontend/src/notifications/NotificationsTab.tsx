// The shop's notifications page: the bell with the unread count, the list, read receipts,
// each kind's channels, and Web Push on this device. Tests find its parts as people do:
// by role and accessible name.
import { useEffect, useId } from "react";

import type { Channel, Kind, Notification } from "../api/client";
import type { Receipt } from "./live";
import { useNotifications } from "./useNotifications";
import { usePreferences } from "./usePreferences";
import { useLogoutEndsPush, usePush } from "./usePush";

const TITLE = "Notifications · Shopflow";
const CHANNELS: Record<Channel, string> = {
  in_app: "In the app",
  email: "Email",
  push: "Web Push",
};
const KIND_LABELS: Record<Kind, string> = {
  order_placed: "Orders placed",
  order_cancelled: "Orders cancelled",
  order_fulfilled: "Orders shipped",
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
  const live = feed.transport === "websocket" || feed.transport === "sse";
  return (
    <>
      <div className="bar">
        <h1>
          Notifications{" "}
          <span
            role="status"
            className="badge"
            data-count={feed.unread}
            aria-label={`${feed.unread} unread`}
          >
            {feed.unread}
          </span>
        </h1>
        <span role="status" title="Live updates" className={live ? "live on" : "live"}>
          {feed.status}
        </span>
        <button type="button" onClick={() => void feed.markAllRead()}>
          Mark all read
        </button>
      </div>
      {feed.problem && (
        <p className="problem" role="alert">
          {feed.problem}
        </p>
      )}
      {feed.loaded && feed.notifications.length === 0 && (
        <p className="empty">
          Nothing yet: notifications about your orders and messages appear here as they happen.
        </p>
      )}
      <ul className="notifications" aria-label="Notifications" aria-busy={feed.busy}>
        {feed.notifications.map((n) => (
          <NotificationItem key={n.id} notification={n} onRead={() => void feed.markRead(n.id)} />
        ))}
      </ul>
      {feed.receipt && <ReceiptLine receipt={feed.receipt} />}
      <PreferencesSection />
    </>
  );
}

function NotificationItem({
  notification: n,
  onRead,
}: {
  notification: Notification;
  onRead: () => void;
}) {
  return (
    <li className={n.is_read ? "read" : "unread"}>
      {n.link ? (
        <a className="text" href={n.link}>
          {n.message}
        </a>
      ) : (
        <span className="text">{n.message}</span>
      )}
      <time dateTime={n.created_at}>{new Date(n.created_at).toLocaleString()}</time>
      <button type="button" className="mark-read" onClick={onRead} disabled={n.is_read}>
        {n.is_read ? "Read" : "Mark read"}
      </button>
    </li>
  );
}

function ReceiptLine({ receipt }: { receipt: Receipt }) {
  const count = receipt.message_ids.length;
  const what = count === 1 ? "message" : `${count} messages`;
  return (
    <p role="status">
      Read: your {what} about order #{receipt.order}, {new Date(receipt.read_at).toLocaleString()}.
    </p>
  );
}

function PreferencesSection() {
  const { preferences, status, change } = usePreferences();
  const push = usePush();
  const heading = useId();
  return (
    <section aria-labelledby={heading}>
      <h2 id={heading}>What reaches you, and how</h2>
      <table>
        <thead>
          <tr>
            <th>Kind</th>
            {Object.values(CHANNELS).map((label) => (
              <th key={label}>{label}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {preferences &&
            // The kinds the server lists: the staff-only ones for staff alone.
            (Object.keys(KIND_LABELS) as Kind[]).map((kind) => {
              const channels = preferences[kind];
              return (
                channels && (
                  <tr key={kind}>
                    <th>{KIND_LABELS[kind]}</th>
                    {(Object.keys(CHANNELS) as Channel[]).map((channel) => (
                      <td key={channel}>
                        <input
                          type="checkbox"
                          aria-label={`${KIND_LABELS[kind]}: ${CHANNELS[channel]}`}
                          checked={channels[channel]}
                          onChange={(event) => void change(kind, channel, event.target.checked)}
                        />
                      </td>
                    ))}
                  </tr>
                )
              );
            })}
        </tbody>
      </table>
      <p role="status" title="Preferences">
        {status}
      </p>
      <p>
        {push.state === "on" ? (
          <button type="button" onClick={() => void push.turnOff()}>
            Stop notifying me on this device
          </button>
        ) : (
          <button
            type="button"
            disabled={push.state === "busy" || push.state === "unsupported"}
            onClick={() => void push.turnOn()}
          >
            Notify me on this device
          </button>
        )}{" "}
        <span role="status" title="Web Push on this device">
          {push.state === "unsupported" ? "This browser has no Web Push." : push.status}
        </span>
      </p>
    </section>
  );
}
