// The first-run hint: when the store is empty, the overview shows how to send data.
// The OTLP endpoint comes from /api/health (components.otlp.http_endpoint); without it the
// hint falls back to this host's port 4318. Kept at /app.js (the first-run check reads it).
// Telemetry and server answers are only ever written with textContent.

/** Show the #empty section with the export line for the OTLP/HTTP endpoint. */
export async function showEmptyState(signal) {
  const hint = document.getElementById("empty");
  if (!hint) return;
  let endpoint = "http://" + location.hostname + ":4318";
  try {
    const health = await (await fetch("/api/health", { signal })).json();
    endpoint = ((health.components || {}).otlp || {}).http_endpoint || endpoint;
  } catch (e) { /* keep the default port */ }
  hint.querySelector("pre code").textContent = "export OTEL_EXPORTER_OTLP_ENDPOINT=" + endpoint;
  hint.hidden = false;
}

/** Hide the hint again (data arrived, or another page is shown). */
export function hideEmptyState() {
  const hint = document.getElementById("empty");
  if (hint) hint.hidden = true;
}
