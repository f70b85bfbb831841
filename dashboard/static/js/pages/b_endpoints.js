// Endpoints (#/endpoints?sort=requests|p95|errors|time): GET /api/metrics/api (series, status codes,
// Apdex, availability), /api/metrics/api/top-endpoints?sort=… and /api/metrics/api/slow-requests.

import { getJson, isAbort } from "../api.js";
import { lineChart } from "../charts.js";
import { serviceColor } from "../colors.js";
import { card, h, note, pairs, replace, routeHref, table } from "../dom.js";
import * as f from "../format.js";
import { loader } from "./b_common.js";

const SORTS = { requests: "Requests", p95: "p95 latency", errors: "Errors", time: "Total time" };

function swatch(name) {
  return h("span", { class: "swatch", "aria-hidden": "true", style: { backgroundColor: serviceColor(name) } });
}

export function mount(ctx) {
  let range = ctx.range;
  let params = ctx.params;
  let charts = [];
  const load = loader(ctx.signal);
  const sortOf = (p) => (SORTS[p.get("sort")] ? p.get("sort") : "requests");
  const sortSel = h("select", { id: "ep-sort", name: "sort" },
    Object.entries(SORTS).map(([v, label]) => h("option", { value: v }, label)));
  sortSel.value = sortOf(params);
  sortSel.addEventListener("change", () => ctx.setParams({ sort: sortSel.value === "requests" ? null : sortSel.value }));
  const status = h("p", { class: "muted", role: "status", id: "endpoints-status" }, "Loading…");
  const summary = h("div", { id: "ep-summary" });
  const top = h("div", { id: "ep-top" });
  const slow = h("div", { id: "ep-slow" });
  replace(ctx.view, h("h1", null, "Endpoints"), status, summary,
    h("section", { class: "card", "aria-labelledby": "ep-top-title" },
      h("div", { class: "b-card-head" }, h("h2", { id: "ep-top-title" }, "Top endpoints"),
        h("div", { class: "field b-inline" }, h("label", { for: "ep-sort" }, "Sort by"), sortSel)), top),
    card("Slow requests", slow));

  async function loadTop(signal) {
    const data = await getJson("/api/metrics/api/top-endpoints", { range, sort: sortOf(params), limit: 20 }, signal);
    if (signal.aborted) return;
    if (!data.endpoints.length) return replace(top, note("No requests in this time range."));
    replace(top, table(
      [{ label: "Service" }, { label: "Endpoint" }, { label: "Requests", cls: "num" }, { label: "Errors", cls: "num" },
        { label: "Error rate", cls: "num" }, { label: "p50", cls: "num" }, { label: "p95", cls: "num" },
        { label: "p99", cls: "num" }, { label: "Time share", cls: "num" }],
      data.endpoints.map((e) => [
        h("a", { href: routeHref(["services", e.service]) }, swatch(e.service), e.service),
        h("a", { href: routeHref(["traces"], { service: e.service, name: `${e.method} ${e.route}`.trim() }) },
          h("code", null, f.clip(`${e.method} ${e.route}`.trim(), 90))),
        f.int(e.requests), f.int(e.errors), h("span", { class: e.error_rate > 0.05 ? "bad" : null }, f.percent(e.error_rate)),
        f.ms(e.p50_ms), f.ms(e.p95_ms), f.ms(e.p99_ms), f.percent(e.time_share, 1)]),
      "Top endpoints sorted by " + SORTS[sortOf(params)]));
    top.querySelector("table").id = "ep-top-table";
  }

  async function loadAll() {
    const signal = load.next();
    try {
      const [m, s] = await Promise.all([
        getJson("/api/metrics/api", { range }, signal),
        getJson("/api/metrics/api/slow-requests", { range, limit: 50 }, signal),
        loadTop(signal)]);
      if (signal.aborted) return;
      renderSummary(m);
      renderSlow(s);
      status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
      status.className = "muted";
    } catch (err) {
      if (isAbort(err)) return;
      status.textContent = "Could not load the endpoints: " + err.message;
      status.className = "error-box";
    }
  }

  function renderSummary(m) {
    for (const c of charts) c.destroy();
    const t = m.totals;
    const xs = m.series.map((b) => b.t);
    const nz = (v, b) => (b.requests ? v : null);
    charts = [
      lineChart({ title: "Throughput", format: (v) => f.rate(v), series: [{ label: "req/s", color: "#4e79a7", fill: true }],
        data: [xs, m.series.map((b) => b.req_per_s)] }),
      lineChart({ title: "Error rate", format: (v) => f.percent(v, 1), series: [{ label: "failed", color: "#e15759", fill: true }],
        data: [xs, m.series.map((b) => nz(b.error_rate, b))] }),
      lineChart({ title: "Latency percentiles", format: (v) => f.ms(v),
        series: [{ label: "p50", color: "#59a14f" }, { label: "p90", color: "#76b7b2" }, { label: "p95", color: "#f28e2b" },
          { label: "p99", color: "#b07aa1" }],
        data: [xs, ...["p50_ms", "p90_ms", "p95_ms", "p99_ms"].map((k) => m.series.map((b) => nz(b[k], b)))] })];
    const total = m.by_status.reduce((a, x) => a + x.requests, 0) || 1;
    replace(summary,
      h("section", { class: "kpis", "aria-label": "API figures" },
        kpi("Requests", f.int(t.requests), "ep-requests"), kpi("Throughput", f.rate(t.req_per_s), "ep-rate"),
        kpi("Error rate", f.percent(t.error_rate), "ep-error-rate"), kpi("p95 latency", f.ms(t.p95_ms), "ep-p95"),
        kpi("Apdex", f.fixed(t.apdex, 2), "ep-apdex", `T = ${f.ms(m.apdex_t_ms)}`),
        kpi("Availability", f.fixed(m.availability_percent, 2) + "%", "ep-availability",
          `SLA ${m.sla_target_percent}% · ${m.meets_sla ? "met" : "missed"}`)),
      h("section", { class: "charts", "aria-label": "API charts" }, charts.map((c) => c.el)),
      card("Status codes", m.by_status.length
        ? h("div", null,
          pairs(m.by_class.map((c) => [c.status, f.int(c.requests)]), "pairs pairs-inline"),
          h("ul", { class: "b-bars", id: "ep-status" }, m.by_status.map((x) => h("li", null,
            h("span", { class: "b-bar-label" }, x.status === "0" ? "no status" : x.status),
            h("span", { class: "b-bar-track", "aria-hidden": "true" },
              h("span", { class: "b-bar-fill b-status-" + String(x.status).charAt(0), style: { width: (x.requests / total) * 100 + "%" } })),
            h("span", { class: "b-bar-value" }, `${f.int(x.requests)} (${f.percent(x.requests / total, 1)})`)))))
        : note("No requests in this time range.")));
  }

  function renderSlow(s) {
    if (!s.requests.length) return replace(slow, note(`No requests slower than ${f.ms(s.threshold_ms)} in this time range.`));
    replace(slow, h("p", { class: "muted" }, `Slower than ${f.ms(s.threshold_ms)}, slowest first`),
      table([{ label: "Time" }, { label: "Service" }, { label: "Request" }, { label: "Status", cls: "num" },
        { label: "Duration", cls: "num" }, { label: "Trace" }],
      s.requests.map((r) => [r.timestamp, r.service, h("code", null, f.clip(`${r.method} ${r.route}`.trim(), 90)),
        String(r.status || "–"), f.ms(r.duration_ms),
        h("a", { href: routeHref(["traces", r.trace_id]), class: "b-slow-trace", dataset: { traceId: r.trace_id } }, "View trace")]),
      "Slow requests"));
  }

  loadAll();
  return {
    update(next) {
      const sortChanged = sortOf(next.params) !== sortOf(params);
      params = next.params;
      sortSel.value = sortOf(params);
      if (next.range !== range) {
        range = next.range;
        loadAll();
      } else if (sortChanged) {
        const signal = load.next();
        loadTop(signal).catch((err) => {
          if (!isAbort(err)) replace(top, h("p", { class: "error-box", role: "alert" }, err.message));
        });
      }
    },
    refresh: loadAll,
    destroy() {
      load.abort();
      for (const c of charts) c.destroy();
    },
  };
}

function kpi(label, value, id, hint) {
  return h("div", { class: "kpi" }, h("span", { class: "kpi-label" }, label), h("span", { class: "kpi-value", id }, value),
    hint ? h("span", { class: "kpi-hint" }, hint) : null);
}
