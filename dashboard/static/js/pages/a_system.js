// System (#/system?range=…): GET /api/metrics/system — per host: current CPU, memory, disk and network
// with threshold states, and their series.

import { getJson, isAbort } from "../api.js";
import { lineChart } from "../charts.js";
import { h, replace } from "../dom.js";
import * as f from "../format.js";
import { empty, errorBox, loader, stateClass } from "./a_common.js";

export function mount(ctx) {
  let range = ctx.range;
  let charts = [];
  const loads = loader(ctx);
  const status = h("p", { class: "muted", role: "status", id: "system-status" }, "Loading…");
  const content = h("div", { id: "system" });
  replace(ctx.view, h("h1", null, "System"), status, content);

  async function load() {
    const signal = loads.next();
    try {
      const data = await getJson("/api/metrics/system", { range }, signal);
      if (signal.aborted) return;
      status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
      render(data);
    } catch (err) {
      if (isAbort(err)) return;
      status.textContent = "";
      replace(content, errorBox("Could not load the system metrics", err));
    }
  }

  function render(d) {
    for (const c of charts) c.destroy();
    charts = [];
    if (!d.hosts.length) {
      replace(content, empty("No host metrics (system.*) in this time range."));
      return;
    }
    replace(content, d.hosts.map((host) => hostSection(host)));
  }

  function hostSection(x) {
    const xs = x.cpu.series.map((p) => p.t);
    const val = (s) => s.map((p) => p.value);
    const pct = (v) => f.percent(v, 0);
    const cs = [
      lineChart({ title: "CPU", format: pct, series: [{ label: "busy", color: "#4e79a7", fill: true }], data: [xs, val(x.cpu.series)] }),
      lineChart({ title: "Memory", format: pct, series: [{ label: "used", color: "#59a14f", fill: true }], data: [xs, val(x.memory.series)] }),
      lineChart({ title: "Disk (fullest filesystem)", format: pct, series: [{ label: "used", color: "#b07aa1", fill: true }], data: [xs, val(x.disk.series)] }),
      lineChart({ title: "Network", format: (v) => f.bytes(v) + "/s",
        series: [{ label: "receive", color: "#4e79a7" }, { label: "transmit", color: "#f28e2b" }],
        data: [x.network.receive.series.map((p) => p.t), val(x.network.receive.series), val(x.network.transmit.series)] }),
    ];
    if (x.disk_io) {
      cs.push(lineChart({ title: "Disk I/O", format: (v) => f.bytes(v) + "/s",
        series: [{ label: "read", color: "#76b7b2" }, { label: "write", color: "#e15759" }],
        data: [x.disk_io.read.series.map((p) => p.t), val(x.disk_io.read.series), val(x.disk_io.write.series)] }));
    }
    charts.push(...cs);
    const slug = String(x.host).replace(/[^A-Za-z0-9_-]/g, "_");
    return h("section", { class: "card a-host", "aria-labelledby": "host-" + slug, dataset: { host: x.host } },
      h("h2", { id: "host-" + slug }, x.host),
      h("p", { class: "muted" }, [x.cpu_count ? `${x.cpu_count} CPUs` : null,
        x.memory_limit_bytes ? `${f.bytes(x.memory_limit_bytes)} memory` : null].filter(Boolean).join(" · ")),
      h("div", { class: "a-gauges" },
        gauge("CPU", x.cpu, "cpu"),
        gauge("Memory", x.memory, "memory", x.memory_used_bytes ? f.bytes(x.memory_used_bytes) + " used" : null),
        gauge("Disk", x.disk, "disk", x.disk.mountpoint ? "on " + x.disk.mountpoint : null),
        rateBox("Network in", x.network.receive, "net-rx"), rateBox("Network out", x.network.transmit, "net-tx"),
        x.disk_io ? rateBox("Disk read", x.disk_io.read, "disk-read") : null,
        x.disk_io ? rateBox("Disk write", x.disk_io.write, "disk-write") : null),
      h("div", { class: "charts a-host-charts" }, cs.map((c) => c.el)));
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

function gauge(label, u, key, hint) {
  const state = u.state || "none";
  const cur = u.current === null || u.current === undefined ? null : u.current;
  const bar = h("span", { class: "a-bar-fill", style: { width: Math.min(100, (cur || 0) * 100).toFixed(1) + "%" } });
  return h("div", { class: "a-gauge a-state-" + state, dataset: { metric: key, state } },
    h("span", { class: "kpi-label" }, label, " ", h("span", { class: "badge " + stateClass(u.state) }, u.state || "no data")),
    h("span", { class: "kpi-value a-gauge-value" }, cur === null ? "–" : f.percent(cur, 1)),
    h("span", { class: "a-bar", role: "meter", "aria-label": label + " utilisation", "aria-valuemin": "0", "aria-valuemax": "100",
      "aria-valuenow": cur === null ? "0" : (cur * 100).toFixed(1) }, bar),
    h("span", { class: "kpi-hint" }, `warning ${u.warning_percent}% · critical ${u.critical_percent}%`, hint ? " · " + hint : ""));
}

function rateBox(label, r, key) {
  return h("div", { class: "a-gauge", dataset: { metric: key } },
    h("span", { class: "kpi-label" }, label),
    h("span", { class: "kpi-value a-gauge-value" }, r.current === null || r.current === undefined ? "–" : f.bytes(r.current) + "/s"));
}
