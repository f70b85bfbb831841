// Alerts (#/alerts): active alerts (GET /api/alerts, acknowledge → POST /api/alerts/acknowledge),
// history (GET /api/alerts/history), silences (GET/POST /api/silences, DELETE /api/silences/{id}),
// rules with health (GET /api/rules). Live: reloads on `alert` events from /ws.

import { getJson, isAbort } from "../api.js";
import { card, h, note, replace, table } from "../dom.js";
import * as f from "../format.js";
import { connectLive } from "../live.js";
import { loader, sendJson } from "./b_common.js";

const OPS = { "=": [false, true], "!=": [false, false], "=~": [true, true], "!~": [true, false] };
const RANGE_MS = { "15m": 9e5, "1h": 36e5, "6h": 216e5, "24h": 864e5, "7d": 6048e5 };

function msTime(ms) {
  return ms ? f.timeNs(ms * 1e6) : "–";
}

function labelsOf(labels) {
  const entries = Object.entries(labels || {});
  return entries.length
    ? h("span", { class: "labels" }, entries.map(([k, v]) => h("code", { class: "label" }, `${k}=${v}`)))
    : h("span", { class: "muted" }, "no labels");
}

function stateBadge(state) {
  const cls = state === "firing" ? "badge-bad" : state === "pending" ? "badge-warn" : state === "active" ? "badge-ok" : "badge-muted";
  return h("span", { class: "badge " + cls }, state);
}

