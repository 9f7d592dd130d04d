// app.js: the shopper's page. Buy sends one purchase (one Idempotency-Key
// per purchase, reused only to retry it); getAllUserBuys shows the user's
// purchases page by page, with the total and a chart over all of them. An
// API key or a shopper's sign-in token, when the shop requires one, is kept
// for this tab only; a token wins over a key.

import { APIError, buy, newIdempotencyKey, useCredential } from "./api.js";
import { MAX_USERID, MAX_USERNAME, checkText, formatCents, parsePrice, parseTimestamp, toLocalInput, zoneLabel } from "./rules.js";
import { showPurchases } from "./purchases.js";

const $ = (id) => document.getElementById(id);
const form = $("buy-form");
const fields = { username: $("username"), userid: $("userid"), price: $("price"), timestamp: $("timestamp"), apikey: $("apikey"), token: $("token") };
const labels = { username: "Username", userid: "User ID", price: "Price", timestamp: "Timestamp", apikey: "API key", token: "Sign-in token", "Idempotency-Key": "Idempotency-Key" };
const SECRETS = ["apikey", "token"];
const buyButton = $("buy");
const listButton = $("list");
// The user is remembered on this device (localStorage); the API key and the
// token only in this tab (sessionStorage): they should not outlive the session.
const STORE = { username: "shop.username", userid: "shop.userid", apikey: "shop.apikey", token: "shop.token" };

let lastAttempt = null; // {body, key}: a failed purchase that may be retried as itself
let busy = false;
// timestampSet: the shopper chose the timestamp (or a retry must keep it);
// otherwise Buy stamps the purchase with the moment it is sent.
let timestampSet = false;

// checks, field by field, mirror the server's; each returns a problem or "".
const checks = {
  username: () => checkText(fields.username.value, MAX_USERNAME),
  userid: () => checkText(fields.userid.value, MAX_USERID),
  price: () => parsePrice(fields.price.value.trim()).problem || "",
  timestamp: () => parseTimestamp(fields.timestamp.value, fields.timestamp.validity.badInput).problem || "",
  // Only printable ASCII can go into the Authorization header.
  apikey: () => printable(fields.apikey.value),
  token: () => printable(fields.token.value),
};

function printable(v) {
  return /^[\x20-\x7e]*$/.test(v.trim()) ? "" : "must contain only printable ASCII characters";
}

function setFieldError(name, problem) {
  $(`${name}-error`).textContent = problem ? `${labels[name]} ${problem}.` : "";
  if (problem) fields[name].setAttribute("aria-invalid", "true");
  else fields[name].removeAttribute("aria-invalid");
}

// showProblems marks the fields named in problems, says what is wrong with
// anything else in the form-wide message, and focuses the first bad field.
function showProblems(problems, message = "") {
  const other = [];
  for (const name of Object.keys(fields)) setFieldError(name, problems[name] || "");
  for (const [k, v] of Object.entries(problems)) if (!(k in fields)) other.push(`${labels[k] || k} ${v}.`);
  $("form-error").textContent = [message, ...other].filter(Boolean).join(" ");
  const first = Object.keys(fields).find((n) => problems[n]);
  if (first) fields[first].focus();
}

function validate(names) {
  const problems = {};
  for (const n of names) {
    const p = checks[n]();
    if (p) problems[n] = p;
  }
  return problems;
}

function remember() {
  try {
    localStorage.setItem(STORE.username, fields.username.value);
    localStorage.setItem(STORE.userid, fields.userid.value);
  } catch { /* storage is off: nothing to remember with */ }
  showWelcome(false);
}

// showWelcome says who is remembered on this device, with a way out.
function showWelcome(returning) {
  let name = "";
  try { name = localStorage.getItem(STORE.username) || ""; } catch { /* storage is off */ }
  $("welcome").hidden = name === "";
  $("welcome-text").textContent = !name ? "" : returning ? `Welcome back, ${name}.` : `Remembered as ${name}.`;
}

// saveKey makes the token, else the API key, the credential the page sends,
// and keeps both for this tab; an empty field forgets its value.
function saveKey() {
  const value = (name) => checks[name]() ? "" : fields[name].value.trim();
  useCredential(value("token") || value("apikey"));
  for (const name of SECRETS) {
    try {
      if (value(name)) sessionStorage.setItem(STORE[name], value(name));
      else sessionStorage.removeItem(STORE[name]);
    } catch { /* storage is off: the value lives in the field */ }
  }
  $("forget-key").hidden = fields.apikey.value === "";
  $("forget-token").hidden = fields.token.value === "";
}

function clearKey(name = "apikey") {
  fields[name].value = "";
  setFieldError(name, "");
  saveKey();
}

// sentField names the field whose credential the page sends.
const sentField = () => (fields.token.value.trim() && !checks.token() ? "token" : "apikey");

// showKeyError puts the shop's refusal (401) next to the credential that was
// sent, and a 403 (a token that is not this user's) next to the username.
function showKeyError(err, focus = true) {
  showProblems({});
  const name = err.status === 403 ? "username" : sentField();
  const m = err.message;
  $(`${name}-error`).textContent = m.charAt(0).toUpperCase() + m.slice(1) + (/[.!?]$/.test(m) ? "" : ".");
  fields[name].setAttribute("aria-invalid", "true");
  if (focus) fields[name].focus();
}

