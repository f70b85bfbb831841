// Services (#/services): GET /api/services (RED per service) and GET /api/service-map drawn as SVG
// (layers by call direction). Detail (#/services/<name>): GET /api/services/{name}.

import { getJson, isAbort } from "../api.js";
import { lineChart } from "../charts.js";
import { serviceColor } from "../colors.js";
import { card, h, note, pairs, replace, routeHref, table } from "../dom.js";
import * as f from "../format.js";
import { loader } from "./b_common.js";

const SVG = "http://www.w3.org/2000/svg";

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function swatch(name) {
  return h("span", { class: "swatch", "aria-hidden": "true", style: { backgroundColor: serviceColor(name) } });
}

function keepRange(ctx) {
  return ctx.params && ctx.params.get("range") ? { range: ctx.params.get("range") } : null;
}

export function mount(ctx) {
  let range = ctx.range;
  let params = ctx.params;
  const load = loader(ctx.signal);
  const status = h("p", { class: "muted", role: "status", id: "services-status" }, "Loading…");
  const list = h("div", { id: "services-list" });
  const map = h("div", { id: "service-map", class: "b-map" });
  replace(ctx.view, h("h1", null, "Services"), status,
    card("Service list", list), card("Service map", map));

  async function refresh() {
    const signal = load.next();
    try {
      const [svc, graph] = await Promise.all([
        getJson("/api/services", { range }, signal),
        getJson("/api/service-map", { range }, signal)]);
      if (signal.aborted) return;
      renderList(svc.services);
      renderMap(map, graph, params);
      status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
      status.className = "muted";
    } catch (err) {
      if (isAbort(err)) return;
      status.textContent = "Could not load the services: " + err.message;
      status.className = "error-box";
    }
  }

  function renderList(services) {
    if (!services.length) return replace(list, note("No services sent spans in this time range."));
    const keep = params.get("range") ? { range: params.get("range") } : null;
    replace(list, table(
      [{ label: "Service" }, { label: "Requests", cls: "num" }, { label: "Failed", cls: "num" },
        { label: "Error rate", cls: "num" }, { label: "p95 (requests)", cls: "num" }, { label: "Spans", cls: "num" },
        { label: "Traces" }],
      services.map((x) => {
        const er = x.request_count ? x.failed_request_count / x.request_count : 0;
        return [
          h("a", { href: routeHref(["services", x.name], keep), class: "b-svc-link", dataset: { service: x.name } },
            swatch(x.name), x.name),
          h("span", { class: "b-requests" }, f.int(x.request_count)),
          f.int(x.failed_request_count),
          h("span", { class: er > 0.05 ? "bad" : null }, f.percent(er)),
          f.ns(x.p95_request_ns), f.int(x.span_count),
          h("a", { href: routeHref(["traces"], { service: x.name, ...(keep || {}) }) }, "Traces")];
      }), "Request figures per service"));
    list.querySelector("table").id = "services-table";
  }

  refresh();
  return {
    update(next) {
      params = next.params;
      if (next.range !== range) {
        range = next.range;
        refresh();
      }
    },
    refresh,
    destroy() {
      load.abort();
    },
  };
}

/** Layers: a node's layer is 1 + the deepest caller's (cycles broken by visit order). */
function layers(nodes, edges) {
  const incoming = new Map(nodes.map((n) => [n.id, []]));
  for (const e of edges) if (incoming.has(e.target) && incoming.has(e.source) && e.source !== e.target) incoming.get(e.target).push(e.source);
  const depth = new Map();
  const visiting = new Set();
  function d(id) {
    if (depth.has(id)) return depth.get(id);
    if (visiting.has(id)) return 0;
    visiting.add(id);
    let best = 0;
    for (const src of incoming.get(id) || []) best = Math.max(best, d(src) + 1);
    visiting.delete(id);
    depth.set(id, best);
    return best;
  }
  for (const n of nodes) d(n.id);
  return depth;
}

