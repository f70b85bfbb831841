// DOM building without HTML parsing: every text goes through text nodes / textContent.
// Telemetry is attacker-controlled, so nothing here ever parses markup.

/**
 * Create an element. props: class, text, style (object), dataset (object), on<event> (function),
 * anything else becomes an attribute (true → empty attribute; null/undefined/false → left out).
 * children: nodes or strings (strings become text nodes), arrays are flattened, null skipped.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key === "style") Object.assign(el.style, value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/** Append nodes or strings (as text) to el. */
export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace el's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A link inside the dashboard: path segments are URI-encoded, so data never becomes a scheme. */
export function routeHref(segments, params) {
  const path = "#/" + segments.map((s) => encodeURIComponent(String(s))).join("/");
  const query = params ? new URLSearchParams(params).toString() : "";
  return query ? path + "?" + query : path;
}

/** A table: columns [{label, cls?}], rows arrays of cell contents (nodes or strings). */
export function table(columns, rows, caption) {
  return h("div", { class: "table-wrap" },
    h("table", null,
      caption ? h("caption", { class: "visually-hidden" }, caption) : null,
      h("thead", null, h("tr", null, columns.map((c) => h("th", { scope: "col", class: c.cls }, c.label)))),
      h("tbody", null, rows.map((cells) => h("tr", null, cells.map((cell, i) => h("td", { class: columns[i].cls }, cell)))))));
}

/** A titled card section. */
export function card(title, ...children) {
  const id = "card-" + title.toLowerCase().replace(/[^a-z0-9]+/g, "-");
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

/** A muted one-line note. */
export function note(text) {
  return h("p", { class: "muted" }, text);
}

/** A "key: value" definition list from [key, value] pairs. */
export function pairs(entries, cls) {
  return h("dl", { class: cls || "pairs" }, entries.map(([k, v]) => [h("dt", null, k), h("dd", null, v)]));
}
