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
  const resp = await fetch(url, { signal, headers: { Accept: "application/json" } });
  let body = null;
  try {
    body = await resp.json();
  } catch (e) {
    throw new ApiError(resp.status, `${path}: answered ${resp.status} without JSON`);
  }
  if (resp.status === 401) window.dispatchEvent(new CustomEvent("vigil:unauthorized"));
  if (!resp.ok) {
    const detail = body && body.detail && body.detail.parameter ? ` (parameter ${body.detail.parameter})` : "";
    throw new ApiError(resp.status, ((body && body.error) || `HTTP ${resp.status}`) + detail);
  }
  return body;
}

export function isAbort(err) {
  return err && err.name === "AbortError";
}
