// Frontend (#/frontend): browser Web Vitals from RUM beacons.
// GET /api/metrics/frontend (p75 per vital with its good / needs-improvement / poor split, series, by device
// class and by connection type) and GET /api/metrics/frontend/pages (per route, worst first, with the
// slowest page load and its backend trace). Params: range (global), sort, service, environment.
// Every text comes from telemetry, so it only ever reaches the DOM through h() / textContent.

import { getJson, isAbort } from "../api.js";
import { lineChart } from "../charts.js";
import { card, h, note, replace, routeHref, table } from "../dom.js";
import * as f from "../format.js";

export const VITALS = ["LCP", "INP", "CLS", "FCP", "TTFB"];
const SORTS = [["lcp", "LCP"], ["inp", "INP"], ["cls", "CLS"], ["fcp", "FCP"], ["ttfb", "TTFB"],
  ["loads", "Page loads"], ["errors", "JS errors"]];
const NAMES = {
  LCP: "Largest Contentful Paint", INP: "Interaction to Next Paint", CLS: "Cumulative Layout Shift",
  FCP: "First Contentful Paint", TTFB: "Time to First Byte",
};
const RATING_LABEL = { good: "good", "needs-improvement": "needs improvement", poor: "poor" };
const RATING_CLASS = { good: "c-good", "needs-improvement": "c-ni", poor: "c-poor" };
const BADGE_CLASS = { good: "badge-ok", "needs-improvement": "badge-warn", poor: "badge-bad" };
const COLORS = { LCP: "#4e79a7", INP: "#f28e2b", FCP: "#59a14f", TTFB: "#b07aa1", CLS: "#e15759" };
const SNIPPET = '<script src="http://<vigil>:4318/rum.js" data-service="shop-web" data-env="prod" async></script>';

/** A vital's value as shown: CLS unitless (3 decimals), the others as durations. */
export function vitalText(name, value) {
  if (value === null || value === undefined || !Number.isFinite(Number(value))) return "–";
  return name === "CLS" ? f.fixed(value, 3) : f.ms(value);
}

function ratingOf(v) {
  if (!Number.isFinite(Number(v.p75))) return null;
  return v.p75 <= v.good_max ? "good" : v.p75 > v.poor_above ? "poor" : "needs-improvement";
}

function pct(part, whole) {
  return whole > 0 ? (100 * part) / whole : 0;
}

function segmentLabel(key, kind) {
  if (key) return key;
  return kind === "device" ? "unknown device" : "unknown connection";
}

/** The good / needs-improvement / poor split of a vital's page loads, as a bar with a text equivalent. */
function splitBar(v) {
  const n = v.samples || 0;
  const parts = [["good", v.good], ["needs-improvement", v.needs_improvement], ["poor", v.poor]];
  const label = n
    ? parts.map(([r, c]) => `${RATING_LABEL[r]} ${f.fixed(pct(c, n), 0)}% (${f.int(c)})`).join(", ")
    : "no samples";
  return h("div", { class: "c-split" },
    h("div", { class: "c-bar", role: "img", "aria-label": `${v.name} page loads: ${label}` },
      n ? parts.filter(([, c]) => c > 0).map(([r, c]) =>
        h("span", { class: "c-seg " + RATING_CLASS[r], style: { width: pct(c, n) + "%" }, dataset: { rating: r } }))
        : h("span", { class: "c-seg c-none", style: { width: "100%" } })),
    h("ul", { class: "c-split-legend", "aria-hidden": "true" },
      parts.map(([r, c]) => h("li", null, h("span", { class: "c-key " + RATING_CLASS[r] }),
        `${f.fixed(pct(c, n), 0)}% ${RATING_LABEL[r]}`))));
}

function ratingBadge(rating) {
  if (!rating) return h("span", { class: "badge badge-muted" }, "no data");
  return h("span", { class: "badge " + BADGE_CLASS[rating] }, RATING_LABEL[rating]);
}

function thresholdsText(v) {
  return `good ≤ ${vitalText(v.name, v.good_max)}, poor > ${vitalText(v.name, v.poor_above)}`;
}

function vitalCard(v) {
  const rating = v.rating || ratingOf(v);
  const id = "c-vital-" + v.name.toLowerCase();
  return h("section", { class: "card c-vital" + (rating ? " c-vital-" + RATING_CLASS[rating] : ""),
    "aria-labelledby": id, dataset: { vital: v.name } },
  h("h2", { id }, h("abbr", { title: NAMES[v.name] || v.name }, v.name), " ", h("span", { class: "muted c-p75-label" }, "p75")),
  h("p", { class: "c-p75" + (rating ? " " + RATING_CLASS[rating] : ""),
    dataset: { value: v.p75 === null || v.p75 === undefined ? "" : String(v.p75) } }, vitalText(v.name, v.p75)),
  h("p", { class: "c-vital-meta" }, ratingBadge(rating), " ", h("span", { class: "muted" }, `${f.int(v.samples)} page loads`)),
  splitBar(v),
  h("p", { class: "muted c-thresholds" }, thresholdsText(v)));
}

