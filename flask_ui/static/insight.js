// Insight charts on the run page: the path through meaning, drift and step, the hops that move
// meaning most, the persistence barcode and runs like this one. Plain SVG, no library.
// Data: GET /api/runs/<id>/insight, a window of the newest points (LIMIT); "earlier steps" pages
// back with ?before=, and a live run fetches only what is new (?after=) on the server-sent
// "insight" events. Every point shown is in one projection: when the server's changes (a refit),
// everything shown is fetched again.
"use strict";
(function () {
  const section = document.getElementById("insight");
  if (!section) return;
  const SVG = "http://www.w3.org/2000/svg";
  const PALETTE = ["#ff5c38", "#6ec8ff", "#ffd250", "#96e678", "#dc82ff", "#ff8cbe", "#5adcc8"];
  const STUCK = "#ffaa28", LOOP = "#e664ff", H0 = "#6ec8ff", H1 = "#ff78c8", INK = "#ece8de", DIM = "#8c8c9b";

  function el(tag, attrs = {}, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function svg(tag, attrs = {}, title) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (title) { const t = document.createElementNS(SVG, "title"); t.textContent = title; node.append(t); }
    return node;
  }
  const f2 = (v) => (v == null ? "–" : Number(v).toFixed(2));
  const clip = (v) => Math.max(-1.25, Math.min(1.25, v));

  function figure(caption, body, legend) {
    const fig = el("figure");
    fig.append(el("figcaption", {}, caption), body);
    if (legend) fig.append(el("p", { class: "legend" }, legend));
    return fig;
  }

  function pathChart(model, colours) {
    const box = svg("svg", { viewBox: "-1.3 -1.3 2.6 2.6", role: "img", "aria-label": "the run's path in two dimensions" });
    box.append(svg("line", { x1: -1.3, y1: 0, x2: 1.3, y2: 0, stroke: "#34343f", "stroke-width": 0.006 }),
               svg("line", { x1: 0, y1: -1.3, x2: 0, y2: 1.3, stroke: "#34343f", "stroke-width": 0.006 }));
    const pts = model.points;
    const xy = (p) => [clip(p[0]), -clip(p[1])];
    const n = pts.length;
    if (model.prompt_point && n) {
      const [x1, y1] = xy(model.prompt_point), [x2, y2] = xy(pts[0].point);
      box.append(svg("line", { x1, y1, x2, y2, stroke: "#fff0a0", "stroke-width": 0.01, "stroke-dasharray": "0.03 0.03", "stroke-opacity": 0.6 }));
    }
    for (let i = 1; i < n; i++) {
      const [x1, y1] = xy(pts[i - 1].point), [x2, y2] = xy(pts[i].point);
      const age = Math.pow(i / (n - 1), 1.5);
      box.append(svg("line", { x1, y1, x2, y2, stroke: colours[pts[i].hop], "stroke-width": i === n - 1 ? 0.025 : 0.014,
        "stroke-opacity": 0.2 + 0.8 * age, "stroke-linecap": "round" }));
    }
    pts.forEach((p, i) => {
      const [cx, cy] = xy(p.point);
      const flag = p.flags.includes("loop") ? LOOP : p.flags.includes("stuck") ? STUCK : colours[p.hop];
      const dot = svg("circle", { cx, cy, r: i === n - 1 ? 0.045 : 0.022, fill: flag, stroke: i === n - 1 ? INK : "none",
        "stroke-width": 0.012, "fill-opacity": i === n - 1 ? 1 : 0.35 + 0.65 * Math.pow(i / Math.max(1, n - 1), 1.5) },
        `#${p.sequence} ${p.hop}: drift ${f2(p.drift)}, step ${f2(p.step)}${p.flags.length ? " — " + p.flags.join(", ") : ""}`);
      dot.style.cursor = "pointer";
      dot.addEventListener("click", () => {
        const card = document.querySelector(`.inv[data-id="${CSS.escape(p.invocation_id)}"]`);
        if (card) card.scrollIntoView({ behavior: "smooth", block: "center" });
      });
      box.append(dot);
    });
    if (model.prompt_point) {
      const [cx, cy] = xy(model.prompt_point);
      const star = [];
      for (let k = 0; k < 10; k++) {
        const r = k % 2 ? 0.03 : 0.07, a = -Math.PI / 2 + (k * Math.PI) / 5;
        star.push(`${cx + r * Math.cos(a)},${cy + r * Math.sin(a)}`);
      }
      box.append(svg("polygon", { points: star.join(" "), fill: "#ffeca0" }, "the prompt"));
    }
    return figure("Path through meaning", box, "Each dot is an output, placed by its meaning (a fixed 2-D view of the " +
      "embeddings); the star is the prompt; newer steps are brighter. Click a dot to see the output.");
  }

  function driftChart(model) {
    const pts = model.points, W = 300, H = 120, n = pts.length;
    const box = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "drift and step along the run" });
    const x = (i) => (n > 1 ? 6 + (i * (W - 12)) / (n - 1) : W / 2), y = (v) => H - 6 - ((H - 12) * Math.min(v, 2)) / 2;
    const unrelated = y(Math.SQRT2);
    box.append(svg("line", { x1: 0, y1: unrelated, x2: W, y2: unrelated, stroke: "#4a4a58", "stroke-dasharray": "4 4" },
      "1.41: as far as two unrelated texts"));
    const line = (key, colour, width) => box.append(svg("polyline", { points: pts.map((p, i) => `${x(i)},${y(p[key])}`).join(" "),
      fill: "none", stroke: colour, "stroke-width": width, "stroke-linejoin": "round" }));
    line("step", "#6a6a7a", 1.2);
    line("drift", "#ff8a5c", 2.2);
    pts.forEach((p, i) => {
      if (p.flags.length) box.append(svg("circle", { cx: x(i), cy: y(p.drift), r: 3.5, fill: p.flags.includes("loop") ? LOOP : STUCK },
        `#${p.sequence}: ${p.flags.join(", ")}${p.loop_period ? " (every " + p.loop_period + ")" : ""}`));
    });
    const last = pts[n - 1];
    const fig = figure("Drift from the prompt (orange) and step (grey)", box,
      `now ${f2(last && last.drift)} from the prompt; the last step moved ${f2(last && last.step)}. ` +
      "Dashed: as far apart as two unrelated texts. Orange dots: stuck; purple: a loop back to an earlier idea.");
    const badges = (last ? last.flags : []).filter((f) => f === "stuck" || f === "loop");
    if (badges.length) {
      const p = el("p", { class: "legend" });
      for (const f of badges) p.append(el("span", { class: `flag ${f}` }, f.toUpperCase() +
        (f === "loop" && last.loop_period ? ` · every ${last.loop_period}` : "")), " ");
      fig.append(p);
    }
    return fig;
  }

  function hopsTable(model, colours) {
    const table = el("table", { class: "hops" });
    const biggest = Math.max(0.01, ...model.hops.map((h) => h.mean_step));
    for (const h of model.hops) {
      const row = el("tr");
      const bar = el("span", { class: "bar" });
      bar.style.width = `${(6 * h.mean_step) / biggest}rem`;
      bar.style.background = colours[h.hop];
      const cell = el("td"); cell.append(bar);
      row.append(cell, el("td", {}, h.name), el("td", {}, f2(h.mean_step)), el("td", { class: "muted" }, `${h.steps} steps`));
      table.append(row);
    }
    return figure("Which models move meaning most (mean step)", table,
      "A step is the distance between consecutive embedded outputs; it is credited to the models between them.");
  }

  function barcode(model) {
    const p = model.persistence;
    if (!p) return figure("Shape of the last stretch", el("p", { class: "muted" }, "after three outputs"));
    const keep = (b) => b[1] == null || b[1] - b[0] > 1e-3;
    const bars = [...p.h0.filter(keep).map((b) => [b, H0]), ...p.h1.filter(keep).map((b) => [b, H1])];
    const finite = bars.flatMap(([b]) => b.filter((v) => v != null));
    const scale = Math.max(0.5, ...finite) * 1.08, W = 300, row = 7, H = Math.max(30, bars.length * row + 8);
    const box = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "persistence barcode" });
    bars.forEach(([b, colour], i) => {
      const x1 = 6 + ((W - 12) * b[0]) / scale, x2 = b[1] == null ? W - 4 : 6 + ((W - 12) * b[1]) / scale;
      box.append(svg("rect", { x: x1, y: 4 + i * row, width: Math.max(1.5, x2 - x1), height: row - 2, rx: 2, fill: colour },
        `${colour === H0 ? "H0" : "H1"}: born ${f2(b[0])}, ${b[1] == null ? "never dies" : "dies " + f2(b[1])}`));
    });
    return figure(`Shape of the last ${p.points} outputs (persistence)`, box,
      "Blue (H0): groups of ideas, each bar ends where it joins another; the one that never ends is the whole run. " +
      "Pink (H1): loops; a long pink bar means the run circled back to an old idea from far away.");
  }

  function similar(model) {
    const list = el("ol", { class: "similar" });
    for (const s of model.similar) {
      const item = el("li");
      const a = el("a", { href: `/runs/${encodeURIComponent(s.run_id)}` }, `“${s.prompt.slice(0, 80)}”`);
      item.append(a, el("span", { class: "muted" }, ` on ${s.network}, ${f2(s.distance)} apart`));
      list.append(item);
    }
    if (!model.similar.length) list.append(el("li", { class: "muted" }, "none found yet"));
    return figure("Runs like this one", list, "Nearest runs by their paths: 0 = the same ideas, 1.41 = unrelated.");
  }

  const LIMIT = 200, MAX_SHOWN = 1000;
  let models = [];  // per embedding model: the API's entry, its points merged over fetches

  function get(params) {
    const url = new URL(section.dataset.api, window.location.href);
    for (const [k, v] of Object.entries(params)) if (v != null) url.searchParams.set(k, v);
    return fetch(url, { headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(r.status))));
  }

  // Fold a fetched window into what is shown: points by step number, at most MAX_SHOWN (the newest).
  function merge(shown, fresh, direction) {
    const bySeq = new Map(shown.points.map((p) => [p.sequence, p]));
    for (const p of fresh.points) bySeq.set(p.sequence, p);
    let points = [...bySeq.values()].sort((a, b) => a.sequence - b.sequence);
    let older = direction === "older" ? fresh.older : shown.older;
    if (points.length > MAX_SHOWN) {
      points = points.slice(points.length - MAX_SHOWN);
      older = String(points[0].sequence);
    }
    return { ...fresh, points, older };
  }

  function pager(model) {
    const p = el("p", { class: "model-name" });
    const first = model.points[0], last = model.points[model.points.length - 1];
    p.append(`embedded with ${model.embedding_model}: steps #${first.sequence}–#${last.sequence}, ` +
      `${model.points.length} of ${model.points_total} outputs shown `);
    if (model.older) {
      const more = el("button", { type: "button", class: "earlier" }, "earlier steps");
      more.addEventListener("click", () => {
        more.disabled = true;
        get({ model: model.embedding_model, before: model.older, limit: LIMIT }).then((data) => {
          const fresh = data.models[0];
          if (!fresh || fresh.projection !== model.projection) return load();
          models = models.map((m) => (m.embedding_model === model.embedding_model ? merge(m, fresh, "older") : m));
          render();
        }).catch(() => { more.disabled = false; });
      });
      p.append(more);
    }
    return p;
  }

  function render() {
    const holder = section.querySelector(".insight-models");
    holder.replaceChildren();
    const withPoints = models.filter((m) => m.points.length);
    section.querySelector(".insight-empty").hidden = withPoints.length > 0;
    for (const model of withPoints) {
      const hops = [...new Set([...model.hops.map((h) => h.hop), ...model.points.map((p) => p.hop)])].sort();
      const colours = Object.fromEntries(hops.map((h, i) => [h, PALETTE[i % PALETTE.length]]));
      holder.append(pager(model));
      const grid = el("div", { class: "insight-grid" });
      grid.append(pathChart(model, colours), driftChart(model), hopsTable(model, colours), barcode(model), similar(model));
      holder.append(grid);
    }
  }

  // The newest window of every model, from scratch.
  function load() {
    pending = null;
    return get({ limit: LIMIT }).then((data) => { models = data.models; render(); }).catch(() => {});
  }

  // Only what is new since the newest point shown, per model; from scratch after a refit.
  let pending = null;
  function refresh() {
    pending = null;
    if (!models.some((m) => m.points.length)) return load();
    return Promise.all(models.map((m) => {
      const newest = m.points.length ? m.points[m.points.length - 1].sequence : null;
      return get({ model: m.embedding_model, after: newest, limit: LIMIT }).then((data) => data.models[0]);
    })).then((fresh) => {
      if (fresh.some((f, i) => !f || f.projection !== models[i].projection)) return load();
      models = models.map((m, i) => merge(m, fresh[i], "newer"));
      render();
      if (fresh.some((f) => f.newer) && !pending) pending = setTimeout(refresh, 50);
    }).catch(() => {});
  }

  load();
  if (section.dataset.live && window.EventSource) {
    const source = new EventSource("/events");
    source.addEventListener("insight", (e) => {
      const msg = JSON.parse(e.data);
      if (msg.run_id !== section.dataset.run || pending) return;
      const known = models.some((m) => m.embedding_model === msg.embedding_model);
      pending = setTimeout(known ? refresh : load, 400);  // a model not shown yet: everything again
    });
    window.addEventListener("pagehide", () => source.close());
  }
})();
