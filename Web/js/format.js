// Number and time formatting. Every time shown is America/New_York, whatever the browser's zone.

const ZONE = "America/New_York";
const timeFormat = new Intl.DateTimeFormat("en-US", { timeZone: ZONE, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const secondsFormat = new Intl.DateTimeFormat("en-US", {
  timeZone: ZONE, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
});
const dayFormat = new Intl.DateTimeFormat("en-US", { timeZone: ZONE, month: "short", day: "numeric" });
const fullFormat = new Intl.DateTimeFormat("en-US", {
  timeZone: ZONE, year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
});
const dateFormat = new Intl.DateTimeFormat("en-US", { timeZone: ZONE, year: "numeric", month: "short", day: "numeric" });
const partsFormat = new Intl.DateTimeFormat("en-CA", { timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit" });

export const formatTime = (ms) => timeFormat.format(ms);
export const formatSeconds = (ms) => secondsFormat.format(ms);
export const formatDay = (ms) => dayFormat.format(ms);
export const formatDateTime = (ms) => fullFormat.format(ms);
export const formatDate = (ms) => dateFormat.format(ms);
/// YYYY-MM-DD of the New York calendar day containing `ms`.
export const nyDateKey = (ms) => partsFormat.format(ms);

export function formatPrice(value, digits) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  const places = digits ?? (Math.abs(value) >= 1000 ? 2 : Math.abs(value) < 1 ? 3 : 2);
  return value.toFixed(places);
}

export function formatVolume(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  const magnitude = Math.abs(value);
  if (magnitude >= 1e9) return `${(value / 1e9).toFixed(2)}B`;
  if (magnitude >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (magnitude >= 1e4) return `${(value / 1e3).toFixed(1)}K`;
  return String(Math.round(value));
}

export function formatPercent(value, digits = 2) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return `${value >= 0 ? "+" : ""}${value.toFixed(digits)}%`;
}

export function formatSigned(value, digits = 2) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return `${value >= 0 ? "+" : ""}${value.toFixed(digits)}`;
}

export function formatGreek(value, digits = 3) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return value.toFixed(digits);
}

/// "O:SPY251219C00650000" → "SPY Dec 19 '25 650 C".
export function describeOption(ticker) {
  const match = /^O:([A-Z.]{1,6}?)(\d{2})(\d{2})(\d{2})([CP])(\d{8})$/.exec(ticker ?? "");
  if (!match) return ticker ?? "";
  const [, root, yy, mm, dd, side, strike] = match;
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const strikeValue = Number(strike) / 1000;
  return `${root} ${months[Number(mm) - 1]} ${Number(dd)} '${yy} ${strikeValue} ${side}`;
}

/// The underlying of an OCC option ticker, or null.
export function optionUnderlying(ticker) {
  const match = /^O:([A-Z.]{1,6}?)\d{6}[CP]\d{8}$/.exec(ticker ?? "");
  return match ? match[1] : null;
}
