// Renders /api/services into the table (its `meta` says whether all acknowledged data was visible).
// Telemetry is attacker-controlled: only textContent is used.
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
}
load();
setInterval(load, 5000);