/** A p75 cell: the value, coloured and named by its rating. */
function p75Cell(v) {
  if (!v || v.p75 === null || v.p75 === undefined) return h("span", { class: "muted" }, "–");
  const rating = v.rating || ratingOf(v);
  return h("span", { class: "c-cell " + (RATING_CLASS[rating] || ""), title: `${RATING_LABEL[rating] || ""} · ${f.int(v.samples)} samples`,
    dataset: { vital: v.name, value: String(v.p75) } },
  vitalText(v.name, v.p75), h("span", { class: "visually-hidden" }, ` (${RATING_LABEL[rating] || "unrated"})`));
}

function byName(vitals) {
  const out = {};
  for (const v of vitals || []) out[v.name] = v;
  return out;
}

function vitalColumns() {
  return VITALS.map((n) => ({ label: n, cls: "num" }));
}

function slowLink(view) {
  if (!view) return "–";
  const text = `${view.vital} ${vitalText(view.vital, view.value)}`;
  return h("span", { class: "c-slow" },
    view.trace_id
      ? h("a", { href: routeHref(["traces", view.trace_id]), class: "c-trace-link", title: view.url,
        "aria-label": `Backend trace of the slowest load (${text})` }, text, " → trace")
      : h("span", { title: view.url }, text, h("span", { class: "muted" }, " (no trace)")));
}

function pagesTable(pages, caption) {
  return table(
    [{ label: "Page" }, { label: "Loads", cls: "num" }, { label: "JS errors", cls: "num" }, ...vitalColumns(),
      { label: "Rating" }, { label: "Slowest load" }],
    pages.map((p) => {
      const v = byName(p.vitals);
      return [
        h("code", { class: "c-route", title: p.route, dataset: { route: p.route } }, f.clip(p.route || "(none)", 80)),
        f.int(p.page_loads),
        h("span", { class: p.js_errors > 0 ? "bad" : null }, f.int(p.js_errors)),
        ...VITALS.map((n) => p75Cell(v[n])),
        ratingBadge(p.worst_rating),
        slowLink(p.slowest)];
    }), caption);
}

const SEVERITY = { poor: 2, "needs-improvement": 1, good: 0 };

function worstPages(pages) {
  const bad = pages.filter((p) => p.worst_rating === "poor" || p.worst_rating === "needs-improvement");
  bad.sort((a, b) => (SEVERITY[b.worst_rating] - SEVERITY[a.worst_rating]) || (b.page_loads - a.page_loads)
    || String(a.route).localeCompare(String(b.route)));
  return bad.slice(0, 5);
}

function worstCard(pages) {
  const worst = worstPages(pages);
  if (!worst.length) return card("Worst pages", note("Every page's p75 vitals are good."));
  return card("Worst pages", h("ol", { class: "list c-worst", id: "c-worst" }, worst.map((p) => {
    const failing = (p.vitals || []).filter((v) => (v.rating || ratingOf(v)) && (v.rating || ratingOf(v)) !== "good");
    return h("li", { dataset: { route: p.route } },
      ratingBadge(p.worst_rating), " ", h("code", { class: "c-route", title: p.route }, f.clip(p.route, 80)),
      h("p", { class: "muted" }, failing.map((v) => `${v.name} p75 ${vitalText(v.name, v.p75)} (${RATING_LABEL[v.rating || ratingOf(v)]})`).join(" · ")),
      p.slowest ? h("p", null, "Slowest load: ", slowLink(p.slowest)) : null);
  })));
}

function segmentsCard(title, segments, kind) {
  if (!segments.length) return card(title, note("No page loads in this time range."));
  return card(title, table(
    [{ label: kind === "device" ? "Device" : "Connection" }, { label: "Loads", cls: "num" }, ...vitalColumns()],
    segments.map((s) => {
      const v = byName(s.vitals);
      return [h("span", { class: s.key ? null : "muted", dataset: { segment: s.key } }, segmentLabel(s.key, kind)),
        f.int(s.page_loads), ...VITALS.map((n) => p75Cell(v[n]))];
    }), `p75 Web Vitals by ${kind === "device" ? "device class" : "connection type"}`));
}

function emptyCard() {
  return card("No browser data yet",
    h("p", null, "No RUM beacons arrived in this time range. Add this line to your pages:"),
    h("pre", { class: "c-snippet" }, h("code", null, SNIPPET)),
    note("Vigil collects LCP, INP, CLS, FCP and TTFB and JavaScript errors, and sends them when the page is hidden. " +
      "Answer the HTML with a Server-Timing: traceparent header to link page loads to their backend traces."));
}

