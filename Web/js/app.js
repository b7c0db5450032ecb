// The MarketHub trading screen: wires the REST API, the Socket.IO connection, the chart, the option chain
// with its live bid/ask window, the tape, the watchlist and the status indicators.

import { api } from "./api.js";
import { CandleChart, DEFAULT_INDICATORS } from "./chart.js";
import { ChainTable, LiveSubscriptions, nearTheMoneyWindow } from "./chain.js";
import {
  describeOption,
  formatGreek,
  formatPercent,
  formatPrice,
  formatSeconds,
  formatSigned,
  formatVolume,
  optionUnderlying,
} from "./format.js";
import { SocketClient } from "./socketio.js";

const TIMEFRAMES = {
  "1m": { multiplier: 1, timespan: "minute", intraday: true },
  "5m": { multiplier: 5, timespan: "minute", intraday: true },
  "15m": { multiplier: 15, timespan: "minute", intraday: true },
  "1h": { multiplier: 1, timespan: "hour", intraday: false },
  "1D": { multiplier: 1, timespan: "day", intraday: false },
};
const OPTION = /^O:[A-Z.]{1,6}\d{6}[CP]\d{8}$/;
const STOCK = /^(I:)?[A-Z][A-Z0-9.]{0,9}$/;
const params = new URLSearchParams(window.location.search);
const REFRESH_MS = Number(params.get("refresh")) || 15000;
const WATCHLIST_MS = Number(params.get("watchlistRefresh")) || 5000;
const LIVE_STALE_MS = 5000;
const TAPE_ROWS = 50;

const $ = (id) => document.getElementById(id);

function loadPreferences() {
  try {
    return JSON.parse(localStorage.getItem("markethub.preferences") ?? "{}");
  } catch {
    return {};
  }
}

const preferences = loadPreferences();
const state = {
  underlying: "SPY",
  expiration: null,
  contract: null,
  chartTarget: preferences.chartTarget === "contract" ? "contract" : "underlying",
  timeframe: TIMEFRAMES[preferences.timeframe] ? preferences.timeframe : "1D",
  sessionMode: preferences.sessionMode === "extended" ? "extended" : "regular",
  strikeWindow: Number.isInteger(preferences.strikeWindow) ? preferences.strikeWindow : 10,
  liveWindow: Number.isInteger(preferences.liveWindow) ? preferences.liveWindow : 4,
  indicators: { ...DEFAULT_INDICATORS, ...(preferences.indicators ?? {}) },
  watchlist: Array.isArray(preferences.watchlist) && preferences.watchlist.length ? preferences.watchlist : ["SPY", "QQQ", "AAPL"],
  chain: null,
  chartToken: 0,
  chainToken: 0,
  health: new Map(),
  frozen: new Map(),
  marketStatus: null,
  lastQuoteAt: 0,
  selectedQuote: null,
  tape: [],
};

function savePreferences() {
  const { chartTarget, timeframe, sessionMode, strikeWindow, liveWindow, indicators, watchlist } = state;
  localStorage.setItem(
    "markethub.preferences",
    JSON.stringify({ chartTarget, timeframe, sessionMode, strikeWindow, liveWindow, indicators, watchlist }),
  );
}

// MARK: Status indicators

function toast(message, tone = "error") {
  const element = document.createElement("div");
  element.className = `toast ${tone}`;
  element.textContent = message;
  $("toasts").append(element);
  setTimeout(() => element.remove(), 6000);
  while ($("toasts").children.length > 4) $("toasts").firstChild.remove();
}

/// Health comes from several places (chart, chain, quotes); the badge shows while any says degraded.
function setHealth(source, health, note) {
  state.health.set(source, { health, note });
  const degraded = [...state.health.entries()].filter(([, value]) => value.health === "degraded");
  const badge = $("badge-degraded");
  badge.hidden = degraded.length === 0;
  badge.title = degraded.map(([key, value]) => `${key}: ${value.note ?? "degraded"}`).join("\n");
  document.body.dataset.degraded = degraded.length ? "true" : "false";
}

function setFrozen(source, frozen) {
  state.frozen.set(source, frozen);
  const any = [...state.frozen.values()].some(Boolean);
  $("badge-frozen").hidden = !any;
  document.body.dataset.frozen = any ? "true" : "false";
}

