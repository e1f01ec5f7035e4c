// Discover: index pattern, time range, KQL or Lucene query, a histogram of hits over time, the
// fields and the documents. It speaks only the public Elasticsearch API (_cat/indices,
// _field_caps, _search), so it reads a real cluster the same way. The URL holds the view.
"use strict";

const $ = (id) => document.getElementById(id);
const PAGE = 50;
const INTERVALS = [
  ["1s", 1e3], ["5s", 5e3], ["10s", 1e4], ["30s", 3e4], ["1m", 6e4], ["5m", 3e5], ["10m", 6e5],
  ["30m", 18e5], ["1h", 36e5], ["3h", 108e5], ["12h", 432e5], ["1d", 864e5], ["7d", 6048e5], ["30d", 2592e6],
];
const UNITS = { s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5, M: 2592e6, y: 31536e6 };

const state = {
  index: "", from: "now-15m", to: "now", q: "", lang: "kql", cols: [], refresh: 0,
};
let timeField = "@timestamp";
let fieldTypes = {};
let rows = [];          // loaded hits
let lastSort = null;    // search_after of the next page
let total = 0;
let busy = false;
let timer = null;
let generation = 0;     // answers of an older query are dropped

// --- time ---

function parseTime(s, end) {
  if (!s || s === "now") return Date.now();
  const m = /^now-(\d+)([smhdwMy])$/.exec(s);
  if (m) return Date.now() - Number(m[1]) * UNITS[m[2]];
  const t = Date.parse(s);
  return Number.isNaN(t) ? (end ? Date.now() : Date.now() - 9e5) : t;
}

function bounds() {
  return [parseTime(state.from, false), parseTime(state.to, true)];
}

function interval(from, to) {
  const want = (to - from) / 60;
  for (const iv of INTERVALS) if (iv[1] >= want) return iv;
  return INTERVALS[INTERVALS.length - 1];
}

function fmtTime(ms) {
  const d = new Date(ms);
  const p = (n, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

function localInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 6e4);
  return d.toISOString().slice(0, 19);
}

// --- URL state ---

function readUrl() {
  const u = new URLSearchParams(location.search);
  for (const k of ["index", "from", "to", "q", "lang"]) if (u.has(k)) state[k] = u.get(k);
  if (u.has("cols")) state.cols = u.get("cols").split(",").filter(Boolean);
  if (u.has("refresh")) state.refresh = Number(u.get("refresh")) || 0;
}

function writeUrl() {
  const u = new URLSearchParams();
  u.set("index", state.index);
  u.set("from", state.from);
  u.set("to", state.to);
  if (state.q) u.set("q", state.q);
  u.set("lang", state.lang);
  if (state.cols.length) u.set("cols", state.cols.join(","));
  if (state.refresh) u.set("refresh", String(state.refresh));
  history.replaceState(null, "", "?" + u.toString());
}

// --- the API ---