function setBusy(button, on, text) {
  busy = on;
  button.setAttribute("aria-busy", String(on));
  button.classList.toggle("is-busy", on);
  if (text) button.textContent = text;
}

async function onBuy(event) {
  event.preventDefault();
  if (busy) return; // one purchase at a time: a double click is one click
  $("buy-status").replaceChildren();
  if (!timestampSet) fields.timestamp.value = toLocalInput(new Date());
  const problems = validate(Object.keys(fields));
  if (Object.keys(problems).length > 0) {
    showProblems(problems, "Please correct the marked fields.");
    return;
  }
  showProblems({});
  saveKey();
  const ts = parseTimestamp(fields.timestamp.value).iso;
  const purchase = { username: fields.username.value, userid: fields.userid.value, price: fields.price.value.trim() };
  if (ts) purchase.timestamp = ts;
  const body = JSON.stringify(purchase);
  const key = lastAttempt?.body === body ? lastAttempt.key : newIdempotencyKey();
  lastAttempt = { body, key };
  setBusy(buyButton, true, "Buying…");
  try {
    const id = await buy(purchase, key);
    lastAttempt = null;
    remember();
    showBought(id, purchase.price);
    fields.price.value = "";
    setTimestampNow();
    showPurchases(purchase.username, { id, timestamp: ts }).catch(showListError);
  } catch (err) {
    if (!(err instanceof APIError)) throw err;
    showBuyError(err);
  } finally {
    setBusy(buyButton, false, "Buy");
  }
}

// showBuyError explains a refused or failed purchase. One that may have gone
// through, or was only turned away for now (429, 503), keeps its key and
// timestamp, so that Buy retries it as itself. A refused API key leaves the
// attempt as it was: the shop did not look at it.
function showBuyError(err) {
  if (err.status === 401 || err.status === 403) {
    showKeyError(err);
    return;
  }
  if (err.retryable) {
    timestampSet = true;
    const why = err.status !== 429 ? err.message
      : `Too many purchases; retry in ${err.retryAfter === null ? "a moment" : `${err.retryAfter} s`}.`;
    showProblems(err.fields, `${why} Choose Buy to try again; it will not be bought twice.`);
    return;
  }
  lastAttempt = null;
  const onFields = Object.keys(err.fields).some((k) => k in fields);
  showProblems(err.fields, onFields ? "The shop refused this purchase: please correct the marked fields." : err.message);
}

function setTimestampNow() {
  fields.timestamp.value = toLocalInput(new Date());
  timestampSet = false;
  setFieldError("timestamp", "");
}

function showBought(id, price) {
  const code = document.createElement("code");
  code.id = "purchase-id";
  code.textContent = id;
  const strong = document.createElement("strong");
  strong.textContent = "Purchase accepted.";
  $("buy-status").replaceChildren(strong, ` ${formatCents(parsePrice(price).cents)} for ${fields.username.value}. ID `, code);
}

function onList() {
  const problems = validate(["username", ...SECRETS]);
  showProblems(problems);
  if (Object.keys(problems).length > 0) return;
  $("form-error").textContent = "";
  saveKey();
  remember();
  showPurchases(fields.username.value).catch(showListError);
}

// showListError puts a failed getAllUserBuys next to the form, like Buy's;
// a slow history (504) is said above the list only: the form is fine.
function showListError(err, focus = true) {
  if (!(err instanceof APIError)) throw err;
  if (err.status === 401 || err.status === 403) showKeyError(err, focus);
  else if (err.status !== 504) showProblems(err.fields, err.message);
}

// onForget forgets the user on this device, and the API key and token with them.
function onForget() {
  try {
    localStorage.removeItem(STORE.username);
    localStorage.removeItem(STORE.userid);
  } catch { /* storage is off */ }
  fields.username.value = "";
  fields.userid.value = "";
  clearKey("apikey");
  clearKey("token");
  showWelcome(false);
  fields.username.focus();
}

// A field marked invalid is cleared as soon as its value is right again.
function onInput(event) {
  const name = event.target.name;
  if (name === "timestamp") timestampSet = true;
  if (SECRETS.includes(name)) saveKey();
  if (name in checks && event.target.getAttribute("aria-invalid") === "true" && !checks[name]()) {
    setFieldError(name, "");
  }
}

function start() {
  fields.timestamp.value = toLocalInput(new Date());
  $("timestamp-hint").textContent = `Your local time (${zoneLabel()}), sent as UTC. Until you change it, Buy uses the current time.`;
  try {
    fields.username.value = localStorage.getItem(STORE.username) || "";
    fields.userid.value = localStorage.getItem(STORE.userid) || "";
    for (const name of SECRETS) fields[name].value = sessionStorage.getItem(STORE[name]) || "";
  } catch { /* storage is off */ }
  saveKey();
  showWelcome(true);
  form.addEventListener("submit", onBuy);
  form.addEventListener("input", onInput);
  listButton.addEventListener("click", onList);
  $("forget").addEventListener("click", onForget);
  $("now").addEventListener("click", setTimestampNow);
  $("forget-key").addEventListener("click", () => { clearKey("apikey"); fields.apikey.focus(); });
  $("forget-token").addEventListener("click", () => { clearKey("token"); fields.token.focus(); });
  // Shown without a click, so a refused key is marked but does not take the focus.
  if (fields.username.value && !checks.username()) showPurchases(fields.username.value).catch((err) => showListError(err, false));
}

start();