function applySessionMeta(meta, source) {
  if (!meta) return;
  if (meta.health) setHealth(source, meta.health, meta.note);
  setFrozen(source, Boolean(meta.usingLastSession));
  if (meta.marketStatus) state.marketStatus = meta.marketStatus;
  const banner = $("market-banner");
  const status = meta.marketStatus;
  let text = "";
  if (meta.marketClosed || status?.market === "closed") {
    text = meta.usingLastSession ? "Market closed · last session" : "Market closed";
  } else if (meta.afterHours || status?.afterHours) {
    text = "After hours";
  } else if (status?.earlyHours) {
    text = "Pre-market";
  }
  banner.textContent = text;
  banner.hidden = text === "";
  banner.dataset.kind = text ? (text.startsWith("Market closed") ? "closed" : "extended") : "";
}

// MARK: Socket

const socket = new SocketClient(window.location.origin, {
  transports: params.get("transport") === "polling" ? ["polling"] : ["websocket", "polling"],
  auth: params.get("token") ? { token: params.get("token") } : null,
});
const chart = new CandleChart($("chart"));
const chain = new ChainTable($("chain"), { onSelect: (ticker) => selectContract(ticker) });
const live = new LiveSubscriptions(socket, {
  onDrop: (symbol, refusal) => {
    chain.dropLive(symbol);
    if (refusal) toast(`${symbol}: ${refusal.message ?? refusal.error}`);
  },
});

socket.on("state", ({ state: connection, transport, attempt }) => {
  const element = $("connection");
  element.dataset.state = connection;
  element.querySelector(".label").textContent =
    connection === "connected"
      ? `Live · ${transport}`
      : connection === "reconnecting"
        ? `Reconnecting${attempt > 1 ? ` (${attempt})` : ""}`
        : connection[0].toUpperCase() + connection.slice(1);
});

socket.on("connect", () => {
  live.reset();
  live.sync();
  focusChart();
});

socket.on("disconnect", () => {
  chain.markAllStale();
  updateLiveDot();
  if (TIMEFRAMES[state.timeframe].intraday) setHealth("stream", "degraded", "disconnected from the server");
});

socket.on("live:quote", (quote) => {
  if (!quote || typeof quote.symbol !== "string") return;
  if (live.wanted.has(quote.symbol)) chain.queueQuote(quote);
  if (quote.symbol === state.contract) {
    state.selectedQuote = { ...state.selectedQuote, ...quote };
    state.lastQuoteAt = quote.freshness === "live" ? performance.now() : 0;
    renderQuoteCard();
  }
  if (quote.symbol === state.underlying) renderUnderlyingQuote(quote);
});

socket.on("live:trades", (message) => {
  if (!message || message.symbol !== state.contract || !Array.isArray(message.trades)) return;
  addTrades(message.trades);
});

socket.on("live:error", (error) => {
  if (!error) return;
  if (error.symbol) chain.dropLive(error.symbol);
  if (error.symbol) live.active.delete(error.symbol);
  toast(`${error.symbol ?? "live"}: ${error.message ?? error.code}`);
});

socket.on("chart:snapshot", (snapshot) => {
  if (!snapshot || snapshot.symbol !== chartSymbol() || snapshot.timeframe !== state.timeframe) return;
  renderChartPayload(snapshot, "chart");
});

socket.on("chart:update", (update) => {
  if (!update || update.symbol !== chartSymbol() || update.timeframe !== state.timeframe) return;
  if (Array.isArray(update.bars)) chart.upsertBars(update.bars);
  if (update.health) setHealth("stream", update.health, update.note ?? "stream interrupted");
});

socket.on("chart:error", (error) => {
  if (!error || error.symbol !== chartSymbol()) return;
  setHealth("stream", "degraded", error.message);
  toast(`Chart: ${error.message ?? error.code}`);
});

// MARK: Chart

function chartSymbol() {
  return state.chartTarget === "contract" && state.contract ? state.contract : state.underlying;
}