export function mount(ctx) {
  let range = ctx.range;
  const load = loader(ctx.signal);
  const status = h("p", { class: "muted", role: "status", id: "alerts-status" }, "Loading…");
  const message = h("div", { id: "alerts-message", "aria-live": "assertive" });
  const liveBadge = h("span", { class: "badge badge-muted", id: "alerts-live" }, "Live: connecting");
  const active = h("div", { id: "alerts-active" });
  const history = h("div", { id: "alerts-history" });
  const silences = h("div", { id: "silences" });
  const rules = h("div", { id: "rules" });

  // --- silence form ----------------------------------------------------------------------------
  const matcherRows = h("div", { class: "b-matchers", id: "silence-matchers" });
  let rowSeq = 0;
  function matcherRow(name = "", op = "=", value = "") {
    const i = rowSeq++;
    const nameEl = h("input", { id: `sm-name-${i}`, class: "sm-name", type: "text", required: true, autocomplete: "off",
      pattern: "[a-zA-Z_][a-zA-Z0-9_]*", value: name });
    const opEl = h("select", { id: `sm-op-${i}`, class: "sm-op" }, Object.keys(OPS).map((o) => h("option", { value: o }, o)));
    opEl.value = op;
    const valueEl = h("input", { id: `sm-value-${i}`, class: "sm-value", type: "text", autocomplete: "off", value });
    const row = h("div", { class: "b-matcher" },
      h("div", { class: "field" }, h("label", { for: nameEl.id }, "Label"), nameEl),
      h("div", { class: "field" }, h("label", { for: opEl.id }, "Operator"), opEl),
      h("div", { class: "field" }, h("label", { for: valueEl.id }, "Value"), valueEl),
      h("button", { type: "button", class: "b-remove", "aria-label": "Remove this matcher",
        onclick: () => { if (matcherRows.children.length > 1) row.remove(); } }, "Remove"));
    matcherRows.append(row);
    return row;
  }
  matcherRow("alertname");
  const duration = h("select", { id: "silence-duration", name: "duration" },
    [["1800", "30 minutes"], ["3600", "1 hour"], ["7200", "2 hours"], ["14400", "4 hours"], ["86400", "1 day"], ["604800", "7 days"]]
      .map(([v, l]) => h("option", { value: v }, l)));
  duration.value = "3600";
  const comment = h("input", { id: "silence-comment", type: "text", maxlength: "1000", autocomplete: "off" });
  const form = h("form", { id: "silence-form", class: "b-silence-form", "aria-label": "Create a silence" },
    matcherRows,
    h("button", { type: "button", id: "silence-add-matcher", onclick: () => matcherRow().querySelector("input").focus() }, "Add matcher"),
    h("div", { class: "fields b-form-fields" },
      h("div", { class: "field" }, h("label", { for: "silence-duration" }, "Duration"), duration),
      h("div", { class: "field field-wide" }, h("label", { for: "silence-comment" }, "Comment"), comment)),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: "silence-create" }, "Create silence")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const matchers = [...matcherRows.querySelectorAll(".b-matcher")].map((row) => {
      const [isRegex, isEqual] = OPS[row.querySelector(".sm-op").value];
      return { name: row.querySelector(".sm-name").value.trim(), value: row.querySelector(".sm-value").value, isRegex, isEqual };
    });
    const now = Date.now() / 1000;
    await act(() => sendJson("POST", "/api/silences", { matchers, startsAt: now, endsAt: now + Number(duration.value),
      comment: comment.value }, ctx.signal), (r) => `Silence ${r.silenceID} created.`);
  });

  replace(ctx.view,
    h("div", { class: "page-head" }, h("h1", null, "Alerts"), liveBadge),
    status, message,
    card("Active alerts", active),
    card("Silences", silences, h("h3", null, "New silence"), form),
    card("Rules", rules),
    card("History", history));

  async function act(run, okText) {
    replace(message);
    try {
      const r = await run();
      replace(message, h("p", { class: "b-ok", role: "status" }, okText(r)));
      await refresh();
    } catch (err) {
      if (isAbort(err)) return;
      replace(message, h("p", { class: "error-box", role: "alert", id: "alerts-error" },
        (err.status === 401 || err.status === 403 ? "Refused: " : "Failed: ") + err.message));
    }
  }

  function renderActive(list) {
    if (!list.length) return replace(active, h("p", { id: "alerts-none" }, "No active alerts."));
    replace(active, table(
      [{ label: "Alert" }, { label: "State" }, { label: "Value", cls: "num" }, { label: "Since" }, { label: "Labels" },
        { label: "Acknowledged" }],
      list.map((a) => [
        h("strong", null, a.alertname || "(unnamed)"), stateBadge(a.state), String(a.value),
        h("span", { title: msTime(a.active_at_ms) }, f.ago(a.active_at_ms * 1e6)),
        labelsOf(a.labels),
        a.ack
          ? h("span", { class: "b-acked", dataset: { fingerprint: a.fingerprint } }, `by ${a.ack.by} at ${msTime(a.ack.at_ms)}`)
          : h("button", { type: "button", class: "b-ack", dataset: { fingerprint: a.fingerprint },
            "aria-label": `Acknowledge ${a.alertname}`,
            onclick: () => act(() => sendJson("POST", "/api/alerts/acknowledge", { fingerprint: a.fingerprint }, ctx.signal),
              () => `${a.alertname} acknowledged.`) }, "Acknowledge")]),
      "Active alerts"));
    active.querySelector("tbody").id = "alerts-rows";
  }

  function renderSilences(list) {
    if (!list.length) return replace(silences, note("No silences."));
    replace(silences, table(
      [{ label: "Matchers" }, { label: "State" }, { label: "Ends" }, { label: "By" }, { label: "Comment" }, { label: "" }],
      list.map((s) => [
        h("span", { class: "labels" }, s.matchers.map((m) =>
          h("code", { class: "label" }, `${m.name}${m.isRegex ? (m.isEqual ? "=~" : "!~") : m.isEqual ? "=" : "!="}"${m.value}"`))),
        stateBadge(s.status.state), s.endsAt, s.createdBy, f.clip(s.comment, 120),
        s.status.state === "expired" ? "" : h("button", { type: "button", class: "b-expire", dataset: { silenceId: s.id },
          "aria-label": `Expire silence ${s.id}`,
          onclick: () => act(() => sendJson("DELETE", "/api/silences/" + encodeURIComponent(s.id), undefined, ctx.signal),
            () => `Silence ${s.id} expired.`) }, "Expire")]),
      "Silences"));
    silences.querySelector("tbody").id = "silence-rows";
  }

  function renderRules(doc) {
    const rows = [];
    for (const g of doc.groups) for (const r of g.rules) rows.push([g.name, h("code", null, r.name), r.type,
      h("span", { class: "badge " + (r.health === "ok" ? "badge-ok" : r.health === "err" ? "badge-bad" : "badge-muted") }, r.health),
      r.state ? stateBadge(r.state) : "–", r.lastEvaluation, r.lastError ? h("span", { class: "bad" }, r.lastError) : "–"]);
    replace(rules,
      (doc.rule_file_problems || []).length
        ? h("ul", { class: "error-box" }, doc.rule_file_problems.map((p) => h("li", null, String(p)))) : null,
      rows.length
        ? table([{ label: "Group" }, { label: "Rule" }, { label: "Type" }, { label: "Health" }, { label: "State" },
          { label: "Last evaluation" }, { label: "Error" }], rows, "Rules")
        : note("No rules are loaded."));
  }

  function renderHistory(list) {
    const since = Date.now() - (RANGE_MS[range] || 36e5);
    const shown = list.filter((t) => t.at_ms >= since);
    if (!shown.length) return replace(history, note("No state changes in this time range."));
    replace(history, table([{ label: "Time" }, { label: "Alert" }, { label: "Change" }, { label: "Value", cls: "num" }, { label: "Labels" }],
      shown.map((t) => [msTime(t.at_ms), t.alertname, [stateBadge(t.from), " → ", stateBadge(t.to)], String(t.value), labelsOf(t.labels)]),
      "Alert history"));
  }

  async function refresh() {
    const signal = load.next();
    try {
      const [a, hst, s, r] = await Promise.all([
        getJson("/api/alerts", null, signal), getJson("/api/alerts/history", { limit: 200 }, signal),
        getJson("/api/silences", null, signal), getJson("/api/rules", null, signal)]);
      if (signal.aborted) return;
      renderActive(a.alerts);
      renderSilences(s);
      renderRules(r);
      renderHistory(hst.transitions);
      status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
      status.className = "muted";
    } catch (err) {
      if (isAbort(err)) return;
      status.textContent = err.status === 404 ? "Alerting is not enabled in this Vigil." : "Could not load the alerts: " + err.message;
      status.className = err.status === 404 ? "muted" : "error-box";
    }
  }

  let pending = null;
  const live = connectLive({
    topics: ["alert"],
    onStatus(state) {
      liveBadge.textContent = "Live: " + state;
      liveBadge.className = "badge " + (state === "live" ? "badge-ok" : "badge-muted");
    },
    onEvent(event) {
      if (event.type !== "alert" || pending) return;
      pending = setTimeout(() => { pending = null; refresh(); }, 300);
    },
  });

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
      live.close();
      clearTimeout(pending);
    },
  };
}
