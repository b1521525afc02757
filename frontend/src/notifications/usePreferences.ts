// Each kind's channels, saved one change at a time; the server's answer is what shows.
import { useCallback, useEffect, useState } from "react";

import {
  type Api,
  type Channel,
  type Kind,
  type Preferences,
  type PreferencesChange,
  defaultApi,
  must,
} from "../api/client";

export interface UsePreferences {
  preferences: Preferences | null;
  /** "Saved.", "Not saved: HTTP 400", ...: for an aria-live line. */
  status: string;
  change: (kind: Kind, channel: Channel, on: boolean) => Promise<void>;
}

export function usePreferences(api: Api = defaultApi()): UsePreferences {
  const [preferences, setPreferences] = useState<Preferences | null>(null);
  const [status, setStatus] = useState("");
  useEffect(() => {
    let current = true;
    must(api.GET("/api/notifications/preferences/")).then(
      (loaded) => current && setPreferences(loaded),
      () => current && setStatus("Preferences could not be loaded."),
    );
    return () => {
      current = false;
    };
  }, [api]);
  // The box changes at once; the server's answer replaces it, or the change is undone.
  const change = useCallback(
    async (kind: Kind, channel: Channel, on: boolean) => {
      const flip = (value: boolean) => (current: Preferences | null) =>
        current && { ...current, [kind]: { ...current[kind], [channel]: value } };
      setPreferences(flip(on));
      setStatus("Saving…");
      try {
        // Computed keys widen to string in TypeScript; kind and channel are typed above.
        const body = { [kind]: { [channel]: on } } as PreferencesChange;
        setPreferences(await must(api.PUT("/api/notifications/preferences/", { body })));
        setStatus("Saved.");
      } catch (error) {
        setPreferences(flip(!on));
        setStatus(`Not saved: ${(error as Error).message}`);
      }
    },
    [api],
  );
  return { preferences, status, change };
}
