// Renders /api/services into the table (its `meta` says whether all acknowledged data was visible).
// An empty store shows how to send data (the OTLP endpoint comes from /api/health).
// Telemetry is attacker-controlled: only textContent is used.
async function showEmptyState() {
  const hint = document.getElementById("empty");
  let endpoint = "http://" + location.hostname + ":4318";
  try {
    const health = await (await fetch("/api/health")).json();
    endpoint = (health.components.otlp || {}).http_endpoint || endpoint;
  } catch (e) { /* keep the default port */ }
  hint.querySelector("code").textContent = "export OTEL_EXPORTER_OTLP_ENDPOINT=" + endpoint;
  hint.hidden = false;
}

async function load() {
  const body = document.getElementById("services");
  const resp = await fetch("/api/services?range=1h");
  const data = await resp.json();
  body.replaceChildren();
  for (const s of data.services) {
    const tr = document.createElement("tr");
    for (const v of [s.name, s.span_count, s.error_count, (s.p95_duration_ns / 1e6).toFixed(1)]) {
      const td = document.createElement("td");
      td.textContent = String(v);
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  if (data.services.length === 0) {
    await showEmptyState();
  } else {
    document.getElementById("empty").hidden = true;
  }
}
load();
setInterval(load, 5000);
