// Web Push on this browser: on (service worker, permission, the browser's subscription
// sent to the server), off (the server's row deleted, then the browser's subscription),
// and off at logout, so that the next person on this browser gets none of these pushes.
import { useCallback, useEffect, useState } from "react";

import { type Api, type PushSubscriptionRow, defaultApi, must } from "../api/client";

export type PushState = "unsupported" | "unknown" | "off" | "on" | "busy";

export interface UsePush {
  state: PushState;
  /** What happened last, for people: "This device gets push notifications." */
  status: string;
  turnOn: () => Promise<void>;
  turnOff: () => Promise<void>;
}

const WORKER = "/sw.js";
/** The logout waits this long at most for the browser's push service to unsubscribe. */
export const LOGOUT_PATIENCE_MS = 3_000;

function supported(): boolean {
  return "serviceWorker" in navigator && "PushManager" in window;
}

async function browserSubscription(): Promise<PushSubscription | null> {
  const registration = await navigator.serviceWorker.getRegistration("/");
  return (await registration?.pushManager.getSubscription()) ?? null;
}

/** The server's row of this browser's endpoint, or null: asked by the endpoint. */
async function serverRow(api: Api, endpoint: string): Promise<PushSubscriptionRow | null> {
  const query = { endpoint };
  const rows = await must(api.GET("/api/push/subscriptions/", { params: { query } }));
  return rows.results.find((r) => r.endpoint === endpoint) ?? null;
}

function bytesOf(base64url: string): Uint8Array<ArrayBuffer> {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "===".slice((base64.length + 3) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

export function usePush(api: Api = defaultApi()): UsePush {
  const [state, setState] = useState<PushState>(supported() ? "unknown" : "unsupported");
  const [status, setStatus] = useState("");
  // On when the browser holds a subscription and the server has it too (it deletes a
  // session's rows at logout, from any page).
  useEffect(() => {
    if (!supported()) return;
    let current = true;
    (async () => {
      const subscription = await browserSubscription();
      const on = subscription !== null && (await serverRow(api, subscription.endpoint)) !== null;
      if (current) setState(on ? "on" : "off");
    })().catch(() => current && setState("off"));
    return () => {
      current = false;
    };
  }, [api]);

  const turnOn = useCallback(async () => {
    setState("busy");
    try {
      if (!supported()) throw new Error("this browser has no Web Push");
      const registration = await navigator.serviceWorker.register(WORKER, { scope: "/" });
      if ((await Notification.requestPermission()) !== "granted") throw new Error("not allowed");
      const { public_key } = await must(api.GET("/api/push/key/"));
      const subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: bytesOf(public_key),
      });
      const json = subscription.toJSON();
      const keys = { p256dh: json.keys?.p256dh ?? "", auth: json.keys?.auth ?? "" };
      const body = { endpoint: subscription.endpoint, keys };
      // A subscription the server refused would only look on: the browser's ends too.
      await must(api.POST("/api/push/subscriptions/", { body })).catch(async (error) => {
        await subscription.unsubscribe().catch(() => undefined);
        throw error;
      });
      setState("on");
      setStatus("This device gets push notifications.");
    } catch (error) {
      setState("off");
      setStatus(`Push is not on: ${(error as Error).message}`);
    }
  }, [api]);

  const turnOff = useCallback(async () => {
    setState("busy");
    try {
      const subscription = await browserSubscription();
      if (subscription) {
        // The server's row first: once it is gone nothing is pushed here, even if the
        // browser's push service never answers the unsubscribe.
        const row = await serverRow(api, subscription.endpoint);
        if (row) {
          await must(
            api.DELETE("/api/push/subscriptions/{subscription_id}/", {
              params: { path: { subscription_id: row.id } },
            }),
          );
        }
        await subscription.unsubscribe();
      }
      setState("off");
      setStatus("This device gets no push notifications.");
    } catch (error) {
      setState("on");
      setStatus(`Push is still on: ${(error as Error).message}`);
    }
  }, [api]);

  return { state, status, turnOn, turnOff };
}

/** Before `form` (the page's logout) submits, end this browser's push subscription; the
 * server deletes the session's rows at logout too. Waits LOGOUT_PATIENCE_MS at most. */
export function useLogoutEndsPush(formId: string = "logout"): void {
  useEffect(() => {
    const form = document.getElementById(formId);
    if (!(form instanceof HTMLFormElement) || !supported()) return;
    const onSubmit = (event: SubmitEvent) => {
      event.preventDefault();
      const unsubscribed = browserSubscription().then((s) => s?.unsubscribe());
      const patience = new Promise((resolve) => setTimeout(resolve, LOGOUT_PATIENCE_MS));
      void Promise.race([unsubscribed, patience])
        .catch(() => undefined)
        .then(() => form.submit()); // fires no submit event: this handler does not run again
    };
    form.addEventListener("submit", onSubmit);
    return () => form.removeEventListener("submit", onSubmit);
  }, [formId]);
}
