// Shopflow's service worker: shows Web Push notifications, opens their link on click,
// and subscribes again when the browser replaces the subscription.
"use strict";

self.addEventListener("push", (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch (error) { data = {body: event.data.text()}; }
  const title = data.title || "Shopflow";
  event.waitUntil(self.registration.showNotification(title, {
    body: data.body || "",
    tag: data.id ? `notification-${data.id}` : undefined,
    data: {url: data.url || "/account/notifications/"},
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = new URL(event.notification.data.url, self.location.origin).href;
  event.waitUntil((async () => {
    const open = await self.clients.matchAll({type: "window", includeUncontrolled: true});
    const same = open.find((client) => client.url === url);
    return same ? same.focus() : self.clients.openWindow(url);
  })());
});

self.addEventListener("pushsubscriptionchange", (event) => {
  // No session here: the old endpoint stands for this browser (POST .../renew/).
  event.waitUntil((async () => {
    const old = event.oldSubscription;
    const options = old ? old.options : null;
    const renewed = event.newSubscription
      || (options && await self.registration.pushManager.subscribe(options));
    if (!old || !renewed) return;
    await fetch("/api/push/subscriptions/renew/", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({old_endpoint: old.endpoint, ...renewed.toJSON()}),
    });
  })());
});
