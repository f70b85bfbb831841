// Overview (#/): GET /api/dashboard?range=… — health, request/error/latency charts, services,
// database, errors, alerts, insights, hosts — kept live by the /ws feed (dashboard-data, alert,
// performance). An empty store shows how to point an OpenTelemetry SDK at Vigil.

import { getJson, isAbort } from "../api.js";
import { lineChart } from "../charts.js";
import { serviceColor } from "../colors.js";
import { card, h, note, pairs, replace, routeHref, table } from "../dom.js";
import * as f from "../format.js";
import { connectLive } from "../live.js";
import { hideEmptyState, showEmptyState } from "/app.js";

const MAX_EVENTS = 20;

export function mount(ctx) {
  let range = ctx.range;
  let controller = null;
  let charts = [];
  let doc = null;
  const liveEvents = [];

  const status = h("p", { class: "muted", id: "overview-status", role: "status" }, "Loading…");
  const liveBadge = h("span", { class: "badge badge-muted", id: "live-badge" }, "Live: connecting");
  const liveStrip = h("div", { class: "live-strip", id: "live-strip" });
  const liveList = h("ol", { class: "events", id: "live-events" });
  const content = h("div", { class: "overview", id: "overview" });
  replace(ctx.view,
    h("div", { class: "page-head" }, h("h1", null, "Overview"), liveBadge),
    status, content);

  const live = connectLive({
    topics: ["dashboard-data", "alert", "performance"],
    onStatus(state) {
      liveBadge.textContent = "Live: " + state;
      liveBadge.className = "badge " + (state === "live" ? "badge-ok" : "badge-muted");
    },
    onEvent(event) {
      if (event.type === "dashboard-data") renderLiveStrip(event.data || {});
      else {
        liveEvents.unshift(event);
        liveEvents.length = Math.min(liveEvents.length, MAX_EVENTS);
        renderLiveEvents();
        if (event.type === "alert") load(); // active alerts and health changed
      }
    },
  });

  function renderLiveStrip(snap) {
    const services = Array.isArray(snap.services) ? snap.services : [];
    replace(liveStrip,
      h("span", { class: "live-figure" }, `Last ${Math.round((snap.window_seconds || 300) / 60)} min: `,
        h("strong", { id: "live-requests" }, f.int(snap.requests)), " requests, ",
        h("strong", null, f.int(snap.errors)), " failed (", f.percent(snap.error_rate || 0), ")"),
      services.map((s) => h("span", { class: "live-service" },
        swatch(s.service), String(s.service), " ", f.int(s.requests), " req · p95 ", f.ms(s.p95_ms))));
  }

  function renderLiveEvents() {
    replace(liveList, liveEvents.map((e) => {
      const d = e.data || {};
      let text;
      if (e.type === "alert") text = `Alert ${d.alertname || "?"}: ${d.from || "?"} → ${d.to || "?"}`;
      else text = `${String(d.kind || "event").replace(/_/g, " ")}: ${d.type || ""} ${d.message || ""}`.trim();
      return h("li", { class: "event event-" + e.type },
        h("span", { class: "badge badge-muted" }, e.type), " ", f.clip(text, 200),
        d.trace_id ? [" ", h("a", { href: routeHref(["traces", d.trace_id]) }, "trace")] : null);
    }));
  }

  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    const signal = controller.signal;
    ctx.signal.addEventListener("abort", () => controller.abort(), { once: true });
    try {
      const data = await getJson("/api/dashboard", { range }, signal);
      if (signal.aborted) return;
      doc = data;
      render(data);
      status.textContent = `Updated ${new Date().toLocaleTimeString()} · ` +
        (data.meta && data.meta.data_complete ? "all acknowledged data included" : "recent data may still be arriving");
      const empty = data.services.length === 0 && data.api.totals.requests === 0;
      if (empty) {
        const all = await getJson("/api/services", { range: "7d" }, signal);
        if (all.services.length === 0) await showEmptyState(signal);
      } else {
        hideEmptyState();
      }
    } catch (err) {
      if (isAbort(err)) return;
      status.textContent = "Could not load the overview: " + err.message;
      status.className = "error-box";
    }
  }

  function render(d) {
    for (const c of charts) c.destroy();
    charts = [];
    const t = d.api.totals;
    const xs = d.api.series.map((b) => b.t);
    const nz = (v, b) => (b.requests ? v : null);
    const reqChart = lineChart({
      title: "Request rate", format: (v) => f.rate(v),
      series: [{ label: "req/s", color: "#4e79a7", fill: true }],
      data: [xs, d.api.series.map((b) => b.req_per_s)],
    });
    const errChart = lineChart({
      title: "Error rate", format: (v) => f.percent(v, 1),
      series: [{ label: "failed requests", color: "#e15759", fill: true }],
      data: [xs, d.api.series.map((b) => nz(b.error_rate, b))],
    });
    const latChart = lineChart({
      title: "Latency", format: (v) => f.ms(v),
      series: [{ label: "p50", color: "#59a14f" }, { label: "p95", color: "#f28e2b" }, { label: "p99", color: "#b07aa1" }],
      data: [xs, d.api.series.map((b) => nz(b.p50_ms, b)), d.api.series.map((b) => nz(b.p95_ms, b)),
        d.api.series.map((b) => nz(b.p99_ms, b))],
    });
    charts = [reqChart, errChart, latChart];

    replace(content,
      healthCard(d),
      h("section", { class: "kpis", "aria-label": "Request figures" },
        kpi("Requests", f.int(t.requests), "kpi-requests"),
        kpi("Throughput", f.rate(t.req_per_s), "kpi-rate"),
        kpi("Error rate", f.percent(t.error_rate), "kpi-error-rate", t.error_rate > 0.05 ? "bad" : null),
        kpi("p95 latency", f.ms(t.p95_ms), "kpi-p95"),
        kpi("p99 latency", f.ms(t.p99_ms), "kpi-p99"),
        kpi("Apdex", f.fixed(t.apdex, 2), "kpi-apdex"),
        kpi("Availability", f.fixed(d.api.availability_percent, 2) + "%", "kpi-availability",
          t.requests && !d.api.meets_sla ? "bad" : null, `SLA target ${d.api.sla_target_percent}%`)),
      h("section", { class: "charts", "aria-label": "Request charts" }, charts.map((c) => c.el)),
      card("Live", liveStrip, liveList,
        liveEvents.length ? null : note("Alerts and new or regressed error issues appear here as they happen.")),
      h("div", { class: "grid-2" },
        servicesCard(d), alertsCard(d.alerts),
        errorsCard(d.errors), databaseCard(d.database),
        insightsCard(d.insights), hostsCard(d.hosts)));
    if (!liveStrip.childNodes.length) liveStrip.append(note("Waiting for the first live snapshot…"));
  }

  function kpi(label, value, id, tone, hint) {
    return h("div", { class: "kpi" + (tone ? " kpi-" + tone : "") },
      h("span", { class: "kpi-label" }, label),
      h("span", { class: "kpi-value", id }, value),
      hint ? h("span", { class: "kpi-hint" }, hint) : null);
  }

  load();
  return {
    update({ range: r }) {
      if (r !== range) {
        range = r;
        load();
      }
    },
    refresh: load,
    destroy() {
      if (controller) controller.abort();
      live.close();
      for (const c of charts) c.destroy();
      hideEmptyState();
    },
    get data() {
      return doc;
    },
  };
}

