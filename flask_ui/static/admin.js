// The admin page's little bit of script: live updates, waiting timers, the model picker.
// No build step, no framework. Everything works without it except what is live.
"use strict";
(function () {
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  const skew = parseFloat(document.body.dataset.serverNow || "0") - Date.now() / 1000;
  const now = () => Date.now() / 1000 + skew;
  const catalogueEl = $("#catalogue");
  const catalogue = catalogueEl ? JSON.parse(catalogueEl.textContent) : {};
  const csrf = $('meta[name="csrf-token"]').content;

  function el(tag, attrs = {}, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function fmt(seconds) {
    seconds = Math.max(0, seconds);
    if (seconds < 60) return Math.floor(seconds) + " s";
    const m = Math.floor(seconds / 60), h = Math.floor(m / 60);
    return h ? `${h} h ${String(m % 60).padStart(2, "0")} min` : `${m} min ${String(Math.floor(seconds % 60)).padStart(2, "0")} s`;
  }

  // --- forms that ask first: data-confirm (the CSP allows no inline handlers) ---------------
  document.addEventListener("submit", (e) => {
    const question = e.target.dataset ? e.target.dataset.confirm : undefined;
    if (question && !window.confirm(question)) e.preventDefault();
  });

  // --- waiting timers on pending invocations -----------------------------------------------
  function tick() {
    for (const card of $$(".inv")) {
      const timer = $(".timer", card);
      const state = card.dataset.state;
      if (state !== "ready" && state !== "invoking") { timer.textContent = ""; continue; }
      const since = parseFloat(card.dataset.started || card.dataset.created);
      const typical = parseFloat(card.dataset.typical);
      timer.textContent = "waiting " + fmt(now() - since) + (typical ? ` (usually ~${typical} s)` : "");
      card.classList.toggle("slow", typical && now() - since > typical * 3);
    }
    for (const due of $$('[data-field="countdown"]')) {  // the paced wait until a network's next step
      const at = parseFloat(due.dataset.due);
      due.textContent = at && at > now() ? "next step in " + fmt(at - now()) : "";
    }
    const up = $('[data-status="uptime"]');
    if (up && up.dataset.started) up.textContent = fmt(now() - parseFloat(up.dataset.started));
  }
  setInterval(tick, 1000);
  tick();

  // --- live feed over server-sent events ----------------------------------------------------
  function renderOutput(msg) {
    const out = el("div", { class: "out" });
    if (msg.state === "failed") out.append(el("p", { class: "error" }, msg.error || "failed"));
    else if (msg.output == null) out.append(el("p", { class: "muted" }, `${msg.input_type} → ${msg.output_type}`));
    else if (msg.output_type === "text") out.append(el("p", { class: "text" }, msg.output));
    else if (msg.output_type === "image") {
      const a = el("a", { href: msg.output });
      a.append(el("img", { src: msg.output, alt: "image output" }));
      out.append(a);
    } else if (msg.output_type === "audio") out.append(el("audio", { controls: "", preload: "none", src: msg.output }));
    if (msg.flags && msg.flags.length) out.append(el("span", { class: "flags" }, msg.flags.join(", ")));
    return out;
  }
  function card(msg, isNew) {
    const model = catalogue[msg.model];
    const art = el("article", { class: `inv state-${msg.state}` + (isNew ? " fresh" : ""), "data-id": msg.id, "data-state": msg.state,
      "data-run": msg.run_id, "data-network": msg.network, "data-created": msg.created_at,
      "data-started": msg.started_at || "", "data-typical": model ? model.typical : "" });
    const head = el("header");
    head.append(el("span", { class: "seq" }, "#" + msg.sequence), el("span", { class: "model" }, msg.model_name),
      el("span", { class: `badge ${msg.state}` }, msg.state), el("span", { class: "timer" }),
      el("span", { class: "net" }, msg.network));
    art.append(head, renderOutput(msg));
    return art;
  }
  const RANK = { ready: 0, invoking: 1, completed: 2, failed: 2 };
  const relative = (u) => (typeof u === "string" && /^https?:/.test(u) && u.includes("/media/") ? u.slice(u.indexOf("/media/")) : u);
  function upsert(msg) {
    const feed = $("#feed");
    msg = { ...msg, input: relative(msg.input), output: relative(msg.output) };
    const old = $$(".inv", feed).find((c) => c.dataset.id === msg.id);
    if (old && RANK[old.dataset.state] > RANK[msg.state]) return;  // never go back to an older state
    const fresh = card(msg, !old);
    if (old) old.replaceWith(fresh);
    else feed.prepend(fresh);
    const cards = $$(".inv", feed);
    cards.slice(40).forEach((c) => c.remove());
    $(".empty", feed).hidden = cards.length > 0;
    tick();
  }
  function networkState(data) {
    const net = $(`.network[data-network="${CSS.escape(data.network)}"]`);
    if (net) {
      const badge = $('[data-field="state"]', net);
      badge.textContent = data.state;
      badge.className = `badge ${data.state}`;
      const seq = $('[data-field="sequence"]', net);
      if (seq) seq.textContent = data.sequence == null ? "–" : data.sequence;
      const due = $('[data-field="countdown"]', net);
      if (due && "next_invocation_at" in data) due.dataset.due = data.next_invocation_at || "";
      const pause = $('[data-field="pause"]', net);
      if (pause && "pause" in data) { pause.textContent = data.pause || ""; pause.hidden = !data.pause; }
    }
    if (data.run_id) {  // a new run: the feed shows the current run's invocations only
      $$("#feed .inv").filter((c) => c.dataset.network === data.network && c.dataset.run && c.dataset.run !== data.run_id)
        .forEach((c) => c.remove());
    }
  }
  // Events between the page's render and the stream's start are not lost: at every (re)connect
  // the first status names the runs in progress, and their invocations are fetched once.
  let resync = true;
  async function catchUp(networks) {
    for (const net of Object.values(networks || {})) {
      if (!net.run_id) continue;
      try {
        const r = await fetch(`/api/runs/${encodeURIComponent(net.run_id)}?limit=12`, { headers: { Accept: "application/json" } });
        if (r.ok) (await r.json()).invocations.reverse().forEach(upsert);  // newest first: oldest goes in first
      } catch (err) { /* the stream keeps going; the next reconnect tries again */ }
    }
  }
  function status(data) {
    if (resync) { resync = false; catchUp(data.networks); }
    const broker = $('[data-status="broker"]');
    if (broker) {
      broker.textContent = data.broker_connected ? "connected" : "disconnected";
      broker.className = "value " + (data.broker_connected ? "ok" : "bad");
    }
    const internet = $('[data-status="internet"]');
    if (internet && "internet" in data) {  // online, offline, unknown, or "not needed" (local models only)
      internet.textContent = data.internet || "unknown";
      internet.className = "value" + (data.internet === "offline" ? " bad" : "");
    }
    for (const [slug, net] of Object.entries(data.networks || {})) {
      const card = $(`.network[data-network="${CSS.escape(slug)}"]`);
      if (!card) continue;
      const nodes = $('[data-field="display_nodes"]', card);
      if (nodes && net.display_nodes != null) nodes.textContent = net.display_nodes;
      networkState({ network: slug, state: net.state, sequence: net.sequence, run_id: null,
                     next_invocation_at: net.next_invocation_at, pause: net.pause });
    }
  }
  const feed = $("#feed[data-live]");
  if (feed && window.EventSource) {
    const live = $('[data-status="live"]');
    const source = new EventSource("/events");
    source.onopen = () => { live.textContent = "live"; live.className = "value ok"; };
    source.onerror = () => { live.textContent = "reconnecting…"; live.className = "value bad"; resync = true; };
    source.addEventListener("invocation", (e) => upsert(JSON.parse(e.data)));
    source.addEventListener("state", (e) => networkState(JSON.parse(e.data)));
    source.addEventListener("status", (e) => status(JSON.parse(e.data)));
  }

  // --- the model picker ---------------------------------------------------------------------
  const chain = $("#chain");
  const input = $("#model-input");
  const form = $("#network-form");
  if (!chain || !form) return;
  const problemsEl = $("#chain-problems");
  const badge = (name) => $(`[data-badge="${name}"]`);

  function markDirty() {
    const b = badge("saved");
    b.textContent = "unsaved changes";
    b.className = "badge warn";
  }
  function models() { return $$("li", chain).map((li) => li.dataset.model); }
  function item(id) {
    const m = catalogue[id];
    const li = el("li", { "data-model": id });
    li.append(el("input", { type: "hidden", name: "models", value: id }),
      el("span", { class: "name" }, m ? m.name : id), el("span", { class: "io" }, m ? `${m.input} → ${m.output}` : "unknown"),
      el("button", { type: "button", class: "small", "data-act": "up", "aria-label": "move up" }, "↑"),
      el("button", { type: "button", class: "small", "data-act": "remove", "aria-label": "remove" }, "✕"));
    return li;
  }
  function resolve(text) {
    const q = text.trim().toLowerCase();
    if (!q) return null;
    if (catalogue[q]) return q;
    const ids = Object.keys(catalogue);
    const offered = ids.filter((id) => !catalogue[id].deprecated); // deprecated: only by exact id
    const byName = offered.filter((id) => catalogue[id].name.toLowerCase() === q);
    if (byName.length === 1) return byName[0];
    const partial = offered.filter((id) => id.includes(q) || catalogue[id].name.toLowerCase().includes(q));
    return partial.length === 1 ? partial[0] : null;
  }
  function add(id) {
    chain.append(item(id));
    input.value = "";
    input.focus();
    changed();
  }
  function tryAdd() {
    const id = resolve(input.value);
    if (id) { add(id); return; }
    if (input.value.trim()) {
      problemsEl.replaceChildren(el("li", {}, `no single model matches “${input.value.trim()}”; keep typing or pick from the list`));
    }
    input.focus();
  }
  function suggest() {
    const box = $("#suggest");
    if (!box) return;
    const list = models();
    const last = list.length ? catalogue[list[list.length - 1]] : null;
    const want = last ? last.output : "text";
    const fits = Object.keys(catalogue).filter((id) => catalogue[id].input === want && !catalogue[id].deprecated)
      .sort((a, b) => (catalogue[a].platform !== "local") - (catalogue[b].platform !== "local")).slice(0, 8);
    box.replaceChildren(el("span", { class: "muted" }, `takes ${want}: `));
    for (const id of fits) {
      const b = el("button", { type: "button", class: "small chip", "data-add": id }, catalogue[id].name);
      box.append(b);
    }
  }
  let pending = 0;
  async function validate() {
    const ticket = ++pending;
    const params = new URLSearchParams({ models: models().join(",") });
    const slug = form.elements.slug && form.elements.slug.value;
    if (slug) params.set("slug", slug);
    try {
      const r = await fetch("/api/networks/check?" + params, { headers: { Accept: "application/json" } });
      const body = await r.json();
      if (ticket !== pending) return;  // a newer check is on its way
      problemsEl.replaceChildren(...body.problems.map((p) => el("li", {}, p)));
      const b = badge("runnable");
      b.textContent = body.runnable ? "runnable" : "not runnable";
      b.className = "badge " + (body.runnable ? "ok" : "bad");
      chain.classList.toggle("valid", body.runnable);
    } catch (err) { problemsEl.replaceChildren(el("li", {}, "could not check the chain: " + err)); }
  }
  function changed() { markDirty(); suggest(); validate(); }

  chain.addEventListener("click", (e) => {
    const btn = e.target.closest("button[data-act]");
    if (!btn) return;
    const li = btn.closest("li");
    if (btn.dataset.act === "remove") li.remove();
    if (btn.dataset.act === "up" && li.previousElementSibling) chain.insertBefore(li, li.previousElementSibling);
    changed();
  });
  if (input) {
    input.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); tryAdd(); } });
    // choosing from the datalist fills the input with an exact id: add it at once
    input.addEventListener("input", (e) => { if (catalogue[input.value] && e.inputType !== "insertText") add(input.value); });
    $("#model-add").addEventListener("click", tryAdd);
    $("#suggest").addEventListener("click", (e) => { const b = e.target.closest("[data-add]"); if (b) add(b.dataset.add); });
  }
  form.addEventListener("input", (e) => { if (e.target !== input) markDirty(); });
  suggest();
  validate();
})();
