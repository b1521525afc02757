// The hook a React shop copies: its person's notifications, live, with resume and fallback.
// Server state in TanStack Query: one cached inbox, into which the list API's pages, the
// live frames and the answers of marking read are merged (inbox.ts), whatever order they
// arrive in. Needs a QueryClientProvider above it.
//
//   const { notifications, unread, transport, markRead } = useNotifications();
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useState } from "react";

import { type Api, type Notification, defaultApi, isSignedOut, must } from "../api/client";
import { type Inbox, fromOne, fromPage, fromReadAll, merged } from "./inbox";
import { type LiveOptions, type Receipt, type Transport, connectLive } from "./live";

export const INBOX = ["notifications", "inbox"] as const;

export interface UseNotifications {
  notifications: Notification[];
  /** The server's count: the newest it gave (a page, a frame, a read's answer). */
  unread: number;
  transport: Transport;
  /** What the transport says, for people: "live (WebSocket)", "reconnecting…". */
  status: string;
  receipt: Receipt | null;
  /** False until the first page has come. */
  loaded: boolean;
  /** True while a page or a mark is on its way. */
  busy: boolean;
  /** The last action that failed, for people: "Not marked read: HTTP 404". */
  problem: string | null;
  markRead: (id: number) => Promise<void>;
  markAllRead: () => Promise<void>;
}

export function useNotifications(
  options: { api?: Api } & Partial<LiveOptions> = {},
): UseNotifications {
  const { api = defaultApi(), origin = window.location.origin, ...timing } = options;
  const { pollMs = 10_000, reconnectMs, maxReconnectMs, stableMs } = timing;
  const client = useQueryClient();
  const [live, setLive] = useState({ transport: "connecting" as Transport, status: "connecting…" });
  const [receipt, setReceipt] = useState<Receipt | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  const take = useCallback(
    (given: Inbox) => client.setQueryData<Inbox>(INBOX, (held) => merged(held, given)),
    [client],
  );
  const done = (what: string) => ({
    onSuccess: () => setProblem(null),
    onError: (error: Error) => setProblem(`${what}: ${error.message}`),
  });
  const read = useMutation({
    mutationFn: async (id: number) => {
      const path = { notification_id: id };
      const answer = await must(
        api.POST("/api/notifications/{notification_id}/read/", { params: { path } }),
      );
      take(fromOne(answer, false));
    },
    ...done("Not marked read"),
  });
  // Marks what the tab holds (up_to_id): one written since, which the person has not
  // seen, stays unread.
  const readAll = useMutation({
    mutationFn: async (upTo: number) => {
      const body = upTo > 0 ? { up_to_id: upTo } : {};
      const count = await must(api.POST("/api/notifications/read-all/", { body }));
      take(fromReadAll(client.getQueryData<Inbox>(INBOX), upTo, count));
    },
    ...done("Not marked read"),
  });
  const refused = [read.error, readAll.error].some(isSignedOut);

  const page = useQuery({
    queryKey: INBOX,
    queryFn: async () => fromPage(await must(api.GET("/api/notifications/"))),
    // Every answer merges into what the tab holds (frames may have come meanwhile).
    structuralSharing: (held, given) => merged(held as Inbox | undefined, given as Inbox),
    refetchInterval: live.transport === "polling" ? pollMs : false,
    refetchIntervalInBackground: true, // the title's count, in a tab behind others
    enabled: live.transport !== "signed-out" && !refused,
    retry: false, // the live connection's opening and the polls ask again
  });
  const signedOut = live.transport === "signed-out" || refused || isSignedOut(page.error);

  // Live once the first page came (or failed): a connection resumes after what it had.
  const started = page.isFetched;
  useEffect(() => {
    if (!started || signedOut) return;
    return connectLive(
      {
        lastId: () => client.getQueryData<Inbox>(INBOX)?.lastId ?? null,
        opened: () => void client.invalidateQueries({ queryKey: INBOX }),
        notification: (frame) => take(fromOne(frame, true)),
        receipt: setReceipt,
        transport: (transport, status) => setLive({ transport, status }),
      },
      { origin, pollMs, reconnectMs, maxReconnectMs, stableMs },
    );
  }, [started, signedOut, client, take, origin, pollMs, reconnectMs, maxReconnectMs, stableMs]);

  const inbox = page.data;
  const notifications = inbox?.notifications ?? [];
  const { mutateAsync: markOne } = read;
  const { mutateAsync: markAll } = readAll;
  const markRead = useCallback(
    async (id: number) => {
      const shown = client.getQueryData<Inbox>(INBOX)?.notifications.find((n) => n.id === id);
      if (shown && !shown.is_read) await markOne(id).catch(() => undefined);
    },
    [client, markOne],
  );
  const markAllRead = useCallback(async () => {
    const held = client.getQueryData<Inbox>(INBOX)?.notifications ?? [];
    await markAll(Math.max(0, ...held.map((n) => n.id))).catch(() => undefined);
  }, [client, markAll]);

  return {
    notifications,
    unread: inbox?.count?.unread ?? 0,
    transport: signedOut ? "signed-out" : live.transport,
    status: signedOut ? "signed out" : live.status,
    receipt,
    loaded: inbox !== undefined,
    busy: page.isFetching || read.isPending || readAll.isPending,
    problem,
    markRead,
    markAllRead,
  };
}
