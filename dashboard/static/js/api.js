// JSON over HTTP to the query API. Errors carry the API's {"error", "detail"} message.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** GET path with params (object; arrays repeat the key; empty values are left out). */
export async function getJson(path, params, signal) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    for (const v of [value].flat()) {
      if (v !== undefined && v !== null && v !== "") query.append(key, String(v));
    }
  }
  const url = query.toString() ? path + "?" + query : path;
  return answer(await fetch(url, { signal, headers: { Accept: "application/json" } }), path, true);
}

/** A state-changing JSON request (POST, PATCH, DELETE); throws ApiError with the API's text (401/403 too). */
export async function sendJson(method, path, body, signal) {
  const init = { method, signal, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  return answer(await fetch(path, init), path, false);
}

async function answer(resp, path, needJson) {
  let body = null;
  try {
    body = await resp.json();
  } catch (e) {
    if (needJson) throw new ApiError(resp.status, `${path}: answered ${resp.status} without JSON`);
  }
  if (resp.status === 401) window.dispatchEvent(new CustomEvent("vigil:unauthorized"));
  if (!resp.ok) {
    const detail = body && body.detail && body.detail.parameter ? ` (parameter ${body.detail.parameter})` : "";
    throw new ApiError(resp.status, ((body && body.error) || `HTTP ${resp.status}`) + detail);
  }
  return body;
}

/** A run of loads where each call aborts the previous one; returns a fresh signal (aborted with `pageSignal`). */
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

export function isAbort(err) {
  return err && err.name === "AbortError";
}
