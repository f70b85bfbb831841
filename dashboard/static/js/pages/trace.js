// One trace (#/traces/<id>?span=<span id>): GET /api/traces/{id} as a waterfall — bars placed by
// start and duration, indented by parent, coloured by service, error spans marked — with the
// selected span's details (attributes, events with exception stack traces, links) and the trace's
// logs (GET /api/logs?trace_id=… around the trace's time).

import { getJson, isAbort } from "../api.js";
import { serviceColor } from "../colors.js";
import { card, h, note, pairs, replace, routeHref, table } from "../dom.js";
import * as f from "../format.js";

const NS_PER_S = 1e9;
const LOG_MARGIN_S = 60;

export function mount(ctx) {
  const traceId = ctx.path[1];
  let params = ctx.params;
  let spans = [];
  let rows = [];
  let selected = null;
  let logs = [];

  const header = h("div", { class: "page-head" },
    h("h1", null, "Trace"), h("code", { class: "trace-id", id: "trace-id" }, traceId));
  const back = h("p", null, h("a", { href: routeHref(["traces"], keepRange(params)) }, "← Back to trace search"));
  const summary = h("div", { id: "trace-summary" }, h("p", { class: "muted", role: "status" }, "Loading…"));
  const waterfall = h("div", { class: "waterfall", id: "waterfall", role: "list", "aria-label": "Spans" });
  const details = h("aside", { class: "card span-details", id: "span-details", "aria-labelledby": "span-details-title" },
    h("h2", { id: "span-details-title" }, "Span details"), note("Select a span to see its attributes, events and links."));
  const logsBox = h("div", { id: "trace-logs" }, note("Loading logs…"));
  replace(ctx.view, header, back, summary,
    h("div", { class: "trace-layout" },
      h("section", { class: "card waterfall-card", "aria-labelledby": "wf-title" },
        h("h2", { id: "wf-title" }, "Waterfall"), h("div", { class: "wf-axis", id: "wf-axis", "aria-hidden": "true" }), waterfall),
      details),
    card("Logs", logsBox));

  waterfall.addEventListener("keydown", (e) => {
    if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
    const buttons = [...waterfall.querySelectorAll("button.span-row")];
    const i = buttons.indexOf(document.activeElement);
    if (i < 0) return;
    e.preventDefault();
    const next = buttons[Math.max(0, Math.min(buttons.length - 1, i + (e.key === "ArrowDown" ? 1 : -1)))];
    next.focus();
  });

  async function load() {
    try {
      const data = await getJson("/api/traces/" + encodeURIComponent(traceId), null, ctx.signal);
      spans = data.spans;
      rows = layout(spans);
      renderSummary();
      renderWaterfall();
      select(params.get("span"), false);
      loadLogs();
    } catch (err) {
      if (isAbort(err)) return;
      replace(summary, h("p", { class: "error-box", role: "alert" },
        err.status === 404 ? `No trace ${traceId} is stored (it may be outside retention).` : "Could not load the trace: " + err.message));
      replace(logsBox);
    }
  }

  function bounds() {
    const start = Math.min(...spans.map((s) => s.start_time_unix_nano));
    const end = Math.max(...spans.map((s) => s.end_time_unix_nano));
    return { start, end, total: Math.max(1, end - start) };
  }

  function renderSummary() {
    const { start, total } = bounds();
    const root = rows.length ? rows[0].span : spans[0];
    const services = [...new Set(spans.map((s) => s.service_name))].sort();
    const errors = spans.filter(isError).length;
    replace(summary, h("div", { class: "card trace-summary" },
      h("p", { class: "trace-root" }, swatch(root.service_name), h("strong", null, root.service_name), " ", root.name),
      pairs([["Started", f.timeNs(start)], ["Duration", f.ns(total)], ["Spans", f.int(spans.length)],
        ["Errors", errors ? h("span", { class: "badge badge-bad" }, f.int(errors)) : "0"]], "pairs pairs-inline"),
      h("ul", { class: "legend", "aria-label": "Services" }, services.map((s) => h("li", { class: "chip" }, swatch(s), s)))));
  }

  function renderWaterfall() {
    const { start, total } = bounds();
    const axis = document.getElementById("wf-axis");
    if (axis) {
      replace(axis, [0, 0.25, 0.5, 0.75, 1].map((p) =>
        h("span", { class: "tick", style: { left: p * 100 + "%" } }, f.ns(total * p))));
    }
    replace(waterfall, rows.map(({ span, depth }) => {
      const left = ((span.start_time_unix_nano - start) / total) * 100;
      const width = Math.max(0.3, (span.duration_ns / total) * 100);
      const err = isError(span);
      const color = serviceColor(span.service_name);
      const bar = h("span", { class: "bar" + (err ? " bar-error" : ""), style: { left: left + "%", width: width + "%", backgroundColor: color } });
      // the duration after the bar; without room there, before it; without room either side, inside it
      const where = left + width <= 80 ? "after" : left >= 20 ? "before" : "inside";
      const pos = where === "after" ? { left: left + width + "%" }
        : where === "before" ? { right: 100 - left + "%" } : { right: Math.max(0, 100 - left - width) + "%" };
      const label = h("span", { class: "bar-label bar-label-" + where, style: pos }, f.ns(span.duration_ns));
      return h("div", { role: "listitem", class: "span-item" },
        h("button", {
          type: "button", class: "span-row" + (err ? " is-error" : ""), dataset: { spanId: span.span_id },
          "aria-pressed": "false",
          "aria-label": `${span.service_name} ${span.name}, ${f.ns(span.duration_ns)}${err ? ", error" : ""}`,
          onclick: () => select(span.span_id, true),
        },
        h("span", { class: "span-name", style: { paddingLeft: depth * 14 + 4 + "px" } },
          err ? h("span", { class: "err-mark", title: "error" }, "!") : null,
          swatch(span.service_name),
          h("span", { class: "svc" }, span.service_name), " ", h("span", { class: "op" }, span.name)),
        h("span", { class: "span-track" }, bar, label)));
    }));
  }

  function select(spanId, updateUrl) {
    const span = spans.find((s) => s.span_id === spanId) || null;
    selected = span;
    for (const b of waterfall.querySelectorAll("button.span-row")) {
      const on = span !== null && b.dataset.spanId === span.span_id;
      b.setAttribute("aria-pressed", String(on));
      b.classList.toggle("selected", on);
    }
    renderDetails();
    renderLogs();
    if (updateUrl && span) {
      ctx.setParams({ span: span.span_id }, { replace: true });
      // stacked layout (narrow screens): the details are below the waterfall, bring them into view
      if (window.matchMedia("(max-width: 1100px)").matches) details.scrollIntoView({ block: "start" });
    }
  }

  function renderDetails() {
    const s = selected;
    if (!s) {
      replace(details, h("h2", { id: "span-details-title" }, "Span details"),
        note("Select a span to see its attributes, events and links."));
      return;
    }
    const { start } = bounds();
    const status = s.status_code.replace("STATUS_CODE_", "").toLowerCase();
    replace(details,
      h("h2", { id: "span-details-title" }, swatch(s.service_name), s.name),
      pairs([["Service", s.service_name], ["Kind", s.kind.replace("SPAN_KIND_", "").toLowerCase()],
        ["Status", h("span", { class: "badge " + (isError(s) ? "badge-bad" : "badge-muted") }, status)],
        s.status_message ? ["Status message", s.status_message] : null,
        ["Duration", f.ns(s.duration_ns)], ["Starts at", "+" + f.ns(s.start_time_unix_nano - start)],
        ["Span id", h("code", null, s.span_id)],
        ["Parent", s.parent_span_id ? h("code", null, s.parent_span_id) : "— (root)"],
        s.scope_name ? ["Scope", s.scope_name] : null].filter(Boolean)),
      h("h3", null, "Attributes"), attrTable(s.attributes, "span-attributes"),
      h("h3", null, `Events (${s.events.length})`),
      s.events.length ? h("ol", { class: "span-events" }, s.events.map((e) => eventItem(e, start))) : note("No events."),
      h("h3", null, `Links (${s.links.length})`),
      s.links.length ? h("ul", { class: "list" }, s.links.map((l) => h("li", null,
        h("a", { href: routeHref(["traces", l.trace_id], { span: l.span_id }) }, `trace ${f.clip(l.trace_id, 40)} · span ${f.clip(l.span_id, 20)}`),
        Object.keys(l.attributes).length ? attrTable(l.attributes) : null))) : note("No links."),
      h("details", null, h("summary", null, "Resource attributes"), attrTable(s.resource_attributes)));
  }

  async function loadLogs() {
    const { start, end } = bounds();
    try {
      const data = await getJson("/api/logs", {
        trace_id: traceId, limit: 500,
        start: Math.floor(start / NS_PER_S) - LOG_MARGIN_S, end: Math.ceil(end / NS_PER_S) + LOG_MARGIN_S,
      }, ctx.signal);
      logs = data.logs.slice().sort((a, b) => a.time_unix_nano - b.time_unix_nano);
      renderLogs();
    } catch (err) {
      if (isAbort(err)) return;
      replace(logsBox, h("p", { class: "error-box" }, "Could not load the logs: " + err.message));
    }
  }

  function renderLogs() {
    if (!spans.length) return;
    if (!logs.length) {
      replace(logsBox, note("No logs carry this trace id."));
      return;
    }
    const { start } = bounds();
    replace(logsBox, table(
      [{ label: "Offset", cls: "num" }, { label: "Severity" }, { label: "Service" }, { label: "Message" }, { label: "Span" }],
      logs.map((l) => [
        "+" + f.ns(l.time_unix_nano - start),
        h("span", { class: "badge " + (l.severity_number >= 17 ? "badge-bad" : l.severity_number >= 13 ? "badge-warn" : "badge-muted") },
          l.severity_text || String(l.severity_number)),
        l.service_name,
        h("span", { class: "log-body" }, f.clip(l.body, 400)),
        l.span_id && spans.some((s) => s.span_id === l.span_id)
          ? h("button", { type: "button", class: "link" + (selected && selected.span_id === l.span_id ? " selected" : ""),
            onclick: () => select(l.span_id, true) }, l.span_id)
          : l.span_id || "–"]),
      "Logs of this trace"));
  }

  load();
  return {
    update(next) {
      params = next.params;
      const id = params.get("span");
      if ((selected ? selected.span_id : null) !== id) select(id, false);
    },
  };
}

