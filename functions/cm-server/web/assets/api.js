// api.js: the two calls of cm-server's API (see /openapi.yaml).

// APIError is a failed call: the server's message and its problems by field
// ({price: "must not be negative"}), or a network failure (status 0). After a
// 429 or 503, retryAfter is the server's Retry-After in seconds, else null.
export class APIError extends Error {
  constructor(status, message, fields = {}, retryAfter = null) {
    super(message);
    this.status = status;
    this.fields = fields;
    this.retryAfter = retryAfter;
  }

  // retryable: the purchase may be sent again with the same Idempotency-Key
  // (408: the request body broke off on its way; 409: an earlier attempt
  // with the key is still being answered).
  get retryable() {
    return this.status === 0 || this.status === 408 || this.status === 409 || this.status === 429 || this.status >= 500;
  }
}

// credential (an API key or a shopper's sign-in token) is sent as
// "Authorization: Bearer <credential>" when the shop requires one; "" sends none.
let credential = "";

// useCredential sets the API key or token that every later call sends.
export function useCredential(c) {
  credential = c;
}

// retryAfterSeconds reads a Retry-After header: delay-seconds or an HTTP date.
function retryAfterSeconds(value) {
  if (value === null) return null;
  if (/^\d+$/.test(value.trim())) return Number(value);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

async function call(url, init) {
  const headers = { Accept: "application/json", ...init.headers };
  if (credential) headers.Authorization = `Bearer ${credential}`;
  let resp;
  try {
    resp = await fetch(url, { ...init, headers });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new APIError(0, "Could not reach the shop. Check the connection and try again.");
  }
  let body = null;
  try {
    body = await resp.json();
  } catch {
    // Not our JSON, e.g. a proxy's error page; the status says enough.
  }
  if (!resp.ok) {
    throw new APIError(resp.status, body?.message || `The shop answered ${resp.status}.`, body?.errors || {},
      retryAfterSeconds(resp.headers.get("Retry-After")));
  }
  if (body === null) throw new APIError(resp.status, "The shop's answer could not be read.");
  return body;
}

// newIdempotencyKey makes a key for one purchase. crypto.randomUUID needs a
// secure context; getRandomValues works on plain http too.
export function newIdempotencyKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return "ui-" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// buy sends one purchase; the same key makes a retry the same purchase.
// It resolves to the purchase id.
export async function buy(purchase, key) {
  const body = await call("/buy", {
    method: "POST",
    headers: { "Content-Type": "application/json", "Idempotency-Key": key },
    body: JSON.stringify(purchase),
  });
  return body.id;
}

// userBuys fetches one page of a user's purchases, newest first.
export async function userBuys(username, { limit, cursor = "" }, signal) {
  const q = new URLSearchParams({ limit: String(limit) });
  if (cursor) q.set("cursor", cursor);
  const body = await call(`/getAllUserBuys/${encodeURIComponent(username)}?${q}`, { signal, headers: {} });
  return { purchases: body.purchases || [], next: body.next_cursor || "" };
}

// allUserBuys follows the cursor through up to maxPages pages of limit; the
// result says whether it stopped before the end.
export async function allUserBuys(username, signal, limit = 1000, maxPages = 10) {
  const all = [];
  let cursor = "";
  for (let i = 0; i < maxPages; i++) {
    const page = await userBuys(username, { limit, cursor }, signal);
    all.push(...page.purchases);
    if (!page.next) return { purchases: all, complete: true };
    cursor = page.next;
  }
  return { purchases: all, complete: false };
}
