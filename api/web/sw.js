// The inbox's service worker (served at /sw.js so its scope is the whole site): a pushed
// incident becomes a notification whether the inbox is open or not, and tapping it opens the
// incident's ticket.

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { title: "riverwatch", body: event.data ? event.data.text() : "" };
  }
  const options = {
    body: data.body || "",
    icon: "/static/icon.svg",
    badge: "/static/icon.svg",
    image: data.image,
    tag: data.tag,
    renotify: true,
    requireInteraction: true,
    data: { url: data.url || "/inbox" },
  };
  event.waitUntil(self.registration.showNotification(data.title || "riverwatch", options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = new URL(event.notification.data.url, self.location.origin).href;
  event.waitUntil(
    (async () => {
      const open = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      const inbox = open.find((w) => new URL(w.url).pathname === "/inbox");
      if (inbox) {
        await inbox.navigate(url);
        return inbox.focus();
      }
      return self.clients.openWindow(url);
    })(),
  );
});
