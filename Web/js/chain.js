// The option chain table: calls left, strike in the middle, puts right; in-the-money shading; live bid/ask
// merged over the snapshot's values for subscribed contracts, with a flash on change. Live updates are
// batched per animation frame and touch only the cells that changed.

import { formatGreek, formatPrice, formatVolume } from "./format.js";

const COLUMNS = [
  { key: "bid", label: "Bid", format: (v) => formatPrice(v) },
  { key: "ask", label: "Ask", format: (v) => formatPrice(v) },
  { key: "last", label: "Last", format: (v) => formatPrice(v) },
  { key: "volume", label: "Vol", format: formatVolume },
  { key: "openInterest", label: "OI", format: formatVolume },
  { key: "iv", label: "IV", format: (v) => (v == null || !Number.isFinite(v) ? "—" : `${(v * 100).toFixed(1)}%`) },
  { key: "delta", label: "Δ", format: (v) => formatGreek(v, 2) },
  { key: "gamma", label: "Γ", format: (v) => formatGreek(v, 3), optional: true },
  { key: "theta", label: "Θ", format: (v) => formatGreek(v, 2), optional: true },
  { key: "vega", label: "V", format: (v) => formatGreek(v, 2), optional: true },
];
const LIVE_FIELDS = ["bid", "ask"];
const LIVE_SILENCE_MS = 15000;

export class ChainTable {
  constructor(table, { onSelect }) {
    this.table = table;
    this.onSelect = onSelect;
    this.showGreeks = false;
    this.rows = [];
    this.cells = new Map(); // ticker → { field → td }
    this.legs = new Map(); // ticker → leg
    this.live = new Map(); // ticker → latest live quote (the liveChainQuotes map)
    this.pending = new Map();
    this.frame = 0;
    this.selected = null;
    this.underlyingPrice = null;
    this.received = new Map(); // ticker → performance.now() of its last live quote
    // A live dot means quotes are arriving now: one that has not ticked for a while turns stale.
    setInterval(() => this.sweep(), 1000);
    table.addEventListener("click", (event) => {
      const cell = event.target.closest("td[data-ticker]");
      if (cell) this.onSelect(cell.dataset.ticker);
    });
    table.addEventListener("keydown", (event) => {
      const row = event.target.closest("tr[data-strike]");
      if (!row) return;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const next = event.key === "ArrowDown" ? row.nextElementSibling : row.previousElementSibling;
        next?.focus();
      } else if (event.key === "Enter" || event.key === "c" || event.key === "p") {
        const side = event.key === "p" ? "put" : "call";
        const ticker = row.dataset[side];
        if (ticker) this.onSelect(ticker);
      }
    });
  }

  columns() {
    return COLUMNS.filter((column) => this.showGreeks || !column.optional);
  }

  /// Renders one expiration of a chain response.
  render(expiration, underlyingPrice) {
    this.underlyingPrice = underlyingPrice;
    this.cells.clear();
    this.legs.clear();
    const columns = this.columns();
    const head = `<thead><tr class="sides"><th colspan="${columns.length}">Calls</th><th></th><th colspan="${columns.length}">Puts</th></tr><tr>${columns
      .slice()
      .reverse()
      .map((c) => `<th>${c.label}</th>`)
      .join("")}<th class="strike">Strike</th>${columns.map((c) => `<th>${c.label}</th>`).join("")}</tr></thead>`;
    const body = document.createElement("tbody");
    const strikes = expiration?.strikes ?? [];
    let atmIndex = -1;
    if (underlyingPrice != null && strikes.length) {
      let best = Infinity;
      strikes.forEach((row, index) => {
        const distance = Math.abs(row.strike - underlyingPrice);
        if (distance < best) {
          best = distance;
          atmIndex = index;
        }
      });
    }
    strikes.forEach((row, index) => {
      const tr = document.createElement("tr");
      tr.dataset.strike = String(row.strike);
      tr.tabIndex = 0;
      if (index === atmIndex) tr.classList.add("atm");
      if (row.call) tr.dataset.call = row.call.ticker;
      if (row.put) tr.dataset.put = row.put.ticker;
      const callITM = underlyingPrice != null && row.strike < underlyingPrice;
      const putITM = underlyingPrice != null && row.strike > underlyingPrice;
      for (const column of columns.slice().reverse()) tr.append(this.cell(row.call, column, callITM));
      const strike = document.createElement("td");
      strike.className = "strike";
      strike.textContent = formatPrice(row.strike);
      tr.append(strike);
      for (const column of columns) tr.append(this.cell(row.put, column, putITM));
      body.append(tr);
    });
    this.table.innerHTML = head;
    this.table.append(body);
    this.table.dataset.strikes = String(strikes.length);
    this.table.dataset.atm = atmIndex >= 0 ? String(strikes[atmIndex].strike) : "";
    for (const [ticker, quote] of this.live) this.applyQuote(ticker, quote, false);
    this.markSelected(this.selected);
    const atmRow = body.children[atmIndex];
    if (atmRow) atmRow.scrollIntoView({ block: "center" });
  }

  cell(leg, column, itm) {
    const td = document.createElement("td");
    td.className = `num ${column.key}${itm ? " itm" : ""}`;
    if (!leg) {
      td.textContent = "";
      return td;
    }
    td.dataset.ticker = leg.ticker;
    td.dataset.field = column.key;
    td.textContent = column.format(leg[column.key]);
    if (column.key === "iv" && leg.greeksSource === "computed") td.title = "computed from the mid price";
    let entry = this.cells.get(leg.ticker);
    if (!entry) {
      entry = {};
      this.cells.set(leg.ticker, entry);
      this.legs.set(leg.ticker, leg);
    }
    entry[column.key] = td;
    return td;
  }

  markSelected(ticker) {
    this.selected = ticker;
    for (const element of this.table.querySelectorAll("td.selected")) element.classList.remove("selected");
    const entry = ticker ? this.cells.get(ticker) : null;
    if (entry) for (const td of Object.values(entry)) td.classList.add("selected");
  }

  /// A live quote for a subscribed contract; applied on the next animation frame.
  queueQuote(quote) {
    this.live.set(quote.symbol, quote);
    this.received.set(quote.symbol, performance.now());
    this.pending.set(quote.symbol, quote);
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      const batch = this.pending;
      this.pending = new Map();
      for (const [ticker, pendingQuote] of batch) this.applyQuote(ticker, pendingQuote, true);
    });
  }

  applyQuote(ticker, quote, flash) {
    const entry = this.cells.get(ticker);
    if (!entry) return;
    for (const field of LIVE_FIELDS) {
      const td = entry[field];
      const value = quote[field];
      if (!td || value == null) continue;
      const text = formatPrice(value);
      if (td.textContent !== text) {
        const before = Number(td.dataset.value);
        td.textContent = text;
        td.dataset.value = String(value);
        if (flash && Number.isFinite(before)) {
          td.animate(
            [{ backgroundColor: value > before ? "rgba(38,166,154,0.45)" : "rgba(239,83,80,0.45)" }, { backgroundColor: "transparent" }],
            { duration: 600, easing: "ease-out" },
          );
        }
      }
      td.dataset.value = String(value);
    }
    const live = quote.freshness === "live";
    for (const td of Object.values(entry)) {
      td.classList.toggle("live", live);
      td.classList.toggle("stale", quote.freshness === "stale");
      td.classList.toggle("frozen", quote.freshness === "frozen");
    }
    if (entry.bid) entry.bid.dataset.live = live ? "true" : "false";
  }

  sweep(now = performance.now()) {
    for (const [ticker, quote] of this.live) {
      if (quote.freshness !== "live" || now - (this.received.get(ticker) ?? 0) < LIVE_SILENCE_MS) continue;
      const stale = { ...quote, freshness: "stale" };
      this.live.set(ticker, stale);
      this.applyQuote(ticker, stale, false);
    }
  }

  /// A symbol left the live window: forget its live values and show the snapshot's again.
  dropLive(ticker) {
    this.live.delete(ticker);
    this.received.delete(ticker);
    this.pending.delete(ticker);
    const entry = this.cells.get(ticker);
    const leg = this.legs.get(ticker);
    if (!entry) return;
    for (const field of LIVE_FIELDS) {
      if (entry[field] && leg) {
        entry[field].textContent = formatPrice(leg[field]);
        delete entry[field].dataset.value;
      }
    }
    for (const td of Object.values(entry)) td.classList.remove("live", "stale", "frozen");
    if (entry.bid) entry.bid.dataset.live = "false";
  }

  /// Marks every live value stale (the stream went away).
  markAllStale() {
    for (const [ticker, quote] of this.live) {
      const stale = { ...quote, freshness: quote.freshness === "frozen" ? "frozen" : "stale" };
      this.live.set(ticker, stale);
      this.applyQuote(ticker, stale, false);
    }
  }
}

