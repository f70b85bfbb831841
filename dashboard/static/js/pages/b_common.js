// Shared helpers of the Services, Endpoints and Alerts pages: a state-changing JSON request that
// surfaces the API's error text, and a per-load abort controller tied to the page's signal.

import { ApiError } from "../api.js";

/** POST/DELETE JSON; throws ApiError with the API's {"error"} text (401/403 included). */
export async function sendJson(method, path, body, signal) {
  const init = { method, signal, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  let doc = null;
  try {
    doc = await resp.json();
  } catch (e) { /* no JSON */ }
  if (!resp.ok) {
    const detail = doc && doc.detail && doc.detail.parameter ? ` (parameter ${doc.detail.parameter})` : "";
    throw new ApiError(resp.status, ((doc && doc.error) || `HTTP ${resp.status}`) + detail);
  }
  return doc;
}

/** A loader: each call aborts the previous one; returns a fresh signal (aborted with the page). */
export function loader(pageSignal) {
  let controller = null;
  return {
    next() {
      if (controller) controller.abort();
      controller = new AbortController();
      const c = controller;
      pageSignal.addEventListener("abort", () => c.abort(), { once: true });
      return c.signal;
    },
    abort() {
      if (controller) controller.abort();
    },
  };
}
