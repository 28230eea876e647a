// Alerts on this phone: the inbox's button subscribes the browser to Web Push with the site's
// key and hands the subscription to the hub; the service worker (/sw.js) shows what arrives.

import { api } from "./api.js";

function keyBytes(base64url) {
  const padded = base64url.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((base64url.length + 3) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

export async function setupPush(button, state) {
  if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
    state.textContent = "This browser cannot take alerts.";
    button.hidden = true;
    return null;
  }
  const registration = await navigator.serviceWorker.register("/sw.js");
  const existing = await registration.pushManager.getSubscription();
  state.textContent = existing ? "Alerts are on for this phone." : "";
  button.addEventListener("click", async () => {
    try {
      if ((await Notification.requestPermission()) !== "granted") {
        state.textContent = "Notifications are blocked for this site.";
        return;
      }
      const { public_key } = await api("/api/push/key");
      const subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: keyBytes(public_key),
      });
      const { endpoint, keys } = subscription.toJSON();
      await api("/api/push/subscriptions", { method: "POST", json: { endpoint, keys } });
      state.textContent = "Alerts are on for this phone.";
    } catch (error) {
      state.textContent = "Alerts could not be turned on: " + error.message;
    }
  });
  return registration;
}
