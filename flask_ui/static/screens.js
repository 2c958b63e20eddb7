// The Screens page: live thumbnails (asked for when the page opens and every 30 s while it is
// visible, shown as they arrive over the event stream) and the node buttons without a reload.
"use strict";
(function () {
  const root = document.getElementById("screens");
  if (!root) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const admin = root.dataset.admin === "1";
  const cards = () => Array.from(root.querySelectorAll(".node-card"));
  const card = (id) => cards().find((c) => c.dataset.node === id);
  const takes = (c, verb) => (c.dataset.commands || "").split(" ").includes(verb);
  const nodeUrl = (id) => `/api/nodes/${encodeURIComponent(id)}`;

  function show(id, at) {
    const c = card(id);
    if (!c) return;
    const box = c.querySelector(".thumb");
    let img = box.querySelector("img");
    if (!img) {
      box.textContent = "";
      img = document.createElement("img");
      img.alt = `what ${id} shows`;
      box.append(img);
    }
    img.src = `${nodeUrl(id)}/screenshot.png?t=${at}`;
  }
  async function send(id, verb) {
    try {
      const r = await fetch(`${nodeUrl(id)}/cmd/${encodeURIComponent(verb)}`, {
        method: "POST", headers: { "X-CSRFToken": csrf, Accept: "application/json" } });
      const body = await r.json();
      return r.ok ? "" : body.error || `HTTP ${r.status}`;
    } catch (err) {
      return String(err);
    }
  }
  async function refresh() {
    if (document.hidden) return;
    try {
      const r = await fetch("/api/nodes", { headers: { Accept: "application/json" } });
      for (const node of (await r.json()).nodes) {
        const c = card(node.node_id);
        if (!c) continue;
        c.dataset.online = node.online ? "1" : "0";
        const online = c.querySelector('[data-field="online"]');
        online.textContent = node.online ? "online" : "offline";
        online.className = "badge " + (node.online ? "ok" : "bad");
        c.querySelector('[data-field="showing"]').textContent = node.showing || "live";
      }
    } catch (err) { /* the next refresh tries again */ }
    if (!admin) return;
    for (const c of cards()) if (c.dataset.online === "1" && takes(c, "screenshot")) send(c.dataset.node, "screenshot");
  }
  root.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = event.target.querySelector("button");
    const c = event.target.closest(".node-card");
    const note = c.querySelector(".sent");
    button.disabled = true;
    const problem = await send(c.dataset.node, button.dataset.verb);
    button.disabled = false;
    note.textContent = problem || `sent ${button.dataset.verb}`;
    // let the thumbnail show what the command did
    if (!problem && button.dataset.verb !== "screenshot" && takes(c, "screenshot")) {
      setTimeout(() => send(c.dataset.node, "screenshot"), 800);
    }
  });
  if (window.EventSource) {
    const source = new EventSource("/events");
    source.addEventListener("screenshot", (e) => { const d = JSON.parse(e.data); show(d.node_id, d.at); });
  }
  refresh();
  setInterval(refresh, 30000);
})();
