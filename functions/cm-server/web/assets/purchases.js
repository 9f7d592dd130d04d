// purchases.js: the purchases card. The table pages through the API with its
// cursors (a stack of them, so "Newer" goes back); the total, the count and
// the chart cover every purchase of the user.

import { allUserBuys, userBuys } from "./api.js";
import { drawChart } from "./chart.js";
import { centsOf, formatCents } from "./rules.js";

const PAGE_SIZE = 10;
const POLL_TRIES = 10; // a new purchase shows up within a second or so
const POLL_DELAY_MS = 400;
const CHART_HEIGHT = 190;

const $ = (id) => document.getElementById(id);
const when = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const day = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });

let view = null; // what the card shows: {username, cursors, index, count, controller}
let pending = null; // {username, id, timestamp}: bought here, not yet seen in a list
let chartPoints = [];

const sleep = (ms, signal) => new Promise((resolve, reject) => {
  const timer = setTimeout(resolve, ms);
  signal.addEventListener("abort", () => { clearTimeout(timer); reject(signal.reason); }, { once: true });
});

// TOO_SLOW is what a 504 means to a shopper: the history service (or its
// store) did not answer in time, and asking again may well work.
const TOO_SLOW = "The purchase history is taking too long; try again.";

// showPurchases shows username's newest purchases. With bought (the id and
// timestamp of a purchase just made) it waits, briefly, for that purchase to
// arrive. It rejects with an APIError when the shop cannot answer.
export async function showPurchases(username, bought) {
  if (bought) pending = { username, ...bought };
  view?.controller.abort();
  const v = { username, cursors: [""], index: 0, count: null, controller: new AbortController() };
  view = v;
  $("buys-heading").textContent = `Purchases of ${username}`;
  setStatus("Loading…");
  try {
    await loadPage(v);
    await loadSummary(v);
  } catch (err) {
    if (err?.name === "AbortError") return;
    if (v === view) {
      const why = { 401: "The shop needs an API key or a sign-in token to show the purchases.",
        403: `This sign-in token may not see the purchases of ${username}.`, 504: TOO_SLOW }[err?.status];
      setStatus(why || "The purchases could not be loaded.", true);
    }
    throw err;
  }
}

function setStatus(text, isError = false) {
  const s = $("buys-status");
  s.textContent = text;
  s.classList.toggle("is-error", isError);
}

// arrived says whether the pending purchase is on page, or cannot be: a full
// page of purchases newer than it.
function arrived(page) {
  if (page.purchases.some((p) => p._id === pending.id)) return true;
  const last = page.purchases[page.purchases.length - 1];
  return page.purchases.length >= PAGE_SIZE && pending.timestamp !== "" && pending.timestamp < last.timestamp;
}

async function loadPage(v) {
  const signal = v.controller.signal;
  const waiting = v.index === 0 && pending?.username === v.username ? pending : null;
  let page;
  for (let i = 1; ; i++) {
    page = await userBuys(v.username, { limit: PAGE_SIZE, cursor: v.cursors[v.index] }, signal);
    if (!waiting || arrived(page) || i >= POLL_TRIES) break;
    setStatus("Your purchase is on its way…");
    await sleep(POLL_DELAY_MS, signal);
  }
  if (waiting && pending === waiting) pending = null;
  v.cursors.length = v.index + 1;
  if (page.next) v.cursors.push(page.next);
  renderPage(v, page.purchases, waiting?.id);
}

function cell(content, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  td.append(content);
  return td;
}

function row(p, newID) {
  const tr = document.createElement("tr");
  tr.dataset.id = p._id;
  if (p._id === newID) tr.className = "is-new";
  const time = document.createElement("time");
  time.dateTime = p.timestamp;
  time.title = p.timestamp;
  time.textContent = when.format(new Date(p.timestamp));
  const id = document.createElement("code");
  id.textContent = p._id;
  id.title = p._id;
  tr.append(cell(time), cell(formatCents(centsOf(p.price)), "num"), cell(p.userid, "col-userid"), cell(id, "col-id"));
  return tr;
}

function renderPage(v, purchases, newID) {
  if (purchases.length === 0 && v.index === 0) {
    $("buys-body").hidden = true;
    setStatus(`No purchases for ${v.username} yet.`);
    return;
  }
  $("buys-rows").replaceChildren(...purchases.map((p) => row(p, newID)));
  const first = v.index * PAGE_SIZE + 1;
  setStatus(`Showing ${first}–${first + purchases.length - 1}, newest first.`);
  $("buys-body").hidden = false;
  updatePager(v);
}

function updatePager(v) {
  const newer = $("newer"), older = $("older");
  const focused = document.activeElement;
  newer.disabled = v.index === 0;
  older.disabled = v.cursors.length <= v.index + 1;
  // Keep keyboard users in the pager when the button they used runs out.
  if (focused === older && older.disabled && !newer.disabled) newer.focus();
  if (focused === newer && newer.disabled && !older.disabled) older.focus();
  const pages = v.count === null ? 0 : Math.max(1, Math.ceil(v.count / PAGE_SIZE));
  $("page-label").textContent = pages ? `Page ${v.index + 1} of ${pages}` : `Page ${v.index + 1}`;
}

async function loadSummary(v) {
  const { purchases, complete } = await allUserBuys(v.username, v.controller.signal);
  if (v !== view) return;
  const total = purchases.reduce((sum, p) => sum + centsOf(p.price), 0);
  v.count = complete ? purchases.length : null;
  $("total").textContent = formatCents(total);
  $("count").textContent = purchases.length.toLocaleString("en-US") + (complete ? "" : "+");
  $("latest").textContent = purchases.length ? day.format(new Date(purchases[0].timestamp)) : "–";
  $("total").previousElementSibling.textContent = complete ? "Total spent" : `Total of the latest ${purchases.length.toLocaleString("en-US")}`;
  chartPoints = purchases.map((p) => ({ time: new Date(p.timestamp), cents: centsOf(p.price) })).reverse();
  drawCurrentChart();
  updatePager(v);
}

function drawCurrentChart() {
  const svg = $("chart");
  const width = Math.floor(svg.parentElement.clientWidth);
  if (width > 0) drawChart(svg, chartPoints, width, CHART_HEIGHT);
}

async function page(step) {
  const v = view;
  if (!v || v.paging) return;
  v.paging = true;
  v.index += step;
  try {
    await loadPage(v);
  } catch (err) {
    if (err?.name === "AbortError") return;
    v.index -= step;
    setStatus(err?.status === 504 ? TOO_SLOW : `The page could not be loaded: ${err.message}`, true);
  } finally {
    v.paging = false;
  }
}

$("newer").addEventListener("click", () => page(-1));
$("older").addEventListener("click", () => page(+1));
new ResizeObserver(drawCurrentChart).observe($("chart").parentElement);