function renderChartPayload(payload, source) {
  const timeframe = TIMEFRAMES[state.timeframe];
  const symbol = chartSymbol();
  const result = payload.resultTicker && payload.resultTicker !== symbol ? ` · bars of ${payload.resultTicker}` : "";
  chart.setBars(Array.isArray(payload.bars) ? payload.bars : [], {
    intraday: timeframe.intraday,
    title: `${OPTION.test(symbol) ? describeOption(symbol) : symbol} · ${state.timeframe}`,
  });
  if (!payload.bars?.length) chart.showMessage(payload.note ?? "No bars for this range");
  applySessionMeta(payload, source);
  if (source === "chart" && timeframe.intraday) setHealth("stream", payload.health ?? "ok", payload.note);
  const parts = [];
  if (payload.resultGranularity && payload.resultGranularity !== `${timeframe.multiplier}/${timeframe.timespan}`) {
    parts.push(`showing ${payload.resultGranularity}`);
  }
  if (result) parts.push(result.slice(3));
  if (payload.note) parts.push(payload.note);
  $("chart-meta").textContent = parts.join(" · ");
  $("chart").dataset.symbol = symbol;
  $("chart").dataset.timeframe = state.timeframe;
  $("chart").dataset.resultTicker = payload.resultTicker ?? symbol;
}

let chartRefreshTimer = 0;

/// Loads the chart for the current symbol and timeframe. Intraday bars come from the chart hub's
/// snapshot and updates; 1h and 1D come from REST and are refreshed periodically. With the socket down,
/// REST serves intraday too, so the chart is never blank while something is cached.
async function loadChart() {
  const token = ++state.chartToken;
  clearTimeout(chartRefreshTimer);
  const timeframe = TIMEFRAMES[state.timeframe];
  const symbol = chartSymbol();
  for (const button of $("timeframes").children) button.classList.toggle("active", button.dataset.tf === state.timeframe);
  for (const button of $("session-mode").children) button.classList.toggle("active", button.dataset.session === state.sessionMode);
  for (const button of $("chart-target").children) {
    button.classList.toggle("active", button.dataset.target === state.chartTarget);
    button.disabled = button.dataset.target === "contract" && !state.contract;
  }
  state.health.delete("stream");
  focusChart();
  if (timeframe.intraday && socket.connected) return;
  try {
    const payload = await api.aggs({
      ticker: symbol,
      multiplier: timeframe.multiplier,
      timespan: timeframe.timespan,
      sessionMode: state.sessionMode,
    });
    if (token !== state.chartToken) return;
    renderChartPayload(payload, "chart");
  } catch (error) {
    if (token !== state.chartToken) return;
    if (error.status === 429 || error.status === 503) setHealth("chart", "degraded", error.message);
    chart.showMessage(error.message);
    if (!chart.bars.length) chart.setBars([], {});
    chart.showMessage(`Chart unavailable: ${error.message}`);
  }
  if (token !== state.chartToken) return;
  chartRefreshTimer = setTimeout(() => {
    if (token === state.chartToken) loadChart();
  }, REFRESH_MS);
}

function focusChart() {
  if (!socket.connected) return;
  const symbol = chartSymbol();
  const timeframe = state.timeframe;
  socket
    .request("chart:focus", { symbol, timeframe, sessionMode: state.sessionMode })
    .then((ack) => {
      if (ack && ack.ok === false && symbol === chartSymbol()) toast(`Chart: ${ack.message ?? ack.error}`);
    })
    .catch(() => {});
}

// MARK: Chain

async function loadExpirations() {
  const underlying = state.underlying;
  try {
    const response = await api.expirations(underlying);
    if (underlying !== state.underlying) return;
    const dates = (response.expirations ?? []).map((entry) => (typeof entry === "string" ? { date: entry } : entry));
    if (!dates.some((entry) => entry.date === state.expiration)) state.expiration = dates[0]?.date ?? null;
    const tabs = $("expirations");
    tabs.replaceChildren(
      ...dates.slice(0, 12).map((entry) => {
        const button = document.createElement("button");
        button.role = "tab";
        button.dataset.expiration = entry.date;
        button.textContent = `${entry.date.slice(5)}${entry.daysToExpiry != null ? ` (${entry.daysToExpiry}d)` : ""}`;
        button.classList.toggle("monthly", Boolean(entry.monthly));
        button.setAttribute("aria-selected", String(entry.date === state.expiration));
        button.addEventListener("click", () => {
          state.expiration = entry.date;
          for (const other of tabs.children) other.setAttribute("aria-selected", String(other === button));
          loadChain();
        });
        return button;
      }),
    );
  } catch (error) {
    toast(`Expirations for ${underlying}: ${error.message}`);
  }
}

let chainRefreshTimer = 0;