function keepRange(params) {
  return params.get("range") ? { range: params.get("range") } : {};
}

function isError(span) {
  return span.status_code === "STATUS_CODE_ERROR";
}

function swatch(service) {
  return h("span", { class: "swatch", "aria-hidden": "true", style: { backgroundColor: serviceColor(service) } });
}

function attrTable(attrs, id) {
  const keys = Object.keys(attrs || {}).sort();
  if (!keys.length) return note("None.");
  return h("table", { class: "attrs", id },
    h("tbody", null, keys.map((k) => h("tr", null, h("th", { scope: "row" }, k), h("td", null, h("code", null, attrs[k]))))));
}

function eventItem(e, start) {
  const a = e.attributes || {};
  const isException = e.name === "exception" || "exception.type" in a;
  const rest = Object.fromEntries(Object.entries(a).filter(([k]) => !(isException && k.startsWith("exception."))));
  return h("li", { class: "span-event" + (isException ? " exception" : "") },
    h("p", null, h("strong", null, e.name), " ", h("span", { class: "muted" }, "+" + f.ns(e.time_unix_nano - start))),
    isException ? h("p", { class: "exc" }, h("strong", null, a["exception.type"] || "exception"), ": ", a["exception.message"] || "") : null,
    isException && a["exception.stacktrace"] ? h("pre", { class: "stack" }, a["exception.stacktrace"]) : null,
    Object.keys(rest).length ? attrTable(rest) : null);
}

/** Spans in tree order: [{span, depth}], children after their parent by start time; orphans are roots. */
export function layout(spans) {
  const byId = new Map(spans.map((s) => [s.span_id, s]));
  const children = new Map();
  const roots = [];
  for (const s of spans) {
    if (s.parent_span_id && byId.has(s.parent_span_id) && s.parent_span_id !== s.span_id) {
      if (!children.has(s.parent_span_id)) children.set(s.parent_span_id, []);
      children.get(s.parent_span_id).push(s);
    } else {
      roots.push(s);
    }
  }
  const byStart = (a, b) => a.start_time_unix_nano - b.start_time_unix_nano;
  const out = [];
  const seen = new Set();
  const stack = roots.sort(byStart).reverse().map((s) => [s, 0]);
  while (stack.length) {
    const [span, depth] = stack.pop();
    if (seen.has(span.span_id)) continue;
    seen.add(span.span_id);
    out.push({ span, depth });
    const kids = (children.get(span.span_id) || []).slice().sort(byStart).reverse();
    for (const k of kids) stack.push([k, depth + 1]);
  }
  for (const s of spans) if (!seen.has(s.span_id)) out.push({ span: s, depth: 0 }); // cycles
  return out;
}