function swatch(service) {
  return h("span", { class: "swatch", "aria-hidden": "true", style: { backgroundColor: serviceColor(service) } });
}

function healthCard(d) {
  const s = d.health.status;
  const tone = s === "ok" ? "ok" : s === "warning" ? "warn" : "bad";
  return h("section", { class: "card health health-" + tone, "aria-labelledby": "health-title", id: "health" },
    h("h2", { id: "health-title" }, "Health: ", h("span", { class: "badge badge-" + tone, id: "health-status" }, s)),
    d.health.reasons.length
      ? h("ul", { class: "reasons" }, d.health.reasons.map((r) => h("li", null, r)))
      : note("Everything within its thresholds."));
}

function servicesCard(d) {
  if (!d.services.length) return card("Services", note("No requests in this time range."));
  return card("Services", table(
    [{ label: "Service" }, { label: "Requests", cls: "num" }, { label: "Error rate", cls: "num" },
      { label: "p95", cls: "num" }, { label: "Apdex", cls: "num" }],
    d.services.map((s) => [
      h("a", { href: routeHref(["traces"], { service: s.service }) }, swatch(s.service), s.service),
      f.int(s.figures.requests),
      h("span", { class: s.figures.error_rate > 0.05 ? "bad" : null }, f.percent(s.figures.error_rate)),
      f.ms(s.figures.p95_ms), f.fixed(s.figures.apdex, 2)]),
    "Request figures per service"));
}

