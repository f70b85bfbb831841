// The dashboard shell: hash routing (state in the URL), time range, auto-refresh, theme, nav.
//
// A route is "#/<page>[/<id>]?<params>"; every page reads its state from the params, so a URL is
// shareable. `range` (15m, 1h, 6h, 24h, 7d) and `refresh` (off, 10s, 30s) are global params.
// A page module exports mount(ctx) → {update(params)?, refresh()?, destroy()?}; the shell mounts a
// page when the path changes and calls update() when only the params change.

import { h, replace } from "./dom.js";
import { hideEmptyState } from "/app.js";
import { currentSession, showSession, showSignIn } from "./session.js";
import * as overview from "./pages/overview.js";
import * as traces from "./pages/traces.js";
import * as trace from "./pages/trace.js";
import * as notFound from "./pages/notfound.js";
import { PAGES as PAGES_A } from "./pages/group_a.js";
import { PAGES as PAGES_B } from "./pages/group_b.js";
import { PAGES as PAGES_C } from "./pages/group_c.js";

// Every page beyond the built-in three: {name, label, page, detail?} from three registries (one per
// area of the dashboard). `#/<name>` mounts `page`; `#/<name>/<id>` mounts `detail` when it has one.
// The nav shows them in NAV_ORDER.
const EXTRA = [...PAGES_A, ...PAGES_B, ...PAGES_C];
const NAV_ORDER = ["overview", "services", "endpoints", "traces", "logs", "errors", "database", "frontend", "system", "alerts"];

export const RANGES = ["15m", "1h", "6h", "24h", "7d"];
const REFRESH = { off: 0, "10s": 10000, "30s": 30000 };
const DEFAULT_RANGE = "1h";
const THEME_KEY = "vigil.theme";

const view = document.getElementById("view");
const rangeSelect = document.getElementById("range");
const refreshSelect = document.getElementById("refresh");
const themeButton = document.getElementById("theme-toggle");
const navToggle = document.getElementById("nav-toggle");
const nav = document.getElementById("nav");
const main = document.getElementById("main");
const announce = document.getElementById("announce");
let mounted = 0;

let current = null; // {key, page, instance, controller}
let refreshTimer = null;

/** The current route: {path: ["traces", "<id>"], params: URLSearchParams}. */
export function parseHash(hash = location.hash) {
  const raw = hash.startsWith("#/") ? hash.slice(2) : "";
  const q = raw.indexOf("?");
  const pathPart = q >= 0 ? raw.slice(0, q) : raw;
  const params = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : "");
  const path = pathPart.split("/").filter(Boolean).map((s) => {
    try {
      return decodeURIComponent(s);
    } catch (e) {
      return s;
    }
  });
  return { path, params };
}

function range(params) {
  const r = params.get("range");
  return RANGES.includes(r) ? r : DEFAULT_RANGE;
}

/** Go to path (segments) with params (object or URLSearchParams), keeping range/refresh. */
export function navigate(path, params, { replace: replaceEntry = false } = {}) {
  const now = parseHash();
  const next = new URLSearchParams(params || {});
  for (const key of ["range", "refresh"]) {
    if (!next.has(key) && now.params.has(key)) next.set(key, now.params.get(key));
  }
  for (const [key, value] of [...next.entries()]) if (value === "") next.delete(key);
  const query = next.toString();
  const hash = "#/" + path.map((s) => encodeURIComponent(s)).join("/") + (query ? "?" + query : "");
  if (hash === location.hash) return;
  if (replaceEntry) {
    history.replaceState(null, "", hash);
    route();
  } else {
    location.hash = hash;
  }
}

/** Change some params of the current route (null removes one). */
export function setParams(changes, options) {
  const { path, params } = parseHash();
  for (const [key, value] of Object.entries(changes)) {
    if (value === null || value === undefined || value === "") params.delete(key);
    else params.set(key, value);
  }
  navigate(path, params, options);
}

function pick(path) {
  if (path.length === 0) return { key: "overview", page: overview, nav: "overview" };
  if (path[0] === "traces" && path.length === 1) return { key: "traces", page: traces, nav: "traces" };
  if (path[0] === "traces" && path.length === 2) return { key: "trace:" + path[1], page: trace, nav: "traces" };
  const extra = EXTRA.find((p) => p.name === path[0]);
  if (extra && path.length === 1) return { key: extra.name, page: extra.page, nav: extra.name };
  if (extra && extra.detail && path.length === 2) {
    return { key: extra.name + ":" + path[1], page: extra.detail, nav: extra.name };
  }
  return { key: "404:" + path.join("/"), page: notFound, nav: null };
}