async function loadChain() {
  const token = ++state.chainToken;
  clearTimeout(chainRefreshTimer);
  const underlying = state.underlying;
  try {
    const response = await api.chain(underlying, {
      expiration: state.expiration ?? undefined,
      strikes: state.strikeWindow > 0 ? state.strikeWindow : undefined,
    });
    if (token !== state.chainToken) return;
    state.chain = response;
    const expiration = response.expirations?.find((entry) => entry.expiration === state.expiration) ?? response.expirations?.[0];
    if (expiration && !state.expiration) state.expiration = expiration.expiration;
    chain.render(expiration, response.underlyingPrice);
    applySessionMeta(response, "chain");
    $("chain-meta").textContent =
      `${underlying} ${formatPrice(response.underlyingPrice)}` +
      (response.note ? ` · ${response.note}` : "") +
      (response.source ? ` · ${response.source}` : "");
    updateLiveWindow();
  } catch (error) {
    if (token !== state.chainToken) return;
    if (error.status === 429 || error.status === 503 || error.status === 0) setHealth("chain", "degraded", error.message);
    toast(`Chain for ${underlying}: ${error.message}`);
  }
  chainRefreshTimer = setTimeout(() => {
    if (token === state.chainToken) loadChain();
  }, REFRESH_MS);
}

/// The bid-ask matrix strategy: the live set is the near-the-money window plus the selected contract.
function updateLiveWindow() {
  const expiration = state.chain?.expirations?.find((entry) => entry.expiration === state.expiration) ?? state.chain?.expirations?.[0];
  const window = nearTheMoneyWindow(expiration, state.chain?.underlyingPrice, state.liveWindow);
  live.set([...window, state.contract, state.underlying]);
  $("chain").dataset.liveWindow = String(window.length);
}

// MARK: Selection, quote card, tape

async function selectContract(ticker, { persist = true } = {}) {
  if (!OPTION.test(ticker)) return;
  const chartedBefore = chartSymbol();
  state.contract = ticker;
  chain.markSelected(ticker);
  state.selectedQuote = null;
  state.lastQuoteAt = 0;
  state.tape = [];
  renderTape();
  renderQuoteCard();
  updateLiveWindow();
  state.chartTarget = "contract";
  savePreferences();
  if (chartSymbol() !== chartedBefore || !chart.bars.length) loadChart();
  const underlying = optionUnderlying(ticker) ?? state.underlying;
  if (persist) {
    api
      .saveSelection({ underlying, expiration: state.expiration, contract: ticker })
      .catch((error) => toast(`Selection not saved: ${error.message}`));
  }
  const [quote, trades, details] = await Promise.allSettled([api.quote(ticker), api.trades(ticker, TAPE_ROWS), api.contract(ticker)]);
  if (state.contract !== ticker) return;
  if (details.status === "fulfilled") state.selectedDetails = details.value;
  if (quote.status === "fulfilled" && (!state.selectedQuote || (state.selectedQuote.timestamp ?? 0) <= (quote.value.timestamp ?? 0))) {
    state.selectedQuote = { ...quote.value };
    if (quote.value.freshness === "frozen") setFrozen("quote", true);
  }
  if (trades.status === "fulfilled" && Array.isArray(trades.value.trades)) addTrades(trades.value.trades, true);
  renderQuoteCard();
  $("quote-card").dataset.contract = ticker;
}

function renderQuoteCard() {
  const card = $("quote-card");
  const ticker = state.contract;
  if (!ticker) return;
  const quote = state.selectedQuote ?? {};
  const details = state.selectedDetails?.ticker === ticker ? state.selectedDetails : {};
  const freshness = quote.freshness ?? details.freshness ?? "—";
  card.dataset.freshness = freshness;
  card.innerHTML = `
    <div class="contract-name">${describeOption(ticker)}</div>
    <div class="contract-ticker muted">${ticker}</div>
    <div class="bidask">
      <div><span class="muted">Bid</span><b id="quote-bid">${formatPrice(quote.bid ?? details.bid)}</b><small>${quote.bidSize ?? ""}</small></div>
      <div><span class="muted">Mid</span><b id="quote-mid">${formatPrice(quote.midpoint ?? details.midpoint)}</b></div>
      <div><span class="muted">Ask</span><b id="quote-ask">${formatPrice(quote.ask ?? details.ask)}</b><small>${quote.askSize ?? ""}</small></div>
    </div>
    <div class="greeks">
      <span>IV ${details.iv != null ? `${(details.iv * 100).toFixed(1)}%` : "—"}</span>
      <span>Δ ${formatGreek(details.delta, 2)}</span><span>Γ ${formatGreek(details.gamma, 3)}</span>
      <span>Θ ${formatGreek(details.theta, 2)}</span><span>V ${formatGreek(details.vega, 2)}</span>
      <span>OI ${formatVolume(details.openInterest)}</span>
      ${details.greeksSource === "computed" ? '<span class="muted">computed</span>' : ""}
    </div>
    <div class="muted small">${quote.timestamp ? formatSeconds(quote.timestamp) : ""} · <span class="freshness ${freshness}">${freshness}</span>${quote.crossed ? " · crossed" : ""}${quote.locked ? " · locked" : ""}</div>`;
  updateLiveDot();
}