async function api(method, path, body) {
  const r = await fetch(path, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch (_) { /* not JSON */ }
  if (!r.ok) {
    const e = json && json.error;
    const reason = e ? (e.caused_by && e.caused_by.reason) || e.reason || JSON.stringify(e) : text;
    throw new Error(`${r.status} ${(e && e.type) || ""}: ${reason}`);
  }
  return json;
}

// KQL to Lucene query syntax, as Kibana's KQL reads: and/or/not in any case, `field : value`,
// `field >= 5`; values with Lucene's special characters are quoted.
function kqlToLucene(s) {
  const toks = s.match(/"(?:[^"\\]|\\.)*"|\(|\)|>=|<=|>|<|:|[^\s():<>"]+/g) || [];
  const out = [];
  const cmp = (t) => t === ">=" || t === "<=" || t === ">" || t === "<";
  toks.forEach((t, i) => {
    const low = t.toLowerCase();
    const prev = toks[i - 1];
    if (low === "and" || low === "or" || low === "not") out.push(low.toUpperCase());
    else if (t === ":") out.push(":");
    else if (cmp(t)) out.push(":" + t);
    else if (t === "(" || t === ")") out.push(t);
    else if ((prev === ":" || cmp(prev)) && !t.startsWith('"') && /[+\-=&|!(){}[\]^~?:\\/]/.test(t)) {
      out.push('"' + t.replace(/"/g, '\\"') + '"');
    } else out.push(t);
  });
  let q = "";
  out.forEach((t, i) => {
    const glue = i === 0 || t.startsWith(":") || out[i - 1].startsWith(":") || out[i - 1] === "(" || t === ")";
    q += (glue ? "" : " ") + t;
  });
  return q;
}

function queryClause() {
  const q = state.q.trim();
  if (!q) return { match_all: {} };
  const text = state.lang === "kql" ? kqlToLucene(q) : q;
  return { query_string: { query: text, analyze_wildcard: true } };
}

function searchBody(after) {
  const [from, to] = bounds();
  const body = {
    size: PAGE,
    track_total_hits: true,
    sort: [{ [timeField]: { order: "desc", unmapped_type: "date" } }],
    query: {
      bool: {
        filter: [
          { range: { [timeField]: { gte: from, lte: to, format: "epoch_millis" } } },
          queryClause(),
        ],
      },
    },
  };
  if (after) body.search_after = after;
  else {
    const [iv] = interval(from, to);
    body.aggs = {
      hist: { date_histogram: { field: timeField, fixed_interval: iv, min_doc_count: 0 } },
    };
  }
  return body;
}

// --- index patterns and fields ---

async function loadPatterns() {
  const list = await api("GET", "/_cat/indices?format=json&h=index");
  const names = list.map((r) => r.index).filter((n) => !n.startsWith("."));
  const pats = new Set();
  for (const n of names) {
    const m = /^(.*?)[-_.]?\d{4}[-.]\d{2}[-.]\d{2}$/.exec(n);
    pats.add(m && m[1] ? m[1] + "-*" : n);
  }
  const sorted = [...pats].sort();
  sorted.push("*");
  const sel = $("pattern");
  sel.innerHTML = "";
  for (const p of sorted) sel.add(new Option(p, p));
  if (!state.index || (!sorted.includes(state.index) && !names.includes(state.index))) {
    state.index = sorted[0];
  }
  if (![...sel.options].some((o) => o.value === state.index)) sel.add(new Option(state.index, state.index));
  sel.value = state.index;
}

async function loadFields() {
  const caps = await api("GET", `/${encodeURIComponent(state.index)}/_field_caps?fields=*&ignore_unavailable=true`);
  fieldTypes = {};
  for (const [name, types] of Object.entries(caps.fields || {})) {
    if (name.startsWith("_")) continue;
    const ts = Object.keys(types).filter((t) => t !== "object");
    if (ts.length) fieldTypes[name] = ts.join(", ");
  }
  const dates = Object.keys(fieldTypes).filter((f) => /date/.test(fieldTypes[f]));
  timeField = dates.includes("@timestamp") ? "@timestamp" : dates.includes("timestamp") ? "timestamp" : dates[0] || "@timestamp";
}

// --- rendering ---

function valueAt(src, path) {
  if (src == null) return undefined;
  if (Object.prototype.hasOwnProperty.call(src, path)) return src[path];
  const dot = path.indexOf(".");
  if (dot < 0) return undefined;
  return valueAt(src[path.slice(0, dot)], path.slice(dot + 1));
}

function flatten(src, prefix = "", out = {}) {
  for (const [k, v] of Object.entries(src || {})) {
    const key = prefix ? prefix + "." + k : k;
    if (v && typeof v === "object" && !Array.isArray(v)) flatten(v, key, out);
    else out[key] = v;
  }
  return out;
}

function show(v) {
  if (v === undefined || v === null) return "-";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

function renderHead() {
  const head = $("head");
  head.innerHTML = "";
  head.append(el("th", { class: "time" }, timeField));
  if (!state.cols.length) head.append(el("th", {}, "_source"));
  for (const c of state.cols) {
    head.append(el("th", {}, c, " ", el("a", { href: "#", title: "Remove column", onclick: (e) => { e.preventDefault(); toggleColumn(c); } }, "×")));
  }
}

function renderRows(hits) {
  const body = $("rows");
  for (const h of hits) {
    const src = h._source || {};
    const t = valueAt(src, timeField);
    const tr = el("tr", { class: "doc" });
    tr.append(el("td", {}, t !== undefined ? fmtTime(Date.parse(t) || Number(t)) : "-"));
    if (!state.cols.length) {
      const td = el("td", { class: "src" });
      for (const [k, v] of Object.entries(flatten(src)).slice(0, 12)) {
        td.append(el("span", { class: "k" }, k), show(v), " ");
      }
      tr.append(td);
    } else {
      for (const c of state.cols) tr.append(el("td", {}, show(valueAt(src, c))));
    }
    tr.addEventListener("click", () => toggleDetail(tr, h));
    body.append(tr);
  }
}

function toggleDetail(tr, h) {
  const next = tr.nextElementSibling;
  if (next && next.classList.contains("detail")) { next.remove(); return; }
  const table = el("table");
  for (const [k, v] of Object.entries(flatten(h._source))) {
    table.append(el("tr", {}, el("td", { class: "k" }, k), el("td", {}, show(v))));
  }
  const json = el("pre", {}, JSON.stringify({ _index: h._index, _id: h._id, _source: h._source }, null, 2));
  const td = el("td", { colspan: String(1 + Math.max(1, state.cols.length)) }, table, json);
  tr.after(el("tr", { class: "detail" }, td));
}

function renderHistogram(buckets, from, to, ivMs) {
  const svg = $("histogram");
  const w = svg.clientWidth || 800;
  const h = svg.clientHeight || 140;
  const pad = 24;
  // Every interval of the range, empty ones too.
  const counts = new Map(buckets.map((b) => [b.key, b.doc_count]));
  const keys = [];
  for (let k = Math.floor(from / ivMs) * ivMs; k <= to; k += ivMs) keys.push(k);
  const max = Math.max(1, ...keys.map((k) => counts.get(k) || 0));
  const x = (t) => pad + ((t - from) / (to - from)) * (w - 2 * pad);
  const bw = Math.max(1, x(from + ivMs) - x(from) - 1);
  let out = "";
  for (const k of keys) {
    const c = counts.get(k) || 0;
    if (!c) continue;
    const bh = (c / max) * (h - 2 * pad);
    out += `<rect class="bar" data-key="${k}" data-count="${c}" x="${x(k).toFixed(1)}" y="${(h - pad - bh).toFixed(1)}" width="${bw.toFixed(1)}" height="${bh.toFixed(1)}"><title>${fmtTime(k)}: ${c}</title></rect>`;
  }
  out += `<text class="axis" x="${pad}" y="${h - 6}">${fmtTime(from)}</text>`;
  out += `<text class="axis" x="${w - pad}" y="${h - 6}" text-anchor="end">${fmtTime(to)}</text>`;
  out += `<text class="axis" x="2" y="${pad}">${max}</text>`;
  svg.innerHTML = out;
  svg.dataset.from = from;
  svg.dataset.to = to;
  svg.dataset.buckets = String(keys.length);
}

function renderFields() {
  const list = $("fields");
  const filter = $("field-filter").value.toLowerCase();
  list.innerHTML = "";
  const sample = rows.map((h) => flatten(h._source));
  const names = Object.keys(fieldTypes).filter((f) => !f.endsWith(".keyword") && f.toLowerCase().includes(filter)).sort();
  for (const f of names) {
    const li = el("li", { "data-field": f });
    const top = el("ul", { class: "top", hidden: "" });
    const head = el("div", { class: "field-name" },
      el("span", {}, f, " ", el("span", { class: "type" }, fieldTypes[f])),
      el("a", { href: "#", class: "col", title: "Toggle column", onclick: (e) => { e.preventDefault(); e.stopPropagation(); toggleColumn(f); } },
        state.cols.includes(f) ? "remove" : "add"));
    head.addEventListener("click", () => {
      if (top.hidden) fillTop(top, f, sample);
      top.hidden = !top.hidden;
    });
    li.append(head, top);
    list.append(li);
  }
}

function fillTop(ul, field, sample) {
  const counts = new Map();
  let seen = 0;
  for (const doc of sample) {
    const v = doc[field];
    if (v === undefined) continue;
    seen += 1;
    for (const x of Array.isArray(v) ? v : [v]) counts.set(show(x), (counts.get(show(x)) || 0) + 1);
  }
  ul.innerHTML = "";
  const top = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5);
  if (!top.length) ul.append(el("li", {}, "No values in the sample"));
  for (const [v, n] of top) {
    ul.append(el("li", { "data-value": v },
      el("span", { class: "val", title: v }, v),
      el("span", { class: "type" }, `${Math.round((n / Math.max(1, seen)) * 100)}%`),
      el("button", { type: "button", title: "Filter for value", class: "plus", onclick: () => addFilter(field, v, false) }, "+"),
      el("button", { type: "button", title: "Filter out value", class: "minus", onclick: () => addFilter(field, v, true) }, "−")));
  }
}

function quote(v) {
  return /^-?\d+(\.\d+)?$/.test(v) ? v : '"' + v.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';
}

function addFilter(field, value, negate) {
  const clause = state.lang === "kql"
    ? `${negate ? "not " : ""}${field} : ${quote(value)}`
    : `${negate ? "NOT " : ""}${field}:${quote(value)}`;
  const q = state.q.trim();
  state.q = q ? `${state.lang === "kql" ? "(" + q + ") and" : "(" + q + ") AND"} ${clause}` : clause;
  $("query").value = state.q;
  run();
}

function toggleColumn(f) {
  state.cols = state.cols.includes(f) ? state.cols.filter((c) => c !== f) : [...state.cols, f];
  writeUrl();
  renderHead();
  $("rows").innerHTML = "";
  renderRows(rows);
  renderFields();
}

// --- running a query ---

function showError(e) {
  const box = $("error");
  if (e) { box.textContent = String(e.message || e); box.hidden = false; } else box.hidden = true;
}

async function run() {
  const gen = ++generation;
  writeUrl();
  showError(null);
  busy = true;
  try {
    const [from, to] = bounds();
    const [, ivMs] = interval(from, to);
    const r = await api("POST", `/${encodeURIComponent(state.index)}/_search?ignore_unavailable=true`, searchBody(null));
    if (gen !== generation) return;
    total = r.hits.total.value;
    rows = r.hits.hits;
    lastSort = rows.length ? rows[rows.length - 1].sort : null;
    $("hits").textContent = total.toLocaleString("en");
    $("span").textContent = `${fmtTime(from)} → ${fmtTime(to)} · ${interval(from, to)[0]} buckets`;
    renderHistogram((r.aggregations && r.aggregations.hist.buckets) || [], from, to, ivMs);
    renderHead();
    $("rows").innerHTML = "";
    renderRows(rows);
    renderFields();
    $("more").textContent = rows.length < total ? "Scroll for more" : rows.length ? "End of results" : "No results";
    // When the first view was drawn, from navigation start (what bench/discover.sh reports).
    if (!document.body.dataset.firstPaint) {
      document.body.dataset.firstPaint = String(Math.round(performance.now()));
    }
    document.body.dataset.loaded = String(gen);
  } catch (e) {
    if (gen !== generation) return;
    // Nothing of the previous answer stays on screen under an error.
    rows = [];
    total = 0;
    lastSort = null;
    $("hits").textContent = "–";
    $("histogram").innerHTML = "";
    $("rows").innerHTML = "";
    $("more").textContent = "";
    showError(e);
    document.body.dataset.loaded = String(gen);
  } finally {
    busy = false;
  }
}

async function more() {
  if (busy || !lastSort || rows.length >= total) return;
  busy = true;
  const gen = generation;
  try {
    const r = await api("POST", `/${encodeURIComponent(state.index)}/_search?ignore_unavailable=true`, searchBody(lastSort));
    if (gen !== generation) return;
    const hits = r.hits.hits;
    rows = rows.concat(hits);
    lastSort = hits.length ? hits[hits.length - 1].sort : null;
    renderRows(hits);
    $("more").textContent = rows.length < total && hits.length ? "Scroll for more" : "End of results";
  } catch (e) {
    showError(e);
  } finally {
    busy = false;
  }
}

// --- controls ---

function syncControls() {
  $("query").value = state.q;
  $("lang").value = state.lang;
  const quick = [...$("range").options].some((o) => o.value === state.from) && state.to === "now";
  $("range").value = quick ? state.from : "absolute";
  $("absolute").hidden = quick;
  const [from, to] = bounds();
  $("abs-from").value = localInput(from);
  $("abs-to").value = localInput(to);
  $("refresh").value = String(state.refresh);
}

function setAutoRefresh() {
  clearInterval(timer);
  if (state.refresh > 0) timer = setInterval(() => { if (!busy) run(); }, state.refresh * 1000);
}

function brush() {
  const svg = $("histogram");
  let start = null;
  let rect = null;
  const tAt = (ev) => {
    const box = svg.getBoundingClientRect();
    const from = Number(svg.dataset.from);
    const to = Number(svg.dataset.to);
    const pad = 24;
    const f = Math.min(1, Math.max(0, (ev.clientX - box.left - pad) / (box.width - 2 * pad)));
    return [from + f * (to - from), ev.clientX - box.left];
  };
  svg.addEventListener("mousedown", (ev) => {
    start = tAt(ev);
    rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    rect.setAttribute("class", "brush");
    rect.setAttribute("y", "0");
    rect.setAttribute("height", String(svg.clientHeight));
    svg.append(rect);
  });
  svg.addEventListener("mousemove", (ev) => {
    if (!start) return;
    const [, px] = tAt(ev);
    rect.setAttribute("x", String(Math.min(px, start[1])));
    rect.setAttribute("width", String(Math.abs(px - start[1])));
  });
  svg.addEventListener("mouseup", (ev) => {
    if (!start) return;
    const [t] = tAt(ev);
    const [a, b] = [Math.min(t, start[0]), Math.max(t, start[0])];
    start = null;
    if (b - a < 1000) { rect.remove(); return; }
    state.from = new Date(a).toISOString();
    state.to = new Date(b).toISOString();
    syncControls();
    run();
  });
}

async function main() {
  readUrl();
  try {
    await loadPatterns();
    await loadFields();
  } catch (e) {
    showError(e);
  }
  syncControls();
  $("pattern").addEventListener("change", async () => {
    state.index = $("pattern").value;
    state.cols = [];
    try { await loadFields(); } catch (e) { showError(e); }
    run();
  });
  $("query").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") { state.q = $("query").value; run(); }
  });
  $("lang").addEventListener("change", () => { state.lang = $("lang").value; run(); });
  $("run").addEventListener("click", () => { state.q = $("query").value; run(); });
  $("range").addEventListener("change", () => {
    const v = $("range").value;
    if (v === "absolute") { $("absolute").hidden = false; return; }
    state.from = v;
    state.to = "now";
    syncControls();
    run();
  });
  for (const id of ["abs-from", "abs-to"]) {
    $(id).addEventListener("change", () => {
      const a = Date.parse($("abs-from").value);
      const b = Date.parse($("abs-to").value);
      if (!Number.isNaN(a) && !Number.isNaN(b) && a < b) {
        state.from = new Date(a).toISOString();
        state.to = new Date(b).toISOString();
        run();
      }
    });
  }
  $("refresh").addEventListener("change", () => { state.refresh = Number($("refresh").value); writeUrl(); setAutoRefresh(); });
  $("field-filter").addEventListener("input", renderFields);
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "/" && document.activeElement !== $("query")) { ev.preventDefault(); $("query").focus(); }
  });
  window.addEventListener("scroll", () => {
    if (window.innerHeight + window.scrollY >= document.body.offsetHeight - 200) more();
  });
  brush();
  setAutoRefresh();
  run();
}

main();