/// The bid-ask matrix strategy: only the near-the-money window plus the selected contract are subscribed;
/// contracts that leave the window are unsubscribed and their live entries removed.
export function nearTheMoneyWindow(expiration, underlyingPrice, width) {
  const strikes = expiration?.strikes ?? [];
  if (!strikes.length) return [];
  let center = 0;
  if (underlyingPrice != null) {
    let best = Infinity;
    strikes.forEach((row, index) => {
      const distance = Math.abs(row.strike - underlyingPrice);
      if (distance < best) {
        best = distance;
        center = index;
      }
    });
  } else {
    center = Math.floor(strikes.length / 2);
  }
  const tickers = [];
  for (let i = Math.max(0, center - width); i <= Math.min(strikes.length - 1, center + width); i++) {
    if (strikes[i].call) tickers.push(strikes[i].call.ticker);
    if (strikes[i].put) tickers.push(strikes[i].put.ticker);
  }
  return tickers;
}

export class LiveSubscriptions {
  constructor(socket, { onDrop }) {
    this.socket = socket;
    this.onDrop = onDrop;
    this.wanted = new Set();
    this.active = new Set();
  }

  /// Sets what should be streamed; subscribes what is new, unsubscribes what left.
  set(symbols) {
    const next = new Set(symbols.filter(Boolean));
    for (const symbol of this.wanted) {
      if (!next.has(symbol)) {
        if (this.active.has(symbol)) this.socket.emit("live:unsubscribe", { symbol });
        this.active.delete(symbol);
        this.onDrop(symbol);
      }
    }
    this.wanted = next;
    this.sync();
  }

  /// Subscribes everything wanted that is not active (after a reconnect, nothing is).
  sync() {
    if (!this.socket.connected) return;
    for (const symbol of this.wanted) {
      if (this.active.has(symbol)) continue;
      this.active.add(symbol);
      this.socket
        .request("live:subscribe", { symbol })
        .then((ack) => {
          if (ack && ack.ok === false) {
            this.active.delete(symbol);
            this.onDrop(symbol, ack);
          }
        })
        .catch(() => this.active.delete(symbol));
    }
  }

  reset() {
    this.active.clear();
  }
}
