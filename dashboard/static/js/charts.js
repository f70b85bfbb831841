// Time-series charts on the vendored uPlot (global `uPlot`, loaded by index.html).
// A chart follows its container's width and rebuilds itself when the theme changes.

import { h } from "./dom.js";
import { themeVar } from "./colors.js";

const HEIGHT = 180;

// points only where lines cannot show the data: a series with few values (isolated buckets)
function sparse(u, seriesIdx) {
  const ys = u.data[seriesIdx] || [];
  let n = 0;
  for (const y of ys) if (y !== null && y !== undefined) n++;
  return n > 0 && n <= 12;
}

/**
 * A line chart. spec: {title, series: [{label, color, fill?}], data: [xs (unix s), ...ys], format(v)}.
 * Returns {el, setData(data), destroy()}.
 */
export function lineChart(spec) {
  const plotEl = h("div", { class: "chart-plot" });
  const el = h("figure", { class: "chart" }, h("figcaption", null, spec.title), plotEl);
  let plot = null;
  let data = spec.data;
  const format = spec.format || ((v) => String(v));

  function options(width) {
    const axis = { stroke: themeVar("--muted", "#666"), grid: { stroke: themeVar("--grid", "#eee"), width: 1 },
      ticks: { stroke: themeVar("--grid", "#eee"), width: 1 } };
    return {
      width, height: HEIGHT,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [{ ...axis }, { ...axis, size: 60, values: (u, vals) => vals.map((v) => format(v)) }],
      series: [{}, ...spec.series.map((s) => ({
        label: s.label, stroke: s.color, width: 1.5, fill: s.fill ? s.color + "22" : undefined,
        spanGaps: false, points: { show: sparse, size: 5 }, value: (u, v) => (v === null || v === undefined ? "–" : format(v)),
      }))],
    };
  }

  function build() {
    if (plot) plot.destroy();
    plot = null;
    if (typeof globalThis.uPlot !== "function") {
      plotEl.textContent = "Charts are unavailable (uPlot did not load).";
      return;
    }
    plotEl.replaceChildren();
    plot = new globalThis.uPlot(options(Math.max(200, plotEl.clientWidth || 400)), data, plotEl);
  }

  const resize = new ResizeObserver(() => {
    const width = Math.max(200, plotEl.clientWidth);
    if (plot && Math.abs(plot.width - width) > 2) plot.setSize({ width, height: HEIGHT });
  });
  const onTheme = () => build();

  // built once attached (its width is known then)
  requestAnimationFrame(() => {
    if (!el.isConnected) return;
    build();
    resize.observe(plotEl);
    window.addEventListener("vigil:theme", onTheme);
  });

  return {
    el,
    setData(next) {
      data = next;
      if (plot) plot.setData(next);
    },
    destroy() {
      resize.disconnect();
      window.removeEventListener("vigil:theme", onTheme);
      if (plot) plot.destroy();
      plot = null;
    },
  };
}
