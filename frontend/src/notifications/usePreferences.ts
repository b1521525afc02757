// Each kind's channels, saved one change at a time: a box changes at once, the server's
// answer replaces it, or the change is undone with the server's reason. Server state in
// TanStack Query; turning a kind off in the app changes the unread count, so the inbox is
// asked again.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import {
  type Api,
  type Channel,
  type Kind,
  type Preferences,
  type PreferencesChange,
  defaultApi,
  must,
} from "../api/client";
import { INBOX } from "./useNotifications";

const PREFERENCES = ["notifications", "preferences"] as const;

export interface UsePreferences {
  preferences: Preferences | null;
  /** "Saved.", "Not saved: HTTP 400", ...: for a status line. */
  status: string;
  change: (kind: Kind, channel: Channel, on: boolean) => Promise<void>;
}

interface Change {
  kind: Kind;
  channel: Channel;
  on: boolean;
}

export function usePreferences(api: Api = defaultApi()): UsePreferences {
  const client = useQueryClient();
  const loaded = useQuery({
    queryKey: PREFERENCES,
    queryFn: () => must(api.GET("/api/notifications/preferences/")),
    retry: false,
  });
  // Only the box changed is set, and undone: another change may be on its way.
  const flip = ({ kind, channel, on }: Change) =>
    client.setQueryData<Preferences>(
      PREFERENCES,
      (held) => held && { ...held, [kind]: { ...held[kind], [channel]: on } },
    );
  const save = useMutation({
    mutationFn: ({ kind, channel, on }: Change) => {
      // Computed keys widen to string in TypeScript; kind and channel are typed above.
      const body = { [kind]: { [channel]: on } } as PreferencesChange;
      return must(api.PUT("/api/notifications/preferences/", { body }));
    },
    onMutate: async (change) => {
      await client.cancelQueries({ queryKey: PREFERENCES }); // an older answer on its way
      flip(change);
    },
    onError: (_error, change) => flip({ ...change, on: !change.on }),
    onSuccess: (saved) => {
      client.setQueryData(PREFERENCES, saved);
      void client.invalidateQueries({ queryKey: INBOX });
    },
  });
  const { mutateAsync } = save;
  const status = save.isPending
    ? "Saving…"
    : save.isError
      ? `Not saved: ${save.error.message}`
      : save.isSuccess
        ? "Saved."
        : loaded.isError
          ? "Preferences could not be loaded."
          : "";
  return {
    preferences: loaded.data ?? null,
    status,
    change: (kind, channel, on) =>
      mutateAsync({ kind, channel, on }).then(
        () => undefined,
        () => undefined,
      ),
  };
}
