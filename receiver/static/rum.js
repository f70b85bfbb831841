/* Vigil browser RUM (served as /rum.js after the vendored web-vitals 6.2.3 IIFE, Apache-2.0).
 * Load with: <script src="https://<vigil>:4318/rum.js" data-service="shop-web" data-env="prod" async></script>
 * Options (data-*): service, env, sample-rate (0..1, per page load), route (the page's route template).
 * Sends batched beacons to /v1/rum on the script's own origin with navigator.sendBeacon (text/plain),
 * falling back to fetch keepalive. Links the page to its backend trace when the document response has
 * `Server-Timing: traceparent;desc="00-<trace>-<span>-01"` (or a <meta name="traceparent">). */
(function () {
  "use strict";
  var script = document.currentScript;
  var wv = window.webVitals;
  if (!script || !wv) { return; }
  var ds = script.dataset;
  var sample = parseFloat(ds.sampleRate || "1");
  if (!(Math.random() < (isNaN(sample) ? 1 : sample))) { return; }
  var endpoint = new URL("/v1/rum", script.src).href;

  function meta(name) {
    var el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute("content") || "" : "";
  }
  function traceparent() {
    try {
      var nav = performance.getEntriesByType("navigation")[0];
      var timings = (nav && nav.serverTiming) || [];
      for (var i = 0; i < timings.length; i++) {
        if (timings[i].name === "traceparent") { return timings[i].description; }
      }
    } catch (e) { /* no navigation timing */ }
    return meta("traceparent");
  }
  function device() {
    var ua = navigator.userAgentData;
    if (ua && ua.mobile) { return "mobile"; }
    var w = Math.min(screen.width || 0, window.innerWidth || 0) || window.innerWidth || 0;
    return w < 768 ? "mobile" : (w < 1100 ? "tablet" : "desktop");
  }
  function sessionId() {
    var a = new Uint8Array(8);
    crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  var conn = navigator.connection || {};
  var common = {
    service: ds.service || location.hostname,
    env: ds.env || "",
    session: sessionId(),
    page: { url: location.href.slice(0, 2048), route: (ds.route || meta("vigil-route") || location.pathname).slice(0, 256) },
    device: device(),
    connection: ["slow-2g", "2g", "3g", "4g"].indexOf(conn.effectiveType) >= 0 ? conn.effectiveType : "",
    traceparent: traceparent()
  };
  var queue = [];

  function flush() {
    if (!queue.length) { return; }
    var doc = {};
    for (var k in common) { if (common[k]) { doc[k] = common[k]; } }
    doc.events = queue.splice(0, 50);
    var body = JSON.stringify(doc);
    if (navigator.sendBeacon && navigator.sendBeacon(endpoint, body)) { return; }
    try {
      fetch(endpoint, { method: "POST", body: body, keepalive: true, mode: "cors", credentials: "omit",
                        headers: { "Content-Type": "text/plain" } }).catch(function () {});
    } catch (e) { /* page is going away */ }
  }
  function push(ev) {
    ev.t = Date.now();
    queue.push(ev);
    if (queue.length >= 20) { flush(); }
  }
  function scalars(obj) {
    var out = {}, n = 0;
    for (var k in obj || {}) {
      var v = obj[k];
      if (n < 20 && /^[A-Za-z][A-Za-z0-9_.]{0,63}$/.test(k) && (typeof v === "string" || (typeof v === "number" && isFinite(v)))) {
        out[k] = typeof v === "string" ? v.slice(0, 512) : v;
        n++;
      }
    }
    return out;
  }
  function onVital(m) {
    if (m.navigationType) { common.navigationType = m.navigationType; }
    push({ type: "vital", name: m.name, value: m.value, delta: m.delta, id: m.id, attribution: scalars(m.attribution) });
  }
  wv.onLCP(onVital); wv.onINP(onVital); wv.onCLS(onVital); wv.onFCP(onVital); wv.onTTFB(onVital);

  function text(v, n) { return String(v === undefined || v === null ? "" : v).slice(0, n); }
  window.addEventListener("error", function (e) {
    var err = e.error || {};
    push({ type: "error", kind: "error", errorType: text(err.name || "Error", 128),
           message: text(e.message || err.message, 4096) || "Script error", stack: text(err.stack, 16000) });
  });
  window.addEventListener("unhandledrejection", function (e) {
    var r = e.reason || {};
    push({ type: "error", kind: "unhandledrejection", errorType: text(r.name || "UnhandledRejection", 128),
           message: text(r.message || r, 4096) || "unhandled rejection", stack: text(r.stack, 16000) });
  });
  document.addEventListener("visibilitychange", function () { if (document.visibilityState === "hidden") { flush(); } });
  window.addEventListener("pagehide", flush);
})();
