// Logs (#/logs?q=…&service=…&severity_min=…&severity_max=…&attr=k:v&trace_id=…&limit=…&range=…):
// GET /api/logs and /api/logs/volume with the same filters; a live tail polls every 2 s for newer records.

import { getJson, isAbort } from "../api.js";
import { lineChart } from "../charts.js";
import { h, note, replace, routeHref } from "../dom.js";
import * as f from "../format.js";
import { empty, errorBox, loader } from "./a_common.js";
import { splitAttrs } from "./traces.js";

const FIELDS = ["q", "service", "severity_min", "severity_max", "trace_id", "limit"];
const LEVELS = ["", "trace", "debug", "info", "warn", "error", "fatal"];
const LEVEL_COLORS = { TRACE: "#9aa3b2", DEBUG: "#76b7b2", INFO: "#4e79a7", WARN: "#f28e2b", ERROR: "#e15759", FATAL: "#b07aa1", UNSPECIFIED: "#bab0ac" };
const TAIL_MS = 2000;
const MAX_ROWS = 500;

export function severityName(n, text) {
  const v = Number(n) || 0;
  if (v >= 21) return "FATAL";
  if (v >= 17) return "ERROR";
  if (v >= 13) return "WARN";
  if (v >= 9) return "INFO";
  if (v >= 5) return "DEBUG";
  if (v >= 1) return "TRACE";
  return text || "UNSPECIFIED";
}

function sevBadge(rec) {
  const name = severityName(rec.severity_number, rec.severity_text);
  const cls = name === "ERROR" || name === "FATAL" ? "badge-bad" : name === "WARN" ? "badge-warn" : name === "INFO" ? "badge-ok" : "badge-muted";
  return h("span", { class: "badge a-sev " + cls }, rec.severity_text || name);
}

