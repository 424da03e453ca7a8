// vpcfwd's page: the drawing, a traced packet's path lit stage by stage, live counters.
// No framework, no CDN: served from the binary.
"use strict";
const $ = (s) => document.querySelector(s);
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
const state = { nodes: [], byHtml: {}, hops: [], verdicts: [], step: 0, timer: null, picked: [], lastLive: null };
// Hooks for work in flight (scenarios, the reach grid): /api/info names them once they exist.
const hooks = {
  scenarios(list) { $("#hooks").hidden = false; $("#scenarios").textContent = "Scenarios: " + list.join(", "); },
  reach(url) { $("#hooks").hidden = false; $("#reach").textContent = "Reachability grid: " + url; },
};

function prefs() {
  const q = new URLSearchParams(location.search);
  const dark = q.get("theme") ? q.get("theme") === "dark"
    : localStorage.getItem("vpcfwd-theme") ? localStorage.getItem("vpcfwd-theme") === "dark"
    : matchMedia("(prefers-color-scheme: dark)").matches;
  const large = q.get("large") === "1" || localStorage.getItem("vpcfwd-large") === "1";
  setTheme(dark); setLarge(large);
}
function setTheme(dark) {
  document.documentElement.classList.toggle("dark", dark);
  $("#theme").setAttribute("aria-pressed", String(dark));
  $("#theme").textContent = dark ? "Light" : "Dark";
}
function setLarge(on) {
  document.documentElement.classList.toggle("large", on);
  $("#large").setAttribute("aria-pressed", String(on));
}

async function getJSON(url) {
  const r = await fetch(url);
  const v = await r.json();
  if (!r.ok) throw new Error(v.error + (v.errors ? "\n" + v.errors.join("\n") : ""));
  return v;
}

function showError(e) { const el = $("#error"); el.hidden = !e; el.textContent = e ? String(e.message || e) : ""; }

function setDrawing(v) {
  state.nodes = v.nodes;
  state.byHtml = {};
  for (const n of v.nodes) state.byHtml[n.html_id] = n;
  const g = $("#graph");
  if (!v.svg) { g.textContent = v.error; return; }
  g.innerHTML = v.svg.slice(v.svg.indexOf("<svg"));
  for (const el of g.querySelectorAll("g.node")) {
    const n = state.byHtml[el.id];
    if (!n) continue;
    el.setAttribute("tabindex", "0");
    el.setAttribute("role", "button");
    el.setAttribute("aria-label", n.label.join(", "));
    el.addEventListener("click", () => pick(n));
    el.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pick(n); } });
  }
  if (state.lastLive) live(state.lastLive);
}

function fillFrom() {
  const sel = $("#from");
  const seen = new Set();
  sel.innerHTML = "";
  for (const n of state.nodes) {
    if (!n.from || seen.has(n.from)) continue;
    seen.add(n.from);
    const o = document.createElement("option");
    o.value = n.from; o.textContent = n.from + (n.id.startsWith("port:") ? "" : " (" + n.id + ")");
    sel.appendChild(o);
  }
}

// Two clicks: a source (something with a port), then a destination (something with an address).
function pick(n) {
  if (state.picked.length !== 1) {
    if (!n.from) { showError(n.id + " has no port to send from: pick a port or an ENI with a port"); return; }
    state.picked = [n];
    $("#from").value = n.from;
    mark();
    showError(null);
    return;
  }
  if (!n.addr) { showError(n.id + " has no address to send to"); return; }
  state.picked.push(n);
  $("#dst").value = n.addr;
  mark();
  runTrace();
}
function mark() {
  for (const el of document.querySelectorAll("#graph g.node.picked")) el.classList.remove("picked");
  for (const n of state.picked) { const el = document.getElementById(n.html_id); if (el) el.classList.add("picked"); }
}

function query() {
  const q = new URLSearchParams();
  for (const k of ["from", "dst", "proto", "dport", "sport"]) if ($("#" + k).value) q.set(k, $("#" + k).value);
  if ($("#reply").checked) q.set("reply", "1");
  return q;
}