function updateLiveDot() {
  const streaming = socket.connected && state.lastQuoteAt > 0 && performance.now() - state.lastQuoteAt < LIVE_STALE_MS;
  $("quote-live").hidden = !streaming;
  $("quote-card").dataset.streaming = streaming ? "true" : "false";
}
setInterval(updateLiveDot, 1000);

function addTrades(trades, replace = false) {
  const merged = replace ? [...trades, ...state.tape.slice().reverse()] : [...state.tape.slice().reverse(), ...trades];
  const seen = new Set();
  const unique = [];
  for (const trade of merged) {
    const key = `${trade.timestamp}|${trade.price}|${trade.size}|${trade.exchange}`;
    if (seen.has(key)) continue;
    seen.add(key);
    unique.push(trade);
  }
  unique.sort((a, b) => a.timestamp - b.timestamp);
  state.tape = unique.slice(-TAPE_ROWS).reverse();
  renderTape();
}

function renderTape() {
  const body = $("tape").tBodies[0];
  let previous = null;
  const rows = state.tape.map((trade, index) => {
    const next = state.tape[index + 1];
    const tone = next ? (trade.price > next.price ? "up" : trade.price < next.price ? "down" : "") : "";
    previous = trade;
    return `<tr class="${tone}"><td>${formatSeconds(trade.timestamp)}</td><td class="num">${formatPrice(trade.price)}</td><td class="num">${trade.size}</td><td class="num muted">${trade.exchange ?? ""}</td></tr>`;
  });
  body.innerHTML = rows.join("") || '<tr><td class="muted" colspan="4">No trades yet</td></tr>';
  $("tape").dataset.trades = String(state.tape.length);
  return previous;
}

function renderUnderlyingQuote(quote) {
  $("underlying-quote").innerHTML = `<b>${state.underlying}</b> <span class="muted">bid</span> ${formatPrice(quote.bid)} <span class="muted">ask</span> ${formatPrice(quote.ask)}`;
}

// MARK: Watchlist

let watchlistTimer = 0;

async function loadWatchlist() {
  clearTimeout(watchlistTimer);
  try {
    const response = await api.watchlist(state.watchlist);
    const body = $("watchlist").tBodies[0];
    body.replaceChildren(
      ...(response.items ?? []).map((item) => {
        const row = document.createElement("tr");
        row.tabIndex = 0;
        row.dataset.ticker = item.ticker;
        row.classList.toggle("active", item.ticker === state.underlying);
        const tone = (item.change ?? 0) >= 0 ? "up" : "down";
        row.innerHTML = item.error
          ? `<td>${item.ticker}</td><td class="muted" colspan="3">${item.error}</td>`
          : `<td>${item.ticker}</td><td class="num">${formatPrice(item.last)}</td><td class="num ${tone}">${formatSigned(item.change)}</td><td class="num ${tone}">${formatPercent(item.changePercent)}</td>`;
        row.title = `Volume ${formatVolume(item.volume)}`;
        row.addEventListener("click", () => setUnderlying(item.ticker));
        row.addEventListener("keydown", (event) => event.key === "Enter" && setUnderlying(item.ticker));
        return row;
      }),
    );
  } catch (error) {
    if (error.status !== 404) toast(`Watchlist: ${error.message}`, "warn");
  }
  watchlistTimer = setTimeout(loadWatchlist, WATCHLIST_MS);
}

// MARK: Navigation

