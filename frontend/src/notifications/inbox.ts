// A person's notifications as an open tab holds them, and how each thing the server says
// (a page, a live frame, a read's answer) goes into it: one merge, whatever order they
// come in. The count is always the server's: of two, the one read at the newer version of
// the database (`unread_as_of`), never the tab's own arithmetic.
import type { Notification } from "../api/client";

/** An unread count and the version of the database it was read at. */
export interface Count {
  unread: number;
  unread_as_of: string;
}

export interface Inbox {
  /** Newest first, one per id; read once anything said it was (nothing unreads one). */
  notifications: Notification[];
  /** The newest count the server gave; null before any. */
  count: Count | null;
  /** The tab has every notification up to this id: where a live connection resumes.
   * null before a first page (the server then sends from now on). */
  lastId: number | null;
  /** The lowest id from which this holds every one up to lastId (0: all; Infinity: none).
   * One that starts above the tab's lastId (more than a page came meanwhile) does not move
   * the tab's: the live connection's catch-up sends what lies between. */
  from: number;
}

type Page = Count & { results: Notification[]; next?: string | null };

/** The newer of two counts: the greater version (strings of one length). */
export function newer(held: Count | null, given: Count | null): Count | null {
  if (!held || !given) return held ?? given;
  return given.unread_as_of >= held.unread_as_of ? given : held;
}

/** What `given` adds to `held`. */
export function merged(held: Inbox | undefined, given: Inbox): Inbox {
  if (!held) return given;
  const rows = new Map(held.notifications.map((n) => [n.id, n]));
  for (const row of given.notifications) {
    const known = rows.get(row.id);
    rows.set(row.id, known?.is_read && !row.is_read ? known : row);
  }
  const joins = held.lastId === null || given.from <= held.lastId;
  const lastId =
    joins && given.lastId !== null ? Math.max(held.lastId ?? 0, given.lastId) : held.lastId;
  return {
    notifications: [...rows.values()].sort((a, b) => b.id - a.id),
    count: newer(held.count, given.count),
    lastId,
    from: held.from,
  };
}

/** A page of the list API: complete when it is the only one. */
export function fromPage(page: Page): Inbox {
  const ids = page.results.map((n) => n.id);
  return {
    notifications: page.results,
    count: { unread: page.unread, unread_as_of: page.unread_as_of },
    lastId: Math.max(0, ...ids),
    from: page.next ? Math.min(...ids) : 0,
  };
}

/** A notification with the count after it: a live frame, or the answer of marking it read.
 * A live connection sends every notification after where it resumed. */
export function fromOne(notification: Notification & Count, live: boolean): Inbox {
  const { unread, unread_as_of, ...row } = notification;
  return {
    notifications: [row],
    count: { unread, unread_as_of },
    lastId: live ? row.id : null,
    from: live ? 0 : Infinity,
  };
}

/** The answer of marking all read up to `upTo`: those the tab held are read. */
export function fromReadAll(held: Inbox | undefined, upTo: number, count: Count): Inbox {
  const now = new Date().toISOString();
  const read = (held?.notifications ?? [])
    .filter((n) => n.id <= upTo && !n.is_read)
    .map((n) => ({ ...n, is_read: true, read_at: now }));
  return { notifications: read, count, lastId: null, from: Infinity };
}