export function renderMap(container, graph, params) {
  const nodes = graph.nodes || [];
  const edges = graph.edges || [];
  if (!nodes.length) return replace(container, note("No calls between services in this time range."));
  const depth = layers(nodes, edges);
  const cols = [];
  for (const n of nodes) {
    const l = depth.get(n.id) || 0;
    (cols[l] = cols[l] || []).push(n);
  }
  const W = 330, NW = 150, NH = 46, GAP = 110;
  const rows = Math.max(...cols.map((c) => (c ? c.length : 0)));
  const width = cols.length * W + 40;
  const height = rows * GAP + 40;
  const pos = new Map();
  cols.forEach((col, ci) => (col || []).forEach((n, ri) => {
    const offset = ((rows - col.length) * GAP) / 2;
    pos.set(n.id, { x: 20 + ci * W, y: 20 + offset + ri * GAP });
  }));
  const keep = params && params.get("range") ? { range: params.get("range") } : null;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "b-map-svg",
    "aria-labelledby": "b-map-title", width, height: height });
  svg.append(s("title", { id: "b-map-title" }, `Service map: ${nodes.length} nodes, ${edges.length} edges`));
  svg.append(s("defs", null, s("marker", { id: "b-arrow", viewBox: "0 0 10 10", refX: "10", refY: "5",
    markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" }, s("path", { d: "M0,0 L10,5 L0,10 z", class: "b-arrow" }))));
  for (const e of edges) {
    const a = pos.get(e.source), b = pos.get(e.target);
    if (!a || !b) continue;
    const x1 = a.x + NW, y1 = a.y + NH / 2, x2 = b.x, y2 = b.y + NH / 2;
    const back = x2 <= x1;
    const path = back
      ? `M${a.x + NW / 2},${a.y + NH} C${a.x + NW / 2},${a.y + NH + 40} ${b.x + NW / 2},${b.y + NH + 40} ${b.x + NW / 2},${b.y + NH}`
      : `M${x1},${y1} C${x1 + 40},${y1} ${x2 - 40},${y2} ${x2},${y2}`;
    const line1 = `${f.int(e.calls)} calls · ${f.percent(e.error_rate, 1)} err`;
    const line2 = `p95 ${f.ms(e.p95_ms)}`;
    const label = line1 + " · " + line2;
    const mx = back ? (a.x + b.x + NW) / 2 : (x1 + x2) / 2;
    const my = back ? Math.max(a.y, b.y) + NH + 34 : (y1 + y2) / 2 - 6;
    svg.append(s("g", { class: "b-edge" + (e.error_rate > 0.05 ? " b-edge-bad" : ""), "data-source": e.source, "data-target": e.target },
      s("title", null, `${e.source} → ${e.target}: ${label}`),
      s("path", { d: path, "marker-end": "url(#b-arrow)" }),
      s("text", { x: mx, y: my - 6, "text-anchor": "middle", class: "b-edge-label" },
        s("tspan", { x: mx }, line1), s("tspan", { x: mx, dy: "1.2em" }, line2))));
  }
  for (const n of nodes) {
    const p = pos.get(n.id);
    const kindLabel = n.kind === "service" ? "" : n.kind + " · ";
    const body = [
      s("title", null, `${n.kind} ${n.name}: ${n.requests} requests, ${n.errors} errors, p95 ${f.ms(n.p95_ms)}`),
      n.kind === "database"
        ? s("path", { class: "b-node-shape", d: `M${p.x},${p.y + 6} a${NW / 2},6 0 0 1 ${NW},0 v${NH - 12} a${NW / 2},6 0 0 1 -${NW},0 z` })
        : s("rect", { class: "b-node-shape", x: p.x, y: p.y, width: NW, height: NH, rx: n.kind === "external" ? 2 : 8 }),
      n.kind === "service" ? s("rect", { x: p.x, y: p.y, width: 6, height: NH, fill: serviceColor(n.name), rx: 2 }) : null,
      s("text", { x: p.x + NW / 2, y: p.y + 19, "text-anchor": "middle", class: "b-node-name" }, f.clip(n.name, 20)),
      s("text", { x: p.x + NW / 2, y: p.y + 36, "text-anchor": "middle", class: "b-node-figs" },
        `${kindLabel}${f.int(n.requests)} req · ${f.int(n.errors)} err`)];
    const g = s("g", { class: `b-node b-node-${n.kind}`, "data-node-id": n.id, "data-kind": n.kind });
    g.append(...body.filter(Boolean));
    if (n.kind === "service") {
      const link = s("a", { href: routeHref(["services", n.name], keep), "aria-label": `Service ${n.name}` });
      link.append(g);
      svg.append(link);
    } else {
      svg.append(g);
    }
  }
  replace(container,
    h("div", { class: "b-map-scroll" }, svg),
    h("p", { class: "muted b-legend" },
      h("span", { class: "b-key b-key-service" }), "service ",
      h("span", { class: "b-key b-key-database" }), "database ",
      h("span", { class: "b-key b-key-external" }), "external host · edges: calls · error rate · p95"));
}

export const detail = {
  mount(ctx) {
    const name = ctx.path[1];
    let range = ctx.range;
    const load = loader(ctx.signal);
    let charts = [];
    const keep = keepRange(ctx);
    const status = h("p", { class: "muted", role: "status", id: "service-status" }, "Loading…");
    const content = h("div", { id: "service-detail" });
    replace(ctx.view,
      h("p", null, h("a", { href: routeHref(["services"], keep) }, "← All services")),
      h("div", { class: "page-head" }, h("h1", null, swatch(name), name),
        h("a", { href: routeHref(["traces"], { service: name, ...(keep || {}) }), id: "service-traces" }, "Traces of this service")),
      status, content);

    async function refresh() {
      const signal = load.next();
      try {
        const d = await getJson("/api/services/" + encodeURIComponent(name), { range }, signal);
        if (signal.aborted) return;
        render(d);
        status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
        status.className = "muted";
      } catch (err) {
        if (isAbort(err)) return;
        status.textContent = (err.status === 404 ? "No such service: " : "Could not load the service: ") + err.message;
        status.className = "error-box";
      }
    }

    function render(d) {
      for (const c of charts) c.destroy();
      const t = d.red.totals;
      const xs = d.red.series.map((b) => b.t);
      const nz = (v, b) => (b.requests ? v : null);
      charts = [
        lineChart({ title: "Throughput", format: (v) => f.rate(v), series: [{ label: "req/s", color: "#4e79a7", fill: true }],
          data: [xs, d.red.series.map((b) => b.req_per_s)] }),
        lineChart({ title: "Error rate", format: (v) => f.percent(v, 1), series: [{ label: "failed", color: "#e15759", fill: true }],
          data: [xs, d.red.series.map((b) => nz(b.error_rate, b))] }),
        lineChart({ title: "Latency", format: (v) => f.ms(v),
          series: [{ label: "p50", color: "#59a14f" }, { label: "p95", color: "#f28e2b" }, { label: "p99", color: "#b07aa1" }],
          data: [xs, d.red.series.map((b) => nz(b.p50_ms, b)), d.red.series.map((b) => nz(b.p95_ms, b)),
            d.red.series.map((b) => nz(b.p99_ms, b))] })];
      const names = new Map(d.nodes.map((n) => [n.id, n]));
      const dep = (id) => {
        const n = names.get(id);
        if (!n) return id;
        return n.kind === "service"
          ? h("a", { href: routeHref(["services", n.name], keep) }, swatch(n.name), n.name)
          : h("span", null, h("span", { class: "badge badge-muted" }, n.kind), " ", n.name);
      };
      const edgeTable = (edges, side, caption) => edges.length
        ? table([{ label: side === "source" ? "Caller" : "Dependency" }, { label: "Calls", cls: "num" },
          { label: "Error rate", cls: "num" }, { label: "p95", cls: "num" }],
        edges.map((e) => [dep(e[side]), f.int(e.calls), f.percent(e.error_rate), f.ms(e.p95_ms)]), caption)
        : note("None in this time range.");
      replace(content,
        h("section", { class: "kpis", "aria-label": "Request figures" },
          kpi("Requests", f.int(t.requests), "svc-requests"), kpi("Throughput", f.rate(t.req_per_s), "svc-rate"),
          kpi("Error rate", f.percent(t.error_rate), "svc-error-rate"), kpi("p95 latency", f.ms(t.p95_ms), "svc-p95"),
          kpi("Apdex", f.fixed(t.apdex, 2), "svc-apdex"), kpi("Availability", f.fixed(d.red.availability_percent, 2) + "%", "svc-avail")),
        h("section", { class: "charts", "aria-label": "Request charts" }, charts.map((c) => c.el)),
        card("Top endpoints", d.endpoints.length
          ? table([{ label: "Endpoint" }, { label: "Requests", cls: "num" }, { label: "Error rate", cls: "num" },
            { label: "p95", cls: "num" }, { label: "Traces" }],
          d.endpoints.map((e) => [h("code", null, f.clip(`${e.method} ${e.route}`.trim(), 100)), f.int(e.requests),
            f.percent(e.error_rate), f.ms(e.p95_ms),
            h("a", { href: routeHref(["traces"], { service: name, name: `${e.method} ${e.route}`.trim(), ...(keep || {}) }) }, "Traces")]),
          "Top endpoints of the service")
          : note("No requests in this time range.")),
        h("div", { class: "grid-2" },
          card("Callers", edgeTable(d.upstream, "source", "Callers")),
          card("Dependencies", edgeTable(d.downstream, "target", "Dependencies"))));
    }

    refresh();
    return {
      update(next) {
        if (next.range !== range) {
          range = next.range;
          refresh();
        }
      },
      refresh,
      destroy() {
        load.abort();
        for (const c of charts) c.destroy();
      },
    };
  },
};

function kpi(label, value, id) {
  return h("div", { class: "kpi" }, h("span", { class: "kpi-label" }, label), h("span", { class: "kpi-value", id }, value));
}
