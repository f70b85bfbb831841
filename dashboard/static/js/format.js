// Number, duration and time formatting (en-US digits, local time).

const INT = new Intl.NumberFormat("en-US");

export function int(n) {
  return INT.format(Math.round(Number(n) || 0));
}

export function fixed(n, digits) {
  const v = Number(n);
  return Number.isFinite(v) ? v.toFixed(digits) : "–";
}

/** 0.0532 → "5.32%". */
export function percent(fraction, digits = 2) {
  return fixed(Number(fraction) * 100, digits) + "%";
}

/** Milliseconds → "850 µs", "12.3 ms", "1.25 s", "2m 5s". */
export function ms(value) {
  const v = Number(value);
  if (!Number.isFinite(v)) return "–";
  if (v === 0) return "0 ms";
  if (v < 1) return Math.round(v * 1000) + " µs";
  if (v < 100) return v.toFixed(1) + " ms";
  if (v < 1000) return Math.round(v) + " ms";
  if (v < 60000) return (v / 1000).toFixed(2) + " s";
  return Math.floor(v / 60000) + "m " + Math.round((v % 60000) / 1000) + "s";
}

export function ns(value) {
  return ms(Number(value) / 1e6);
}

export function rate(perSecond) {
  const v = Number(perSecond) || 0;
  return (v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2)) + "/s";
}

export function bytes(n) {
  let v = Number(n);
  if (!Number.isFinite(v)) return "–";
  for (const unit of ["B", "KiB", "MiB", "GiB", "TiB"]) {
    if (Math.abs(v) < 1024 || unit === "TiB") return (unit === "B" ? v.toFixed(0) : v.toFixed(1)) + " " + unit;
    v /= 1024;
  }
  return String(v);
}

/** Unix ns → local date-time "2026-12-04 23:05:01.123". */
export function timeNs(value) {
  const d = new Date(Number(value) / 1e6);
  const pad = (x, n = 2) => String(x).padStart(n, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** Unix ns → "3 min ago". */
export function ago(valueNs) {
  const s = Math.max(0, (Date.now() - Number(valueNs) / 1e6) / 1000);
  if (s < 60) return Math.round(s) + " s ago";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  if (s < 86400) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " d ago";
}

/** Shorten a long text for a cell (the full text goes in a title attribute). */
export function clip(text, max = 120) {
  const t = String(text ?? "");
  return t.length > max ? t.slice(0, max - 1) + "…" : t;
}
