// Trace search (#/traces?service=…&name=…&status=…&min_duration_ms=…&max_duration_ms=…&attr=k:v&range=…):
// GET /api/traces with the same parameters; each result links to #/traces/<id>.

import { getJson, isAbort } from "../api.js";
import { serviceColor } from "../colors.js";
import { h, note, replace, routeHref, table } from "../dom.js";
import * as f from "../format.js";

const FIELDS = ["service", "name", "status", "min_duration_ms", "max_duration_ms", "limit"];
const RANGE_LABELS = { "15m": "Last 15 minutes", "1h": "Last hour", "6h": "Last 6 hours", "24h": "Last 24 hours", "7d": "Last 7 days" };

export function mount(ctx) {
  let controller = null;
  let params = ctx.params;
  let range = ctx.range;

  const input = (name, label, attrs) => {
    const id = "tq-" + name;
    const el = h("input", { id, name, ...attrs });
    return { el, row: h("div", { class: "field" }, h("label", { for: id }, label), el) };
  };
  const service = input("service", "Service", { type: "text", list: "tq-services", autocomplete: "off", placeholder: "any" });
  const servicesList = h("datalist", { id: "tq-services" });
  const name = input("name", "Operation (span name)", { type: "text", list: "tq-operations", autocomplete: "off", placeholder: "any" });
  const operationsList = h("datalist", { id: "tq-operations" });
  const statusSel = h("select", { id: "tq-status", name: "status" },
    h("option", { value: "" }, "Any"), h("option", { value: "error" }, "Error"),
    h("option", { value: "ok" }, "Ok"), h("option", { value: "unset" }, "Unset"));
  const minD = input("min_duration_ms", "Min duration (ms)", { type: "number", min: "0", step: "any", inputmode: "decimal" });
  const maxD = input("max_duration_ms", "Max duration (ms)", { type: "number", min: "0", step: "any", inputmode: "decimal" });
  const attr = input("attr", "Attribute filter", { type: "text", placeholder: "key:value, key2:value2", autocomplete: "off",
    "aria-describedby": "tq-attr-help" });
  const rangeSel = h("select", { id: "tq-range", name: "range" },
    Object.entries(RANGE_LABELS).map(([v, label]) => h("option", { value: v }, label)));
  const limitSel = h("select", { id: "tq-limit", name: "limit" }, ["20", "50", "100"].map((v) => h("option", { value: v }, v)));
  const results = h("div", { id: "trace-results", "aria-live": "polite" });
  const form = h("form", { class: "search card", id: "trace-search", role: "search", "aria-label": "Trace search" },
    h("div", { class: "fields" },
      service.row, name.row,
      h("div", { class: "field" }, h("label", { for: "tq-status" }, "Status"), statusSel),
      minD.row, maxD.row,
      h("div", { class: "field field-wide" }, attr.row.childNodes[0], attr.el,
        h("small", { id: "tq-attr-help", class: "muted" }, "Span or resource attributes, e.g. http.route:/orders")),
      h("div", { class: "field" }, h("label", { for: "tq-range" }, "Time range"), rangeSel),
      h("div", { class: "field" }, h("label", { for: "tq-limit" }, "Results"), limitSel)),
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, "Search"),
      h("button", { type: "reset" }, "Clear")),
    servicesList, operationsList);

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const next = new URLSearchParams();
    for (const [key, el] of [["service", service.el], ["name", name.el], ["status", statusSel],
      ["min_duration_ms", minD.el], ["max_duration_ms", maxD.el]]) {
      if (el.value.trim()) next.set(key, el.value.trim());
    }
    for (const a of splitAttrs(attr.el.value)) next.append("attr", a);
    if (limitSel.value !== "20") next.set("limit", limitSel.value);
    if (rangeSel.value !== "1h") next.set("range", rangeSel.value);
    else next.delete("range");
    const refresh = ctx.params.get("refresh");
    if (refresh) next.set("refresh", refresh);
    const before = location.hash;
    ctx.navigate(["traces"], next);
    if (location.hash === before) search(); // the same query again: run it anew
  });
  form.addEventListener("reset", (e) => {
    e.preventDefault();
    ctx.navigate(["traces"], new URLSearchParams(range !== "1h" ? { range } : {}));
  });
  service.el.addEventListener("change", () => loadOperations(service.el.value.trim()));
  // suggestions are fetched when a field that offers them is first used (per time range), so the
  // search, the data the page is for, does not share the server with them on load
  let suggestedFor = null;
  const suggest = () => {
    if (suggestedFor === range) return;
    suggestedFor = range;
    loadServices();
    loadOperations(service.el.value.trim());
  };
  service.el.addEventListener("focus", suggest);
  name.el.addEventListener("focus", suggest);

  replace(ctx.view, h("h1", null, "Traces"), form, results);

  function fill() {
    service.el.value = params.get("service") || "";
    name.el.value = params.get("name") || "";
    statusSel.value = params.get("status") || "";
    minD.el.value = params.get("min_duration_ms") || "";
    maxD.el.value = params.get("max_duration_ms") || "";
    attr.el.value = params.getAll("attr").join(", ");
    rangeSel.value = range;
    limitSel.value = ["20", "50", "100"].includes(params.get("limit")) ? params.get("limit") : "20";
  }

  async function loadServices() {
    try {
      const data = await getJson("/api/services", { range }, ctx.signal);
      replace(servicesList, data.services.map((s) => h("option", { value: s.name })));
    } catch (err) { /* suggestions only */ }
  }

  async function loadOperations(svc) {
    if (!svc) return replace(operationsList);
    try {
      const data = await getJson("/api/metrics/api/top-endpoints", { range, service: svc, limit: 50 }, ctx.signal);
      const names = [...new Set((data.endpoints || []).map((e) => `${e.method} ${e.route}`.trim()))];
      replace(operationsList, names.map((n) => h("option", { value: n })));
    } catch (err) { /* suggestions only */ }
  }

  async function search() {
    if (controller) controller.abort();
    controller = new AbortController();
    const signal = controller.signal;
    ctx.signal.addEventListener("abort", () => controller.abort(), { once: true });
    const query = { range };
    for (const key of FIELDS) if (params.get(key)) query[key] = params.get(key);
    query.attr = params.getAll("attr");
    replace(results, h("p", { class: "muted", role: "status" }, "Searching…"));
    try {
      const data = await getJson("/api/traces", query, signal);
      if (signal.aborted) return;
      renderResults(data.traces);
    } catch (err) {
      if (isAbort(err)) return;
      replace(results, h("p", { class: "error-box", role: "alert" }, "Search failed: " + err.message));
    }
  }

  function renderResults(traces) {
    if (!traces.length) {
      replace(results, note("No traces match in this time range."));
      return;
    }
    const keep = {};
    if (params.get("range")) keep.range = params.get("range");
    const maxDur = Math.max(...traces.map((t) => t.duration_ns), 1);
    replace(results,
      h("p", { class: "muted", id: "trace-count" }, `${traces.length} trace${traces.length === 1 ? "" : "s"}, newest first`),
      table([{ label: "Started" }, { label: "Trace" }, { label: "Duration", cls: "num" }, { label: "Spans", cls: "num" },
        { label: "Errors", cls: "num" }, { label: "Services" }],
      traces.map((t) => [
        h("time", { datetime: new Date(t.start_time_unix_nano / 1e6).toISOString() }, f.timeNs(t.start_time_unix_nano)),
        h("a", { href: routeHref(["traces", t.trace_id], keep), class: "trace-link", dataset: { traceId: t.trace_id } },
          swatch(t.root_service_name), h("strong", null, t.root_service_name), " ", f.clip(t.root_name, 80)),
        h("span", { class: "dur" }, h("span", { class: "dur-bar", "aria-hidden": "true",
          style: { width: Math.max(2, (t.duration_ns / maxDur) * 100) + "%" } }), f.ns(t.duration_ns)),
        f.int(t.span_count),
        t.error_count ? h("span", { class: "badge badge-bad" }, f.int(t.error_count)) : "0",
        h("span", { class: "services" }, t.service_names.map((s) => h("span", { class: "chip" }, swatch(s), s)))]),
      "Matching traces"));
    const first = results.querySelector("table");
    if (first) first.classList.add("traces-table");
  }

  fill();
  search();
  return {
    update(next) {
      params = next.params;
      range = next.range;
      fill();
      search();
    },
    refresh: search,
    destroy() {
      if (controller) controller.abort();
    },
  };
}

function swatch(service) {
  return h("span", { class: "swatch", "aria-hidden": "true", style: { backgroundColor: serviceColor(service) } });
}

/** "a:b, c:d,e" → ["a:b", "c:d,e"]: a comma splits only where a new key: follows. */
export function splitAttrs(text) {
  return String(text || "").split(/\s*,\s*(?=[^,:\s]+:)/).map((s) => s.trim()).filter(Boolean);
}