async function setUnderlying(ticker, { expiration = null } = {}) {
  ticker = ticker.toUpperCase();
  if (ticker === state.underlying && !expiration) return;
  state.underlying = ticker;
  state.expiration = expiration;
  if (state.contract && optionUnderlying(state.contract) !== ticker) {
    state.contract = null;
    state.chartTarget = "underlying";
  }
  if (!state.watchlist.includes(ticker)) {
    state.watchlist = [...state.watchlist, ticker].slice(-12);
    savePreferences();
  }
  $("underlying-quote").textContent = ticker;
  loadChart();
  await loadExpirations();
  loadChain();
  loadWatchlist();
}

function installControls() {
  $("symbol-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("symbol-input").value.trim().toUpperCase();
    $("symbol-input").value = "";
    if (OPTION.test(value)) {
      const underlying = optionUnderlying(value);
      if (underlying !== state.underlying) setUnderlying(underlying).then(() => selectContract(value));
      else selectContract(value);
    } else if (STOCK.test(value)) {
      setUnderlying(value);
    } else if (value) {
      toast(`"${value}" is not a ticker (SPY, I:SPX or O:SPY251219C00650000)`, "warn");
    }
  });
  $("timeframes").addEventListener("click", (event) => {
    const tf = event.target.dataset?.tf;
    if (!tf || tf === state.timeframe) return;
    state.timeframe = tf;
    savePreferences();
    loadChart();
  });
  $("session-mode").addEventListener("click", (event) => {
    const mode = event.target.dataset?.session;
    if (!mode || mode === state.sessionMode) return;
    state.sessionMode = mode;
    savePreferences();
    loadChart();
  });
  $("chart-target").addEventListener("click", (event) => {
    const target = event.target.dataset?.target;
    if (!target || target === state.chartTarget || (target === "contract" && !state.contract)) return;
    state.chartTarget = target;
    savePreferences();
    loadChart();
  });
  for (const input of $("indicators").querySelectorAll("input")) {
    input.checked = Boolean(state.indicators[input.dataset.indicator]);
    input.addEventListener("change", () => {
      state.indicators[input.dataset.indicator] = input.checked;
      chart.setIndicators(state.indicators);
      savePreferences();
    });
  }
  chart.setIndicators(state.indicators);
  $("strike-window").value = String(state.strikeWindow);
  $("strike-window").addEventListener("change", () => {
    state.strikeWindow = Number($("strike-window").value);
    savePreferences();
    loadChain();
  });
  $("live-window").value = String(state.liveWindow);
  $("live-window").addEventListener("change", () => {
    state.liveWindow = Number($("live-window").value);
    savePreferences();
    updateLiveWindow();
  });
  $("show-greeks").addEventListener("change", () => {
    chain.showGreeks = $("show-greeks").checked;
    const expiration = state.chain?.expirations?.find((entry) => entry.expiration === state.expiration);
    chain.render(expiration, state.chain?.underlyingPrice);
  });
  $("connection").addEventListener("click", () => socket.reconnectNow());
  document.addEventListener("keydown", (event) => {
    if (event.target.matches("input, select, textarea")) return;
    if (event.key === "/") {
      event.preventDefault();
      $("symbol-input").focus();
      return;
    }
    const timeframes = Object.keys(TIMEFRAMES);
    const index = Number(event.key) - 1;
    if (index >= 0 && index < timeframes.length && !event.ctrlKey && !event.metaKey) {
      state.timeframe = timeframes[index];
      savePreferences();
      loadChart();
    } else if (event.key === "e") {
      state.sessionMode = state.sessionMode === "regular" ? "extended" : "regular";
      savePreferences();
      loadChart();
    }
  });
}

// MARK: Start

async function start() {
  installControls();
  socket.connect();
  let selection = null;
  try {
    selection = await api.selection();
  } catch (error) {
    if (error.status !== 404) toast(`Selection: ${error.message}`, "warn");
  }
  if (selection?.underlying && STOCK.test(selection.underlying)) {
    state.underlying = selection.underlying;
    state.expiration = selection.expiration ?? null;
    if (selection.contract && OPTION.test(selection.contract)) state.contract = selection.contract;
  } else {
    state.chartTarget = "underlying";
  }
  state.chartTarget = state.contract ? "contract" : "underlying";
  $("underlying-quote").textContent = state.underlying;
  loadChart();
  loadWatchlist();
  await loadExpirations();
  await loadChain();
  if (state.contract) selectContract(state.contract, { persist: false });
  document.body.dataset.ready = "true";
}

window.__markethub = { state, socket, chart, chain, live };
start();
