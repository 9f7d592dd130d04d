// rules.js: the purchase rules of functions/internal/purchase, checked in the
// browser before anything is sent, with the server's own wording. Money is
// handled in integer cents so that no amount is ever rounded.

export const MAX_USERNAME = 100; // characters (code points), like Go's runes
export const MAX_USERID = 64;
export const MAX_CENTS = 99_999_999_999; // 999999999.99

// Go's unicode.IsControl: C0, DEL and C1.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/u;
// Go's unicode.IsSpace, which strings.TrimSpace trims.
const SPACE = "[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
const EDGE_SPACE = new RegExp(`^${SPACE}|${SPACE}$`, "u");

// checkText returns the problem with a user name or user id, or "".
export function checkText(s, max) {
  if (s === "") return "is required";
  if ([...s].length > max) return `must be at most ${max} characters`;
  if (CONTROL.test(s)) return "must not contain control characters";
  if (EDGE_SPACE.test(s)) return "must not start or end with white space";
  return "";
}

// parsePrice reads a decimal price such as "1195.30" into cents, or returns
// the problem, exactly as the server's purchase.ParseMoney does.
export function parsePrice(s) {
  if (s === "") return { problem: "is required" };
  if (s.startsWith("-")) return { problem: "must not be negative" };
  const dot = s.indexOf(".");
  const whole = dot < 0 ? s : s.slice(0, dot);
  const frac = dot < 0 ? "" : s.slice(dot + 1);
  if (!/^[0-9]+$/.test(whole) || (dot >= 0 && !/^[0-9]+$/.test(frac))) {
    return { problem: `must be digits with an optional '.' and one or two decimals, e.g. "1195.30"` };
  }
  if (frac.length > 2) return { problem: "must have at most 2 decimal places" };
  const significant = whole.replace(/^0+/, "");
  if (significant.length > 9) return { problem: "must be at most 999999999.99" };
  return { cents: Number(significant || "0") * 100 + Number(frac.padEnd(2, "0")) };
}

// formatCents writes cents with two decimals and digit grouping: 119530 -> "1,195.30".
export function formatCents(cents) {
  const whole = Math.floor(cents / 100);
  const frac = String(cents % 100).padStart(2, "0");
  return `${whole.toLocaleString("en-US")}.${frac}`;
}

// centsOf reads a price the API returned ("1195.30") into cents.
export function centsOf(price) {
  const r = parsePrice(String(price));
  return r.problem ? 0 : r.cents;
}

// toLocalInput writes a Date as a datetime-local value with milliseconds.
export function toLocalInput(d) {
  const p = (n, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

// parseTimestamp turns a datetime-local value (local time) into the API's
// RFC 3339 UTC form with milliseconds, or returns the problem. An empty
// value means "now", which the server fills in.
export function parseTimestamp(value, badInput = false) {
  if (badInput) return { problem: "must be a complete date and time" };
  if (value === "") return { iso: "" };
  const d = new Date(value); // no zone in the value: local time
  if (Number.isNaN(d.getTime())) return { problem: "must be a complete date and time" };
  const y = d.getUTCFullYear();
  if (y < 1970 || y > 9999) return { problem: "must be between the years 1970 and 9999" };
  return { iso: d.toISOString() };
}

// zoneLabel names the browser's offset from UTC, e.g. "UTC+2" or "UTC-3:30".
export function zoneLabel(d = new Date()) {
  const off = -d.getTimezoneOffset();
  if (off === 0) return "UTC";
  const h = Math.floor(Math.abs(off) / 60), m = Math.abs(off) % 60;
  return `UTC${off > 0 ? "+" : "-"}${h}${m ? ":" + String(m).padStart(2, "0") : ""}`;
}
