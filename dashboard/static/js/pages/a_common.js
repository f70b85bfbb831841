// Shared helpers of the group A pages (logs, errors, database, system).

import { loader as baseLoader } from "../api.js";
import { h } from "../dom.js";

export { sendJson } from "../api.js";

/** A run of loads where a newer one aborts the older; returns a signal per call (aborted with the page). */
export function loader(ctx) {
  return baseLoader(ctx.signal);
}

export function empty(text) {
  return h("div", { class: "a-empty", role: "status" }, h("p", null, text));
}

export function errorBox(prefix, err) {
  return h("p", { class: "error-box", role: "alert" }, prefix + ": " + (err && err.message ? err.message : String(err)));
}

export function kpi(label, value, id, tone) {
  return h("div", { class: "kpi" + (tone ? " kpi-" + tone : "") },
    h("span", { class: "kpi-label" }, label), h("span", { class: "kpi-value", id }, value));
}

const SVG = "http://www.w3.org/2000/svg";

/** A small inline SVG sparkline of counts (aria-hidden; the numbers are elsewhere). */
export function sparkline(values, label) {
  const w = 120;
  const ht = 28;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${ht}`);
  svg.setAttribute("class", "a-spark");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  const vals = (values || []).map((v) => Number(v) || 0);
  const max = Math.max(1, ...vals);
  const n = Math.max(1, vals.length - 1);
  const pts = vals.map((v, i) => `${((i / n) * w).toFixed(1)},${(ht - 2 - (v / max) * (ht - 4)).toFixed(1)}`);
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", pts.join(" ") || `0,${ht - 2} ${w},${ht - 2}`);
  line.setAttribute("fill", "none");
  line.setAttribute("class", "a-spark-line");
  svg.append(line);
  return svg;
}

/** State → badge class. */
export function stateClass(state) {
  return state === "critical" ? "badge-bad" : state === "warning" ? "badge-warn" : state === "ok" ? "badge-ok" : "badge-muted";
}
