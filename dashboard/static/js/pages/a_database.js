// Database (#/database?range=…): GET /api/metrics/database (series per db system),
// /api/metrics/database/slow-queries and /api/metrics/database/connection-stats.

import { getJson, isAbort } from "../api.js";
import { lineChart } from "../charts.js";
import { card, h, note, replace, routeHref, table } from "../dom.js";
import * as f from "../format.js";
import { empty, errorBox, kpi, loader } from "./a_common.js";

export function mount(ctx) {
  let range = ctx.range;
  let charts = [];
  const loads = loader(ctx);
  const status = h("p", { class: "muted", role: "status", id: "db-status" }, "Loading…");
  const content = h("div", { id: "database" });
  replace(ctx.view, h("h1", null, "Database"), status, content);

  async function load() {
    const signal = loads.next();
    try {
      const [ov, slow, pools] = await Promise.all([
        getJson("/api/metrics/database", { range }, signal),
        getJson("/api/metrics/database/slow-queries", { range, limit: 20 }, signal),
        getJson("/api/metrics/database/connection-stats", { range }, signal),
      ]);
      if (signal.aborted) return;
      status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
      render(ov, slow, pools);
    } catch (err) {
      if (isAbort(err)) return;
      status.textContent = "";
      replace(content, errorBox("Could not load the database figures", err));
    }
  }

  function render(ov, slow, pools) {
    for (const c of charts) c.destroy();
    charts = [];
    const keep = ctx.params.get("range") ? { range: ctx.params.get("range") } : null;
    if (ov.totals.executions === 0 && !slow.queries.length && !pools.pools.length) {
      replace(content, empty("No database calls in this time range."));
      return;
    }
    const t = ov.totals;
    const dbSections = ov.databases.map((d) => {
      const xs = d.series.map((b) => b.t);
      const cs = [
        lineChart({ title: "Throughput", format: (v) => f.rate(v), series: [{ label: "calls/s", color: "#4e79a7", fill: true }],
          data: [xs, d.series.map((b) => b.executions / ov.step_s)] }),
        lineChart({ title: "Latency p95", format: (v) => f.ms(v), series: [{ label: "p95", color: "#f28e2b" }],
          data: [xs, d.series.map((b) => (b.executions ? b.p95_ms : null))] }),
        lineChart({ title: "Errors", format: (v) => f.int(v), series: [{ label: "errors", color: "#e15759", fill: true }],
          data: [xs, d.series.map((b) => b.errors)] }),
      ];
      charts.push(...cs);
      const fig = d.figures;
      return h("section", { class: "card a-db", "aria-label": `${d.db_system} ${d.db_namespace}` },
        h("h2", null, d.db_system, " ", h("span", { class: "muted" }, d.db_namespace)),
        h("p", { class: "a-figs" }, `${f.int(fig.executions)} calls · ${f.rate(fig.per_s)} · avg ${f.ms(fig.avg_ms)} · ` +
          `p95 ${f.ms(fig.p95_ms)} · p99 ${f.ms(fig.p99_ms)} · ${f.int(fig.errors)} errors`),
        h("div", { class: "charts" }, cs.map((c) => c.el)));
    });
    replace(content,
      h("section", { class: "kpis", "aria-label": "Database figures" },
        kpi("Calls", f.int(t.executions), "dbp-executions"), kpi("Rate", f.rate(t.per_s), "dbp-rate"),
        kpi("Average", f.ms(t.avg_ms), "dbp-avg"), kpi("p95", f.ms(t.p95_ms), "dbp-p95"),
        kpi("Errors", f.int(t.errors), "dbp-errors", t.errors ? "bad" : null)),
      dbSections.length ? dbSections : null,
      ov.top_operations.length
        ? card("Top operations", table([{ label: "Operation" }, { label: "Database" }, { label: "Calls", cls: "num" }, { label: "Errors", cls: "num" }],
          ov.top_operations.map((o) => [o.operation, `${o.db_system} ${o.db_namespace}`, f.int(o.executions), f.int(o.errors)]), "Top operations"))
        : null,
      card("Slow queries", slow.queries.length
        ? h("div", { id: "slow-queries" }, h("p", { class: "muted" }, `Statements whose slowest call exceeded ${f.ms(slow.threshold_ms)}, by ${slow.sort}`),
          table([{ label: "Statement" }, { label: "Calls", cls: "num" }, { label: "Total", cls: "num" }, { label: "Avg", cls: "num" },
            { label: "p95", cls: "num" }, { label: "Max", cls: "num" }, { label: "Callers" }, { label: "Examples" }],
          slow.queries.map((q) => [
            h("pre", { class: "a-sql", tabindex: "0" }, q.statement),
            h("span", { class: "a-exec" }, f.int(q.executions)), f.ms(q.total_ms), f.ms(q.avg_ms), f.ms(q.p95_ms), f.ms(q.max_ms),
            h("div", { class: "a-callers" }, q.services.map((s) => h("div", null, s)),
              q.endpoints.map((e) => h("div", { class: "muted" }, `${e.service} ${e.route} (${f.int(e.executions)})`))),
            h("div", { class: "a-examples" }, q.example_trace_ids.slice(0, 3).map((id, n) =>
              h("a", { href: routeHref(["traces", id], keep), class: "a-trace", title: id }, "trace " + (n + 1))))]),
          "Slow queries"))
        : note("No statement exceeded the slow-query threshold.")),
      card("Connection pools", pools.pools.length
        ? table([{ label: "Service" }, { label: "Pool" }, { label: "Used", cls: "num" }, { label: "Idle", cls: "num" },
          { label: "Max", cls: "num" }, { label: "Usage", cls: "num" }, { label: "Pending", cls: "num" }, { label: "Timeouts", cls: "num" },
          { label: "Wait p95", cls: "num" }, { label: "Use p95", cls: "num" }],
        pools.pools.map((p) => [p.service, p.pool, opt(p.used), opt(p.idle), opt(p.max),
          h("span", { class: p.usage >= 0.9 ? "bad" : p.usage >= 0.75 ? "warn" : null }, p.usage === null ? "–" : f.percent(p.usage, 0)),
          opt(p.pending_requests), opt(p.timeouts),
          p.wait_time && p.wait_time.p95_ms !== null ? f.ms(p.wait_time.p95_ms) : "–",
          p.use_time && p.use_time.p95_ms !== null ? f.ms(p.use_time.p95_ms) : "–"]), "Connection pools")
        : note("No connection-pool metrics in this time range.")));
    const pt = content.querySelector("#card-connection-pools ~ .table-wrap table");
    if (pt) pt.id = "pools";
  }

  load();
  return {
    update(next) {
      range = next.range;
      load();
    },
    refresh: load,
    destroy() {
      loads.abort();
      for (const c of charts) c.destroy();
    },
  };
}

function opt(v) {
  return v === null || v === undefined ? "–" : f.int(v);
}