async function runTrace(playAll) {
  stop();
  showError(null);
  let v;
  try { v = await getJSON("/api/trace?" + query()); } catch (e) { showError(e); return; }
  setDrawing(v);
  state.picked = [];
  state.hops = v.path.hops;
  state.verdicts = v.path.verdicts;
  for (const el of document.querySelectorAll("#graph g.edge.path")) el.classList.add("pending");
  const ol = $("#stages");
  ol.innerHTML = "";
  let leg = null;
  state.hops.forEach((h, i) => {
    if (h.leg !== leg) {
      leg = h.leg;
      const l = document.createElement("li");
      l.className = "leg"; l.textContent = "— " + leg + " —";
      ol.appendChild(l);
    }
    const li = document.createElement("li");
    li.className = "stage " + h.leg;
    li.id = "stage-" + i;
    li.dataset.leg = h.leg;
    li.dataset.stage = h.stage.stage;
    li.dataset.json = JSON.stringify(h.stage);
    li.dataset.nodes = h.nodes.join(",");
    li.textContent = h.text;
    li.value = i + 1;
    li.tabIndex = -1;
    ol.appendChild(li);
  });
  $("#verdicts").innerHTML = v.path.verdicts.map((x) =>
    `<div class="verdict ${esc(x.verdict)}" data-leg="${esc(x.leg)}">${esc(x.leg)}: ${esc(x.verdict)}` +
    (x.reason ? ` reason=${esc(x.reason)}` : ` egress=${esc(x.egress)}`) + "</div>").join("");
  state.step = 0;
  if (playAll) { show(state.hops.length); } else { show(1); play(); }
}

// Shows the first `k` hops: their nodes lit, the path edges that led there, their stage lines.
function show(k) {
  k = Math.max(0, Math.min(k, state.hops.length));
  state.step = k;
  for (const el of document.querySelectorAll("#graph g.node.lit")) el.classList.remove("lit");
  for (const el of document.querySelectorAll("#graph g.edge.path")) { el.classList.add("pending"); el.classList.remove("current"); }
  state.hops.forEach((h, i) => {
    const li = document.getElementById("stage-" + i);
    li.classList.toggle("done", i < k);
    li.classList.toggle("current", i === k - 1);
    if (i >= k) return;
    for (const id of h.nodes) { const n = state.nodes.find((x) => x.id === id); const el = n && document.getElementById(n.html_id); if (el) el.classList.add("lit"); }
    if (h.edge) { const el = document.getElementById("p" + h.edge); if (el) { el.classList.remove("pending"); if (i === k - 1) el.classList.add("current"); } }
  });
  // Where a leg was dropped: its last placed hop, once shown.
  for (const el of document.querySelectorAll("#graph g.node.dropped")) el.classList.remove("dropped");
  for (const v of state.verdicts) {
    if (v.verdict !== "DROP") continue;
    let last = -1;
    state.hops.forEach((h, i) => { if (h.leg === v.leg && h.nodes.length) last = i; });
    if (last >= 0 && last < k) for (const id of state.hops[last].nodes) { const n = state.nodes.find((x) => x.id === id); const el = n && document.getElementById(n.html_id); if (el) el.classList.add("dropped"); }
  }
  // A drop's reason sits on the last edge: shown with the last stage.
  if (k === state.hops.length) for (const el of document.querySelectorAll("#graph g.edge.path")) el.classList.remove("pending");
  const cur = document.getElementById("stage-" + (k - 1));
  if (cur && state.timer) cur.scrollIntoView({ block: "nearest" });
}
function play() {
  stop();
  $("#play").textContent = "Pause";
  state.timer = setInterval(() => { if (state.step >= state.hops.length) stop(); else show(state.step + 1); }, 700);
}
function stop() { if (state.timer) clearInterval(state.timer); state.timer = null; $("#play").textContent = "Play"; }

