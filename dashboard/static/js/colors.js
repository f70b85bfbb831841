// Stable colours: one per service (by name hash), readable on the light and dark themes.

export const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948",
  "#ff9da7", "#9c755f", "#86bcb6", "#d37295", "#8cd17d", "#a0cbe8"];

const assigned = new Map();

export function serviceColor(name) {
  const key = String(name);
  if (!assigned.has(key)) {
    let hash = 0;
    for (let i = 0; i < key.length; i++) hash = (hash * 31 + key.charCodeAt(i)) >>> 0;
    assigned.set(key, PALETTE[hash % PALETTE.length]);
  }
  return assigned.get(key);
}

/** A CSS custom property of the current theme (e.g. "--muted"). */
export function themeVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}