function buildNav() {
  const list = nav.querySelector("ul");
  const links = [{ name: "overview", label: "Overview" }, { name: "traces", label: "Traces" }, ...EXTRA];
  links.sort((a, b) => NAV_ORDER.indexOf(a.name) - NAV_ORDER.indexOf(b.name));
  replace(list, ...links.map((p) => h("li", null,
    h("a", { href: p.name === "overview" ? "#/" : "#/" + p.name, "data-page": p.name }, p.label))));
}

function markNav(active) {
  for (const link of nav.querySelectorAll("a[data-page]")) {
    if (link.dataset.page === active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function updateNavLinks(params) {
  // nav links keep the time range (and refresh) so moving between pages keeps the context
  const keep = new URLSearchParams();
  for (const key of ["range", "refresh"]) if (params.has(key)) keep.set(key, params.get(key));
  const q = keep.toString();
  for (const link of nav.querySelectorAll("a[data-page]")) {
    const base = link.dataset.page === "overview" ? "#/" : "#/" + link.dataset.page;
    link.setAttribute("href", q ? base + "?" + q : base);
  }
}

function scheduleRefresh(params) {
  clearInterval(refreshTimer);
  refreshTimer = null;
  const every = REFRESH[params.get("refresh")] || 0;
  refreshSelect.value = every ? params.get("refresh") : "off";
  if (every) {
    refreshTimer = setInterval(() => {
      if (current && current.instance && current.instance.refresh && !document.hidden) current.instance.refresh();
    }, every);
  }
}

function route() {
  const { path, params } = parseHash();
  const r = range(params);
  rangeSelect.value = r;
  updateNavLinks(params);
  scheduleRefresh(params);
  const chosen = pick(path);
  markNav(chosen.nav);
  closeNavOnMobile();
  if (current && current.key === chosen.key && current.instance && current.instance.update) {
    current.instance.update({ params, range: r, path });
    return;
  }
  if (current) {
    current.controller.abort();
    if (current.instance && current.instance.destroy) current.instance.destroy();
  }
  hideEmptyState();
  replace(view);
  const controller = new AbortController();
  const ctx = { view, path, params, range: r, signal: controller.signal, navigate, setParams };
  current = { key: chosen.key, controller, instance: null };
  try {
    current.instance = chosen.page.mount(ctx) || null;
  } catch (err) {
    replace(view, h("p", { class: "error-box", role: "alert" }, "This page failed: " + String(err && err.message)));
  }
  const heading = view.querySelector("h1");
  document.title = heading ? heading.textContent + " · Vigil" : "Vigil";
  // a new page: screen readers hear its name and keyboard focus starts at its content
  announce.textContent = heading ? heading.textContent : "";
  if (mounted++ > 0) main.focus({ preventScroll: true });
}

// --- theme -------------------------------------------------------------------------------------

function preferredTheme() {
  const saved = localStorage.getItem(THEME_KEY);
  if (saved === "dark" || saved === "light") return saved;
  return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  const dark = theme === "dark";
  themeButton.setAttribute("aria-pressed", String(dark));
  themeButton.textContent = dark ? "Light theme" : "Dark theme";
  themeButton.setAttribute("aria-label", dark ? "Switch to the light theme" : "Switch to the dark theme");
  window.dispatchEvent(new CustomEvent("vigil:theme", { detail: theme }));
}

themeButton.addEventListener("click", () => {
  const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
  localStorage.setItem(THEME_KEY, next);
  applyTheme(next);
});
if (window.matchMedia) {
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    if (!localStorage.getItem(THEME_KEY)) applyTheme(preferredTheme());
  });
}

// --- nav (collapses on narrow screens) -----------------------------------------------------------

function closeNavOnMobile() {
  document.body.classList.remove("nav-open");
  navToggle.setAttribute("aria-expanded", "false");
}

navToggle.addEventListener("click", () => {
  const open = !document.body.classList.contains("nav-open");
  document.body.classList.toggle("nav-open", open);
  navToggle.setAttribute("aria-expanded", String(open));
  if (open) {
    const first = nav.querySelector("a");
    if (first) first.focus();
  }
});
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && document.body.classList.contains("nav-open")) {
    closeNavOnMobile();
    navToggle.focus();
  }
});

// --- global controls ---------------------------------------------------------------------------

rangeSelect.addEventListener("change", () => setParams({ range: rangeSelect.value === DEFAULT_RANGE ? null : rangeSelect.value }));
refreshSelect.addEventListener("change", () => setParams({ refresh: refreshSelect.value === "off" ? null : refreshSelect.value }));

applyTheme(preferredTheme());
buildNav();
// any API answer of 401 (a revoked token, an expired cookie) brings the sign-in form back
window.addEventListener("vigil:unauthorized", () => showSignIn(view, "Your session ended: sign in again."));
currentSession().then((session) => {
  showSession(session, document.getElementById("session"));
  if (session.auth === "required" && !session.signed_in) {
    showSignIn(view);
    return;
  }
  window.addEventListener("hashchange", route);
  route();
});