// Live: one sample a second over server-sent events.
function live(s) {
  const prev = state.lastLive;
  state.lastLive = s;
  const dt = prev ? Math.max(0.5, (s._t - prev._t) / 1000) : 1;
  const rate = (p, d) => prev && prev.ports[p] ? Math.max(0, (s.ports[p][d] - prev.ports[p][d]) / dt) : 0;
  $("#ports tbody").innerHTML = Object.keys(s.ports).map((p) =>
    `<tr><td>${esc(p)}</td><td>${rate(p, "rx").toFixed(0)}</td><td>${rate(p, "tx").toFixed(0)}</td><td>${s.ports[p].rx}</td><td>${s.ports[p].tx}</td></tr>`).join("");
  $("#drops tbody").innerHTML = Object.entries(s.drops).map(([r, n]) => `<tr><td>${esc(r)}</td><td>${n}</td></tr>`).join("") || "<tr><td>none</td></tr>";
  $("#objdrops tbody").innerHTML = s.object_drops.map((o) => `<tr><td>${esc(o.object)}</td><td>${esc(o.detail)}</td><td>${o.value}</td></tr>`).join("") || "<tr><td>none</td></tr>";
  const fl = s.flows.flows || [];
  $("#flowcount").textContent = `(${s.flows.total ?? fl.length})`;
  $("#flows tbody").innerHTML = fl.map((f) => `<tr><td>${esc(f.network_interface_id)}</td><td>${f.protocol}</td><td>${esc(f.src)}:${f.src_port}</td><td>${esc(f.dst)}:${f.dst_port}</td><td>${esc(f.state)}</td></tr>`).join("");
  $("#flowlog").textContent = (s.flow_log || []).join("\n") || "(none yet: vpcfwd run --flow-log FILE writes one record per ENI and 5-tuple per interval)";
  // Packets/s on the ports in the drawing.
  for (const p of Object.keys(s.ports)) {
    const el = document.getElementById("n_port_" + p.replace(/[^A-Za-z0-9]/g, "_"));
    if (!el) continue;
    let t = el.querySelector("text.live");
    if (!t) {
      const b = el.getBBox();
      t = document.createElementNS("http://www.w3.org/2000/svg", "text");
      t.setAttribute("class", "live"); t.setAttribute("x", b.x); t.setAttribute("y", b.y - 3);
      el.appendChild(t);
    }
    t.textContent = `${rate(p, "rx").toFixed(0)} in / ${rate(p, "tx").toFixed(0)} out pkt/s`;
  }
}

async function main() {
  prefs();
  $("#theme").addEventListener("click", () => { const d = !document.documentElement.classList.contains("dark"); setTheme(d); localStorage.setItem("vpcfwd-theme", d ? "dark" : "light"); });
  $("#large").addEventListener("click", () => { const l = !document.documentElement.classList.contains("large"); setLarge(l); localStorage.setItem("vpcfwd-large", l ? "1" : "0"); });
  $("#probe").addEventListener("submit", (e) => { e.preventDefault(); runTrace(); });
  $("#prev").addEventListener("click", () => { stop(); show(state.step - 1); });
  $("#next").addEventListener("click", () => { stop(); show(state.step + 1); });
  $("#play").addEventListener("click", () => { if (state.timer) stop(); else { if (state.step >= state.hops.length) show(0); play(); } });
  document.addEventListener("keydown", (e) => {
    if (e.target.matches("input, select")) return;
    if (e.key === "ArrowRight") { stop(); show(state.step + 1); }
    else if (e.key === "ArrowLeft") { stop(); show(state.step - 1); }
    else if (e.key === "t") $("#theme").click();
    else if (e.key === "l") $("#large").click();
    else if (e.key === "Escape") { state.picked = []; mark(); }
  });
  try {
    const info = await getJSON("/api/info");
    $("#mode").textContent = info.mode === "live" ? "live: attached to vpcfwd run" : "trace-only";
    if (info.scenarios) hooks.scenarios(info.scenarios);
    if (info.reach) hooks.reach(info.reach);
    setDrawing(await getJSON("/api/graph"));
    fillFrom();
    if (info.mode === "live") {
      $("#live").hidden = false;
      const onSample = (s) => { s._t = Date.now(); live(s); };
      if (new URLSearchParams(location.search).get("poll") === "1") {
        // Polling instead of a stream (headless screenshots wait for open requests).
        const tick = async () => { try { onSample(await getJSON("/api/sample")); } catch (e) { showError(e); } setTimeout(tick, 1000); };
        tick();
      } else {
        const es = new EventSource("/api/events");
        es.addEventListener("sample", (e) => onSample(JSON.parse(e.data)));
      }
    }
  } catch (e) { showError(e); return; }
  // A trace in the URL (?from=app&dst=192.0.2.10&dport=80[&reply=1][&play=all]) runs at once.
  const q = new URLSearchParams(location.search);
  if (q.get("from") && q.get("dst")) {
    for (const k of ["from", "dst", "proto", "dport", "sport"]) if (q.get(k)) $("#" + k).value = q.get(k);
    $("#reply").checked = q.get("reply") === "1";
    await runTrace(q.get("play") === "all");
    document.body.dataset.traced = "1";
  }
  document.body.dataset.ready = "1";
}
main();