export function mount(ctx) {
  let params = ctx.params;
  let range = ctx.range;
  let controller = null;
  let charts = [];
  let doc = null;

  const status = h("p", { class: "muted", id: "frontend-status", role: "status", "aria-live": "polite" }, "Loading…");
  const sortSelect = h("select", { id: "c-sort", name: "sort" },
    SORTS.map(([value, label]) => h("option", { value }, label)));
  const content = h("div", { class: "c-frontend", id: "frontend" });
  replace(ctx.view,
    h("div", { class: "page-head" }, h("h1", null, "Frontend"),
      h("span", { class: "muted" }, "Core Web Vitals from real browsers (p75 of page loads)")),
    status, content);
  sortSelect.addEventListener("change", () => ctx.setParams({ sort: sortSelect.value === "lcp" ? null : sortSelect.value }));

  function sortParam() {
    const s = params.get("sort");
    return SORTS.some(([v]) => v === s) ? s : "lcp";
  }

  function query() {
    return { range, service: params.get("service") || "", environment: params.get("environment") || "" };
  }

  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    const signal = controller.signal;
    ctx.signal.addEventListener("abort", () => controller.abort(), { once: true });
    const sort = sortParam();
    sortSelect.value = sort;
    try {
      const [metrics, pages] = await Promise.all([
        getJson("/api/metrics/frontend", query(), signal),
        getJson("/api/metrics/frontend/pages", { ...query(), sort, limit: 50 }, signal),
      ]);
      if (signal.aborted) return;
      doc = { metrics, pages };
      render(metrics, pages);
      status.className = "muted";
      status.textContent = `Updated ${new Date().toLocaleTimeString()} · ` +
        (metrics.meta && metrics.meta.data_complete ? "all acknowledged data included" : "recent data may still be arriving");
    } catch (err) {
      if (isAbort(err)) return;
      status.textContent = "Could not load the frontend vitals: " + err.message;
      status.className = "error-box";
    }
  }

  function destroyCharts() {
    for (const c of charts) c.destroy();
    charts = [];
  }

  function render(m, p) {
    destroyCharts();
    const pages = p.pages || [];
    if (!m.page_loads && !m.js_errors && !pages.length && !(m.vitals || []).some((v) => v.samples)) {
      replace(content, emptyCard());
      return;
    }
    const vitals = byName(m.vitals);
    const ordered = VITALS.map((n) => vitals[n]).filter(Boolean);
    const timed = ordered.filter((v) => v.name !== "CLS");
    const first = ordered.find((v) => v.series && v.series.length);
    const xs = first ? first.series.map((b) => b.t) : [];
    if (xs.length) {
      charts.push(lineChart({
        title: "p75 over time", format: (v) => f.ms(v),
        series: timed.map((v) => ({ label: v.name, color: COLORS[v.name] })),
        data: [xs, ...timed.map((v) => (v.series || []).map((b) => b.p75))],
      }));
      if (vitals.CLS) {
        charts.push(lineChart({
          title: "CLS p75 over time", format: (v) => f.fixed(v, 3),
          series: [{ label: "CLS", color: COLORS.CLS, fill: true }],
          data: [xs, (vitals.CLS.series || []).map((b) => b.p75)],
        }));
      }
    }
    replace(content,
      h("section", { class: "kpis", "aria-label": "Frontend figures" },
        kpi("Page loads", f.int(m.page_loads), "c-kpi-loads"),
        kpi("JS errors", f.int(m.js_errors), "c-kpi-errors", m.js_errors > 0 ? "bad" : null),
        kpi("Pages", f.int(pages.length), "c-kpi-pages")),
      h("section", { class: "c-vitals", "aria-label": "Web Vitals p75" }, ordered.map(vitalCard)),
      charts.length ? h("section", { class: "c-charts", "aria-label": "Web Vitals charts" }, charts.map((c) => c.el)) : null,
      worstCard(pages),
      card("Pages",
        h("div", { class: "c-card-head" },
          h("label", { class: "field c-inline", for: "c-sort" }, "Worst first by", sortSelect)),
        pages.length ? pagesTable(pages, "p75 Web Vitals per page") : note("No pages in this time range.")),
      h("div", { class: "grid-2" },
        segmentsCard("By device", m.by_device || [], "device"),
        segmentsCard("By connection", m.by_connection || [], "connection")));
  }

  function kpi(label, value, id, tone) {
    return h("div", { class: "kpi" + (tone ? " kpi-" + tone : "") },
      h("span", { class: "kpi-label" }, label), h("span", { class: "kpi-value", id }, value));
  }

  load();
  return {
    update({ params: next, range: r }) {
      const before = [range, sortParam(), params.get("service") || "", params.get("environment") || ""].join("|");
      params = next;
      range = r;
      const after = [range, sortParam(), params.get("service") || "", params.get("environment") || ""].join("|");
      if (before !== after) load();
    },
    refresh: load,
    destroy() {
      if (controller) controller.abort();
      destroyCharts();
    },
    get data() {
      return doc;
    },
  };
}
