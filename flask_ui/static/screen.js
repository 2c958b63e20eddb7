// A screen in a browser (/s/<name>): fetch what it shows every two seconds, redraw when it changed.
// A failed fetch keeps the picture; the next one tries again.
"use strict";
(function () {
  const url = document.body.dataset.cells;
  if (!url) return;
  let last = "";
  async function refresh() {
    try {
      const response = await fetch(url, { cache: "no-store" });
      if (!response.ok) return;
      const html = await response.text();
      if (html !== last) {
        last = html;
        document.getElementById("cells").outerHTML = html;
      }
    } catch (err) { /* the appliance is away: keep the picture */ }
  }
  setInterval(refresh, 2000);
})();
