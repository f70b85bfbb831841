// Errors (#/errors?status=open|resolved|ignored&range=…): GET /api/metrics/errors and /trends — error
// issues with a trend sparkline, count, first/last seen, status and services; each opens #/errors/<fp>.

import { getJson, isAbort } from "../api.js";
import { lineChart } from "../charts.js";
import { h, replace, routeHref, table } from "../dom.js";
import * as f from "../format.js";
import { empty, errorBox, kpi, loader, sparkline } from "./a_common.js";

const STATUSES = ["", "open", "resolved", "ignored"];

export function mount(ctx) {
  let params = ctx.params;
  let range = ctx.range;
  let chart = null;
  const loads = loader(ctx);

  const statusSel = h("select", { id: "err-status", name: "status" },
    STATUSES.map((s) => h("option", { value: s }, s ? s[0].toUpperCase() + s.slice(1) : "Any status")));
  statusSel.addEventListener("change", () => ctx.setParams({ status: statusSel.value || null }));
  const status = h("p", { class: "muted", role: "status", id: "errors-status" }, "Loading…");
  const content = h("div", { id: "errors-content" });
  replace(ctx.view,
    h("div", { class: "page-head" }, h("h1", null, "Errors"),
      h("div", { class: "field a-inline" }, h("label", { for: "err-status" }, "Status"), statusSel)),
    status, content);

  async function load() {
    const signal = loads.next();
    statusSel.value = STATUSES.includes(params.get("status")) ? params.get("status") : "";
    try {
      const [m, t] = await Promise.all([
        getJson("/api/metrics/errors", { range, limit: 100 }, signal),
        getJson("/api/metrics/errors/trends", { range, limit: 50 }, signal),
      ]);
      if (signal.aborted) return;
      status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
      render(m, t);
    } catch (err) {
      if (isAbort(err)) return;
      status.textContent = "";
      replace(content, errorBox("Could not load the errors", err));
    }
  }

  function render(m, t) {
    if (chart) chart.destroy();
    chart = null;
    const trends = new Map(t.issues.map((i) => [i.fingerprint, i]));
    const want = statusSel.value;
    const issues = m.top_issues.filter((i) => !want || i.status === want);
    const keep = params.get("range") ? { range: params.get("range") } : null;
    if (m.occurrences === 0 && !m.top_issues.length) {
      replace(content, empty("No errors in this time range."));
      return;
    }
    chart = lineChart({ title: "Error occurrences", format: (v) => f.int(v),
      series: [{ label: "occurrences", color: "#e15759", fill: true }, { label: "failed requests", color: "#f28e2b" }],
      data: [m.series.map((b) => b.start), m.series.map((b) => b.occurrences), m.series.map((b) => b.failed_requests)] });
    replace(content,
      h("section", { class: "kpis", "aria-label": "Error figures" },
        kpi("Occurrences", f.int(m.occurrences), "err-occurrences"),
        kpi("Failed requests", f.int(m.failed_requests), "err-failed"),
        kpi("Error rate", f.percent(m.error_rate), "err-rate", m.error_rate > 0.05 ? "bad" : null),
        kpi("Issues", f.int(m.top_issues.length), "err-issues")),
      h("div", { class: "a-chart-one" }, chart.el),
      issues.length
        ? table([{ label: "Issue" }, { label: "Trend" }, { label: "Count", cls: "num" }, { label: "First seen" },
          { label: "Last seen" }, { label: "Status" }, { label: "Services" }],
        issues.map((i) => {
          const tr = trends.get(i.fingerprint);
          return [
            h("a", { href: routeHref(["errors", i.fingerprint], keep), class: "a-issue-link", dataset: { fingerprint: i.fingerprint } },
              h("strong", null, f.clip(shortType(i.type), 60)), h("span", { class: "muted a-issue-msg" }, f.clip(i.message, 120))),
            tr ? sparkline(tr.counts, `Trend of ${shortType(i.type)}: ${tr.total} in this range`) : h("span", { class: "muted" }, "–"),
            h("span", { class: "a-count" }, f.int(i.count)),
            h("span", { class: "a-first" }, i.first_seen_ns
              ? h("time", { datetime: new Date(i.first_seen_ns / 1e6).toISOString(), title: f.timeNs(i.first_seen_ns) },
                f.ago(i.first_seen_ns))
              : h("span", { class: "muted" }, "–")),
            h("time", { datetime: new Date(i.last_seen_ns / 1e6).toISOString(), title: f.timeNs(i.last_seen_ns) }, f.ago(i.last_seen_ns)),
            h("span", { class: "badge a-status a-status-" + i.status }, i.status),
            i.services.join(", ")];
        }), "Error issues")
        : empty(`No ${want || ""} issues in this time range.`.replace("  ", " ")));
    const tableEl = content.querySelector("table");
    if (tableEl) tableEl.classList.add("a-issues");
  }

  load();
  return {
    update(next) {
      params = next.params;
      range = next.range;
      load();
    },
    refresh: load,
    destroy() {
      loads.abort();
      if (chart) chart.destroy();
    },
  };
}

export function shortType(type) {
  const parts = String(type).split(".");
  return parts[parts.length - 1] || String(type);
}
