// One error issue (#/errors/<fingerprint>): GET /api/errors/{fingerprint} — type, message, stack trace,
// occurrences with trace links; Resolve / Ignore / Reopen PATCH /api/errors/{fingerprint} {"status"}.

import { getJson, isAbort } from "../api.js";
import { h, note, pairs, replace, routeHref, table } from "../dom.js";
import * as f from "../format.js";
import { errorBox, loader, sendJson } from "./a_common.js";
import { shortType } from "./a_errors.js";

const ACTIONS = [["resolved", "Resolve"], ["ignored", "Ignore"], ["open", "Reopen"]];

export function mount(ctx) {
  const fp = ctx.path[1];
  const loads = loader(ctx);
  let doc = null;
  const keep = ctx.params.get("range") ? { range: ctx.params.get("range") } : null;
  const content = h("div", { id: "issue" }, h("p", { class: "muted", role: "status" }, "Loading…"));
  const actionMsg = h("div", { id: "issue-action-status", "aria-live": "polite" });
  replace(ctx.view,
    h("p", null, h("a", { href: routeHref(["errors"], keep) }, "← All errors")),
    h("h1", null, "Error issue"), content);

  async function load() {
    const signal = loads.next();
    try {
      const data = await getJson("/api/errors/" + encodeURIComponent(fp), { limit: 50 }, signal);
      if (signal.aborted) return;
      doc = data;
      render(data);
      loadStack(data, signal);
    } catch (err) {
      if (isAbort(err)) return;
      replace(content, errorBox(err.status === 404 ? "Not found" : "Could not load the issue", err));
    }
  }

  function render(d) {
    const i = d.issue;
    const buttons = ACTIONS.filter(([s]) => s !== i.status).map(([s, label]) =>
      h("button", { type: "button", class: s === "resolved" ? "primary" : null, id: "issue-" + label.toLowerCase(),
        onclick: () => setStatus(s) }, label));
    replace(content,
      h("section", { class: "card", "aria-labelledby": "issue-type" },
        h("h2", { id: "issue-type", class: "a-issue-type" }, shortType(i.type)),
        h("p", { class: "muted a-wrap" }, i.type),
        h("p", { id: "issue-message", class: "exc a-wrap" }, i.sample_message || i.message),
        pairs([
          ["Status", h("span", { class: "badge a-status a-status-" + i.status, id: "issue-status" }, i.status)],
          ["Count", h("span", { id: "issue-count" }, f.int(i.count))],
          ["First seen", f.timeNs(i.first_seen_ns)], ["Last seen", f.timeNs(i.last_seen_ns)],
          ["Services", i.services.join(", ") || "–"], ["Endpoints", i.endpoints.join(", ") || "–"],
          ["Regressions", f.int(i.regressions)],
          ["Fingerprint", h("code", null, i.fingerprint)]]),
        h("div", { class: "actions", role: "group", "aria-label": "Change the issue's status" }, buttons),
        actionMsg),
      h("section", { class: "card", "aria-labelledby": "issue-stack-title" },
        h("h2", { id: "issue-stack-title" }, "Stack trace"),
        h("pre", { class: "stack a-stack", id: "issue-stack", tabindex: "0" },
          i.frames.length ? i.frames.map((fr) => "  at " + fr).join("\n") : "(no frames recorded)"),
        h("div", { id: "issue-stack-full" })),
      h("section", { class: "card", "aria-labelledby": "issue-occ-title" },
        h("h2", { id: "issue-occ-title" }, "Recent occurrences"),
        d.occurrences.length
          ? table([{ label: "Time" }, { label: "Service" }, { label: "Endpoint" }, { label: "Message" }, { label: "Trace" }],
            d.occurrences.map((o) => [
              f.timeNs(o.time_ns), o.service, o.endpoint || "–", h("span", { class: "a-wrap" }, f.clip(o.message, 200)),
              o.trace_id ? h("a", { href: routeHref(["traces", o.trace_id], o.span_id ? { span: o.span_id } : null), class: "a-trace",
                dataset: { traceId: o.trace_id } }, o.trace_id.slice(0, 12) + "…") : "–"]),
            "Recent occurrences")
          : note("No occurrences stored any more.")));
    const t = content.querySelector("#issue-occ-title ~ .table-wrap table");
    if (t) t.id = "issue-occurrences";
  }

  // the full stack trace of the latest occurrence that has one, from its span's exception event
  async function loadStack(d, signal) {
    const candidates = d.occurrences.filter((x) => x.trace_id && x.source === "span").slice(0, 3);
    for (const o of candidates) {
      try {
        const tr = await getJson("/api/traces/" + encodeURIComponent(o.trace_id), null, signal);
        const span = (tr.spans || []).find((s) => s.span_id === o.span_id);
        const ev = span && (span.events || []).find((e) => e.name === "exception" && e.attributes
                                                    && e.attributes["exception.stacktrace"]);
        const target = content.querySelector("#issue-stack-full");
        if (ev && target) {
          replace(target, h("h3", null, "Latest occurrence"),
            h("pre", { class: "stack a-stack", id: "issue-stacktrace", tabindex: "0" }, ev.attributes["exception.stacktrace"]));
          return;
        }
      } catch (err) {
        if (isAbort(err)) return; /* otherwise try the next occurrence; the frames above remain */
      }
    }
  }

  async function setStatus(s) {
    replace(actionMsg, h("p", { class: "muted", role: "status" }, "Saving…"));
    try {
      await sendJson("PATCH", "/api/errors/" + encodeURIComponent(fp), { status: s }, ctx.signal);
      await load();
      replace(actionMsg, h("p", { class: "a-ok", role: "status", id: "issue-action-ok" }, "Status set to " + s + "."));
      const btn = content.querySelector(".actions button");
      if (btn) btn.focus();
    } catch (err) {
      if (isAbort(err)) return;
      replace(actionMsg, h("p", { class: "error-box", role: "alert", id: "issue-action-error" },
        "The status was not changed: " + err.message));
    }
  }

  load();
  return {
    refresh: load,
    destroy() {
      loads.abort();
    },
    get data() {
      return doc;
    },
  };
}
