// Indicators over bars [{t,o,h,l,c,v,vw}]; each returns an array aligned with the bars (null before it is
// defined). Pure functions, so the browser tests can check them against hand-computed values.

import { nyDateKey } from "./format.js";

export function sma(values, period) {
  const out = new Array(values.length).fill(null);
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i];
    if (i >= period) sum -= values[i - period];
    if (i >= period - 1) out[i] = sum / period;
  }
  return out;
}

/// Exponential moving average seeded with the simple average of the first `period` values.
export function ema(values, period) {
  const out = new Array(values.length).fill(null);
  if (values.length < period) return out;
  const k = 2 / (period + 1);
  let seed = 0;
  for (let i = 0; i < period; i++) seed += values[i];
  let previous = seed / period;
  out[period - 1] = previous;
  for (let i = period; i < values.length; i++) {
    previous = values[i] * k + previous * (1 - k);
    out[i] = previous;
  }
  return out;
}

/// Bollinger bands: middle SMA and ± `width` population standard deviations.
export function bollinger(values, period = 20, width = 2) {
  const middle = sma(values, period);
  const upper = new Array(values.length).fill(null);
  const lower = new Array(values.length).fill(null);
  for (let i = period - 1; i < values.length; i++) {
    let variance = 0;
    for (let j = i - period + 1; j <= i; j++) variance += (values[j] - middle[i]) ** 2;
    const deviation = Math.sqrt(variance / period);
    upper[i] = middle[i] + width * deviation;
    lower[i] = middle[i] - width * deviation;
  }
  return { middle, upper, lower };
}

/// Wilder's RSI.
export function rsi(values, period = 14) {
  const out = new Array(values.length).fill(null);
  if (values.length <= period) return out;
  let gain = 0;
  let loss = 0;
  for (let i = 1; i <= period; i++) {
    const change = values[i] - values[i - 1];
    if (change > 0) gain += change;
    else loss -= change;
  }
  gain /= period;
  loss /= period;
  out[period] = loss === 0 ? 100 : 100 - 100 / (1 + gain / loss);
  for (let i = period + 1; i < values.length; i++) {
    const change = values[i] - values[i - 1];
    gain = (gain * (period - 1) + Math.max(change, 0)) / period;
    loss = (loss * (period - 1) + Math.max(-change, 0)) / period;
    out[i] = loss === 0 ? 100 : 100 - 100 / (1 + gain / loss);
  }
  return out;
}

/// Volume-weighted average price anchored at each New York session (intraday). For daily and longer bars
/// (`anchorDaily: false`) each bar's own VWAP, or its typical price when the provider gave none.
export function vwap(bars, { anchorDaily = true } = {}) {
  const out = new Array(bars.length).fill(null);
  if (!anchorDaily) {
    return bars.map((bar) => (Number.isFinite(bar.vw) ? bar.vw : (bar.h + bar.l + bar.c) / 3));
  }
  let priceVolume = 0;
  let volume = 0;
  let day = null;
  for (let i = 0; i < bars.length; i++) {
    const bar = bars[i];
    const key = nyDateKey(bar.t);
    if (key !== day) {
      day = key;
      priceVolume = 0;
      volume = 0;
    }
    const price = Number.isFinite(bar.vw) ? bar.vw : (bar.h + bar.l + bar.c) / 3;
    priceVolume += price * (bar.v || 0);
    volume += bar.v || 0;
    out[i] = volume > 0 ? priceVolume / volume : null;
  }
  return out;
}
