// Live lists: a section with data-live-src is replaced by the server's newest rendering of it every second, so
// late cases appear as pushes arrive, without a reload. It stops when the session ends.
"use strict";
for (const section of document.querySelectorAll("[data-live-src]")) {
  let shown = section.innerHTML;
  const refresh = async () => {
    try {
      const response = await fetch(section.dataset.liveSrc, { credentials: "same-origin", cache: "no-store" });
      if (response.status === 401) {
        section.dataset.liveStopped = "signed-out";
        return;
      }
      if (response.ok) {
        const html = await response.text();
        if (html !== shown) {
          section.innerHTML = html;
          shown = html;
          section.dataset.liveUpdated = new Date().toISOString();
        }
      }
    } catch (error) {
      // Offline for a moment: try again on the next tick.
    }
    setTimeout(refresh, 1000);
  };
  setTimeout(refresh, 1000);
}
