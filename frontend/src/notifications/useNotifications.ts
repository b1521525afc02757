// The hook a React shop copies: its person's notifications, live, with resume and fallback.
//
//   const { notifications, unread, transport, markRead } = useNotifications();
import { useEffect, useState, useSyncExternalStore } from "react";

import { type Api, defaultApi } from "../api/client";
import { type FeedState, NotificationFeed } from "./feed";
import type { LiveOptions } from "./live";

export interface UseNotifications extends FeedState {
  markRead: (id: number) => Promise<void>;
  markAllRead: () => Promise<void>;
  refresh: () => Promise<void>;
}

export function useNotifications(
  options: { api?: Api } & Partial<LiveOptions> = {},
): UseNotifications {
  const [feed] = useState(() => {
    const { api, ...live } = options;
    return new NotificationFeed(api ?? defaultApi(), { origin: window.location.origin, ...live });
  });
  useEffect(() => {
    feed.start();
    return () => feed.stop();
  }, [feed]);
  const state = useSyncExternalStore(feed.subscribe, feed.getSnapshot);
  return {
    ...state,
    markRead: feed.markRead,
    markAllRead: feed.markAllRead,
    refresh: feed.refresh,
  };
}