function alertsCard(alerts) {
  if (!alerts.evaluating) return card("Active alerts", note("No alert evaluator runs in this Vigil."));
  if (!alerts.active.length) return card("Active alerts", h("p", { id: "alerts-none" }, "No active alerts."));
  return card("Active alerts", h("ul", { class: "list", id: "alerts-active" }, alerts.active.map((a) =>
    h("li", null,
      h("span", { class: "badge " + (a.state === "firing" ? "badge-bad" : "badge-warn") }, a.state), " ",
      h("strong", null, a.name), " ", h("span", { class: "muted" }, `${a.severity} · since ${f.ago(a.since_unix_nano)}`),
      Object.keys(a.labels).length
        ? h("div", { class: "labels" }, Object.entries(a.labels).map(([k, v]) => h("code", { class: "label" }, `${k}=${v}`)))
        : null))));
}

function errorsCard(e) {
  return card("Errors",
    pairs([["Occurrences", h("span", { id: "errors-occurrences" }, f.int(e.occurrences))],
      ["Failed requests", f.int(e.failed_requests)], ["Error rate", f.percent(e.error_rate)],
      ["Critical issues", f.int(e.critical.length)]], "pairs pairs-inline"),
    e.top_issues.length
      ? table([{ label: "Issue" }, { label: "Count", cls: "num" }, { label: "Services" }, { label: "Status" }],
        e.top_issues.map((i) => [
          h("span", { title: `${i.type}: ${i.message}` }, h("strong", null, f.clip(shortType(i.type), 60)), " ",
            h("span", { class: "muted" }, f.clip(i.message, 90))),
          f.int(i.count), i.services.join(", "),
          h("span", { class: "badge " + (isCritical(e, i) ? "badge-bad" : "badge-muted") }, isCritical(e, i) ? "critical" : i.status)]),
        "Top error issues")
      : note("No errors in this time range."));
}

function isCritical(e, issue) {
  return e.critical.some((c) => c.fingerprint === issue.fingerprint);
}

function shortType(type) {
  const parts = String(type).split(".");
  return parts[parts.length - 1] || String(type);
}

function databaseCard(db) {
  const t = db.totals;
  return card("Database",
    pairs([["Calls", h("span", { id: "db-executions" }, f.int(t.executions))], ["Rate", f.rate(t.per_s)],
      ["Average", f.ms(t.avg_ms)], ["p95", f.ms(t.p95_ms)], ["Errors", f.int(t.errors)]], "pairs pairs-inline"),
    db.databases.length
      ? h("p", { class: "muted" }, "Databases: ", db.databases.map((x) => `${x.db_system} ${x.db_namespace}`).join(", "))
      : null,
    db.slow_queries.length
      ? table([{ label: "Slowest statements" }, { label: "Calls", cls: "num" }, { label: "Avg", cls: "num" },
        { label: "p95", cls: "num" }, { label: "Example" }],
      db.slow_queries.map((q) => [
        h("code", { class: "statement", title: q.statement }, f.clip(q.statement, 100)),
        f.int(q.executions), f.ms(q.avg_ms), f.ms(q.p95_ms),
        q.example_trace_ids && q.example_trace_ids.length
          ? h("a", { href: routeHref(["traces", q.example_trace_ids[0]]) }, "trace") : "–"]),
      "Slowest statements")
      : note("No slow statements."));
}

function insightsCard(insights) {
  if (!insights.length) return card("Top insights", note("No findings in this time range."));
  return card("Top insights", h("ul", { class: "list insights" }, insights.map((i) =>
    h("li", null,
      h("span", { class: "badge " + sevClass(i.severity) }, i.severity), " ", h("strong", null, i.title),
      i.recommendation ? h("p", { class: "muted" }, i.recommendation) : null,
      i.trace_ids && i.trace_ids.length ? h("a", { href: routeHref(["traces", i.trace_ids[0]]) }, "Example trace") : null))));
}

function sevClass(sev) {
  return sev === "critical" ? "badge-bad" : sev === "warning" ? "badge-warn" : "badge-muted";
}

function hostsCard(hosts) {
  if (!hosts.length) return card("Hosts", note("No host metrics in the last 15 minutes."));
  const util = (u) => h("span", { class: u.state === "critical" ? "bad" : u.state === "warning" ? "warn" : null },
    u.current === null || u.current === undefined ? "–" : f.percent(u.current, 1));
  return card("Hosts", table(
    [{ label: "Host" }, { label: "CPU", cls: "num" }, { label: "Memory", cls: "num" }, { label: "Disk", cls: "num" }],
    hosts.map((x) => [x.host, util(x.cpu), util(x.memory), util(x.disk)]), "Host utilisation"));
}