export function mount(ctx) {
  let params = ctx.params;
  let range = ctx.range;
  let logs = [];
  let chart = null;
  let tailTimer = null;
  const searches = loader(ctx);
  const tails = loader(ctx);

  const field = (name, label, attrs) => {
    const id = "lq-" + name;
    const el = h("input", { id, name, autocomplete: "off", ...attrs });
    return { el, row: h("div", { class: "field" }, h("label", { for: id }, label), el) };
  };
  const sevSelect = (name) => h("select", { id: "lq-" + name, name },
    LEVELS.map((l) => h("option", { value: l }, l ? l.toUpperCase() : "Any")));
  const q = field("q", "Search text", { type: "search", placeholder: "body or attribute value" });
  const service = field("service", "Service", { type: "text", placeholder: "any" });
  const sevMin = sevSelect("severity_min");
  const sevMax = sevSelect("severity_max");
  const attr = field("attr", "Attributes", { type: "text", placeholder: "key:value, key2:value2" });
  const traceId = field("trace_id", "Trace id", { type: "text", placeholder: "32 hex characters", spellcheck: "false" });
  const limitSel = h("select", { id: "lq-limit", name: "limit" }, ["50", "100", "200", "500"].map((v) => h("option", { value: v }, v)));
  const tailBtn = h("button", { type: "button", id: "logs-tail", "aria-pressed": "false" }, "Live tail");
  const tailStatus = h("span", { class: "muted", id: "logs-tail-status", role: "status" });
  const form = h("form", { class: "search card", id: "logs-search", role: "search", "aria-label": "Log search" },
    h("div", { class: "fields" }, q.row, service.row,
      h("div", { class: "field" }, h("label", { for: "lq-severity_min" }, "Min severity"), sevMin),
      h("div", { class: "field" }, h("label", { for: "lq-severity_max" }, "Max severity"), sevMax),
      attr.row, traceId.row,
      h("div", { class: "field" }, h("label", { for: "lq-limit" }, "Results"), limitSel)),
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, "Search"),
      h("button", { type: "reset" }, "Clear"), tailBtn, tailStatus));
  const volume = h("div", { id: "logs-volume", class: "a-volume" });
  const results = h("div", { id: "logs-results", "aria-live": "polite" });
  replace(ctx.view, h("h1", null, "Logs"), form, volume, results);

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const next = new URLSearchParams();
    for (const [key, el] of [["q", q.el], ["service", service.el], ["severity_min", sevMin], ["severity_max", sevMax],
      ["trace_id", traceId.el]]) if (el.value.trim()) next.set(key, el.value.trim());
    for (const a of splitAttrs(attr.el.value)) next.append("attr", a);
    if (limitSel.value !== "100") next.set("limit", limitSel.value);
    for (const key of ["range", "refresh"]) if (ctx.params.get(key) || params.get(key)) next.set(key, params.get(key) || ctx.params.get(key));
    const before = location.hash;
    ctx.navigate(["logs"], next);
    if (location.hash === before) load();
  });
  form.addEventListener("reset", (e) => {
    e.preventDefault();
    ctx.navigate(["logs"], new URLSearchParams(params.get("range") ? { range: params.get("range") } : {}));
  });
  tailBtn.addEventListener("click", () => setTail(!tailTimer));

  function fill() {
    q.el.value = params.get("q") || "";
    service.el.value = params.get("service") || "";
    sevMin.value = LEVELS.includes(params.get("severity_min")) ? params.get("severity_min") : "";
    sevMax.value = LEVELS.includes(params.get("severity_max")) ? params.get("severity_max") : "";
    attr.el.value = params.getAll("attr").join(", ");
    traceId.el.value = params.get("trace_id") || "";
    limitSel.value = ["50", "100", "200", "500"].includes(params.get("limit")) ? params.get("limit") : "100";
  }

  function filters() {
    const query = {};
    for (const key of FIELDS) if (params.get(key)) query[key] = params.get(key);
    query.attr = params.getAll("attr");
    return query;
  }

  async function load() {
    const signal = searches.next();
    if (!logs.length) replace(results, h("p", { class: "muted", role: "status" }, "Searching…"));
    const query = filters();
    const volQuery = { ...query, range };
    delete volQuery.trace_id;
    delete volQuery.limit;
    try {
      const [data, vol] = await Promise.all([
        getJson("/api/logs", { ...query, range }, signal),
        getJson("/api/logs/volume", volQuery, signal).catch((err) => (isAbort(err) ? Promise.reject(err) : null)),
      ]);
      if (signal.aborted) return;
      logs = data.logs;
      renderVolume(vol);
      renderResults();
    } catch (err) {
      if (isAbort(err)) return;
      replace(results, errorBox("Search failed", err));
    }
  }

  function renderVolume(vol) {
    if (chart) chart.destroy();
    chart = null;
    if (!vol || !vol.total) {
      replace(volume);
      return;
    }
    const levels = vol.by_severity.filter((s) => s.count > 0).map((s) => s.severity);
    const xs = vol.series.map((b) => b.t);
    const ys = levels.map((lvl) => vol.series.map((b) => b.counts.filter((c) => c.severity === lvl).reduce((a, c) => a + c.count, 0)));
    chart = lineChart({ title: `Log volume (${f.int(vol.total)} records, per ${vol.step_s} s)`, format: (v) => f.int(v),
      series: levels.map((l) => ({ label: l, color: LEVEL_COLORS[l] || "#888" })), data: [xs, ...ys] });
    replace(volume, chart.el);
    volume.querySelector("figcaption").id = "logs-volume-title";
    volume.dataset.total = String(vol.total);
  }

  function renderResults() {
    if (!logs.length) {
      replace(results, empty("No log records match in this time range."));
      return;
    }
    const keep = params.get("range") ? { range: params.get("range") } : null;
    const body = h("tbody", null, logs.map((rec, i) => rows(rec, i, keep)));
    replace(results,
      h("p", { class: "muted", id: "logs-count" }, `${logs.length} record${logs.length === 1 ? "" : "s"}, newest first`),
      h("div", { class: "table-wrap" }, h("table", { class: "a-logs-table" },
        h("caption", { class: "visually-hidden" }, "Matching log records"),
        h("thead", null, h("tr", null, ["", "Time", "Severity", "Service", "Body", "Trace"].map((c) => h("th", { scope: "col" }, c)))),
        body)));
  }

  let uid = 0;
  function rows(rec, i, keep) {
    const id = "log-attrs-" + uid++;
    const toggle = h("button", { type: "button", class: "a-expand", "aria-expanded": "false", "aria-controls": id,
      "aria-label": "Show attributes" }, "▸");
    const attrsRow = h("tr", { id, class: "a-log-attrs", hidden: true },
      h("td", { colspan: "6" }, attrTable(rec)));
    toggle.addEventListener("click", () => {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      toggle.textContent = open ? "▾" : "▸";
      attrsRow.hidden = !open;
    });
    const main = h("tr", { class: "a-log-row" + (rec.__new ? " a-new" : "") },
      h("td", null, toggle),
      h("td", { class: "a-nowrap" }, h("time", { datetime: new Date(rec.time_unix_nano / 1e6).toISOString() }, f.timeNs(rec.time_unix_nano))),
      h("td", null, sevBadge(rec)),
      h("td", null, rec.service_name),
      h("td", { class: "log-body" }, rec.body),
      h("td", null, rec.trace_id
        ? h("a", { href: routeHref(["traces", rec.trace_id], keep), class: "a-trace", title: rec.trace_id }, rec.trace_id.slice(0, 8) + "…")
        : "–"));
    return [main, attrsRow];
  }

  function attrTable(rec) {
    const entries = [...Object.entries(rec.attributes || {}).map(([k, v]) => ["", k, v]),
      ...Object.entries(rec.resource_attributes || {}).map(([k, v]) => ["resource ", k, v])];
    if (rec.span_id) entries.unshift(["", "span_id", rec.span_id]);
    if (!entries.length) return note("No attributes.");
    return h("table", { class: "attrs" }, h("tbody", null, entries.map(([kind, k, v]) =>
      h("tr", null, h("th", { scope: "row" }, kind ? h("span", { class: "muted" }, kind) : null, k),
        h("td", null, h("code", null, v))))));
  }

  function setTail(on) {
    clearInterval(tailTimer);
    tailTimer = null;
    tails.abort();
    tailBtn.setAttribute("aria-pressed", String(on));
    tailBtn.classList.toggle("primary", on);
    tailBtn.textContent = on ? "Stop live tail" : "Live tail";
    tailStatus.textContent = on ? "Live tail: polling every 2 s" : "";
    if (on) tailTimer = setInterval(poll, TAIL_MS);
  }

  async function poll() {
    if (document.hidden) return;
    const signal = tails.next();
    const newest = logs.length ? logs[0].time_unix_nano : null;
    const query = filters();
    if (newest) query.start = String(newest / 1e9);
    else query.range = range;
    try {
      const data = await getJson("/api/logs", query, signal);
      if (signal.aborted || !tailTimer) return;
      const seen = new Set(logs.filter((r) => r.time_unix_nano >= (newest || 0)).map(key));
      const fresh = data.logs.filter((r) => (!newest || r.time_unix_nano >= newest) && !seen.has(key(r)));
      if (!fresh.length) return;
      for (const r of fresh) r.__new = true;
      for (const r of logs) delete r.__new;
      logs = [...fresh, ...logs].slice(0, MAX_ROWS);
      renderResults();
      tailStatus.textContent = `Live tail: ${fresh.length} new at ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      if (isAbort(err)) return;
      tailStatus.textContent = "Live tail failed: " + err.message;
    }
  }

  fill();
  load();
  return {
    update(next) {
      params = next.params;
      range = next.range;
      fill();
      load();
    },
    refresh: load,
    destroy() {
      setTail(false);
      searches.abort();
      if (chart) chart.destroy();
    },
  };
}

function key(r) {
  return `${r.time_unix_nano}|${r.span_id}|${r.service_name}|${r.body}`;
}
