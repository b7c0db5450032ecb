// A canvas candlestick chart: candles and volume, price and time axes (America/New_York), pan, zoom,
// crosshair with an OHLC readout, overlays (SMA, EMA, VWAP, Bollinger) and an RSI pane. It draws what it is
// given: `setBars` replaces the series (a snapshot or a REST answer), `upsertBars` replaces or appends bars by
// start time (complete bars from the server); it never builds candles itself.

import { bollinger, ema, rsi, sma, vwap } from "./indicators.js";
import { formatDate, formatDateTime, formatDay, formatPrice, formatTime, formatVolume, nyDateKey } from "./format.js";

const COLORS = {
  background: "#0d1117",
  grid: "#1b222c",
  axis: "#8b96a5",
  axisLine: "#2a3340",
  up: "#26a69a",
  down: "#ef5350",
  upVolume: "rgba(38,166,154,0.35)",
  downVolume: "rgba(239,83,80,0.35)",
  crosshair: "#6b7685",
  label: "#2a3340",
  sma: "#f0b429",
  ema: "#4fa3ff",
  vwap: "#c678dd",
  bollinger: "rgba(144,164,174,0.8)",
  bollingerFill: "rgba(144,164,174,0.06)",
  rsi: "#e5c07b",
  text: "#c9d1d9",
  muted: "#6b7685",
};

const PRICE_AXIS = 64;
const TIME_AXIS = 22;
const RSI_PANE = 72;
const MIN_SPACING = 2;
const MAX_SPACING = 48;

export const DEFAULT_INDICATORS = { sma: true, ema: true, vwap: true, bollinger: false, rsi: true };

function niceStep(range, targetTicks) {
  const rough = range / Math.max(1, targetTicks);
  const power = 10 ** Math.floor(Math.log10(rough));
  const fraction = rough / power;
  const nice = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10;
  return nice * power;
}

export class CandleChart {
  constructor(container, { onStatus } = {}) {
    this.container = container;
    this.onStatus = onStatus ?? (() => {});
    this.bars = [];
    this.intraday = false;
    this.indicators = { ...DEFAULT_INDICATORS };
    this.series = null;
    this.spacing = 8;
    this.rightIndex = 0;
    this.follow = true;
    this.hoverIndex = null;
    this.hoverY = null;
    this.message = "Loading…";
    this.title = "";
    this.painted = false;
    this.frame = 0;
    this.overlayFrame = 0;

    this.base = document.createElement("canvas");
    this.overlay = document.createElement("canvas");
    this.base.className = "chart-base";
    this.overlay.className = "chart-overlay";
    this.readout = document.createElement("div");
    this.readout.className = "chart-readout";
    this.empty = document.createElement("div");
    this.empty.className = "chart-empty";
    container.append(this.base, this.overlay, this.readout, this.empty);
    container.tabIndex = 0;

    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(container);
    this.installInput();
    this.resize();
  }

  // MARK: Data

  setBars(bars, { intraday, title } = {}) {
    this.bars = bars.slice().sort((a, b) => a.t - b.t);
    if (intraday !== undefined) this.intraday = intraday;
    if (title !== undefined) this.title = title;
    this.series = null;
    this.follow = true;
    this.fitSpacing();
    this.rightIndex = this.bars.length - 1 + 2;
    this.message = this.bars.length ? null : "No bars for this range";
    this.publish();
    this.invalidate();
  }

  /// Replaces bars with the same start time and appends newer ones (complete bars from the server).
  upsertBars(bars) {
    if (!bars.length) return;
    let appended = 0;
    for (const bar of bars) {
      const last = this.bars[this.bars.length - 1];
      if (!last || bar.t > last.t) {
        this.bars.push(bar);
        appended += 1;
        continue;
      }
      let low = 0;
      let high = this.bars.length - 1;
      while (low <= high) {
        const mid = (low + high) >> 1;
        if (this.bars[mid].t < bar.t) low = mid + 1;
        else high = mid - 1;
      }
      if (this.bars[low]?.t === bar.t) this.bars[low] = bar;
      else this.bars.splice(low, 0, bar);
    }
    if (this.follow) this.rightIndex = this.bars.length - 1 + 2;
    this.series = null;
    this.message = null;
    this.publish();
    this.invalidate();
  }

  showMessage(message) {
    this.message = message;
    this.invalidate();
  }

  setIndicators(indicators) {
    this.indicators = { ...this.indicators, ...indicators };
    this.series = null;
    this.invalidate();
  }

  publish() {
    const last = this.bars[this.bars.length - 1];
    this.container.dataset.bars = String(this.bars.length);
    this.container.dataset.lastT = last ? String(last.t) : "";
    this.container.dataset.lastClose = last ? String(last.c) : "";
  }

  computeSeries() {
    if (this.series) return this.series;
    const closes = this.bars.map((bar) => bar.c);
    const series = {};
    if (this.indicators.sma) series.sma = sma(closes, 20);
    if (this.indicators.ema) series.ema = ema(closes, 9);
    if (this.indicators.vwap) series.vwap = vwap(this.bars, { anchorDaily: this.intraday });
    if (this.indicators.bollinger) series.bollinger = bollinger(closes, 20, 2);
    if (this.indicators.rsi) series.rsi = rsi(closes, 14);
    this.series = series;
    return series;
  }

  // MARK: Geometry

  resize() {
    const rect = this.container.getBoundingClientRect();
    this.width = Math.max(200, Math.floor(rect.width));
    this.height = Math.max(150, Math.floor(rect.height));
    const ratio = window.devicePixelRatio || 1;
    for (const canvas of [this.base, this.overlay]) {
      canvas.width = Math.floor(this.width * ratio);
      canvas.height = Math.floor(this.height * ratio);
      canvas.style.width = `${this.width}px`;
      canvas.style.height = `${this.height}px`;
      canvas.getContext("2d").setTransform(ratio, 0, 0, ratio, 0, 0);
    }
    this.invalidate();
  }

  get plotWidth() {
    return this.width - PRICE_AXIS;
  }

  get mainHeight() {
    return this.height - TIME_AXIS - (this.indicators.rsi ? RSI_PANE : 0);
  }

  fitSpacing() {
    const wanted = this.plotWidth / Math.max(30, Math.min(this.bars.length + 4, 160));
    this.spacing = Math.min(MAX_SPACING, Math.max(MIN_SPACING, wanted));
  }

  xOf(index) {
    return this.plotWidth - (this.rightIndex - index) * this.spacing - this.spacing / 2;
  }

  indexAt(x) {
    return Math.round(this.rightIndex - (this.plotWidth - this.spacing / 2 - x) / this.spacing);
  }

  visibleRange() {
    const count = Math.ceil(this.plotWidth / this.spacing) + 1;
    const last = Math.min(this.bars.length - 1, Math.floor(this.rightIndex));
    const first = Math.max(0, Math.floor(this.rightIndex - count));
    return { first, last };
  }

  // MARK: Drawing

  invalidate() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
      this.drawOverlay();
    });
  }

  invalidateOverlay() {
    if (this.overlayFrame || this.frame) return;
    this.overlayFrame = requestAnimationFrame(() => {
      this.overlayFrame = 0;
      this.drawOverlay();
    });
  }

  draw() {
    const context = this.base.getContext("2d");
    context.fillStyle = COLORS.background;
    context.fillRect(0, 0, this.width, this.height);
    this.empty.textContent = this.message ?? "";
    this.empty.hidden = !this.message;
    if (!this.bars.length) {
      this.scale = null;
      return;
    }
    const series = this.computeSeries();
    const { first, last } = this.visibleRange();
    if (last < first) {
      this.scale = null;
      return;
    }
    let low = Infinity;
    let high = -Infinity;
    let maxVolume = 0;
    for (let i = first; i <= last; i++) {
      const bar = this.bars[i];
      low = Math.min(low, bar.l);
      high = Math.max(high, bar.h);
      maxVolume = Math.max(maxVolume, bar.v || 0);
      if (series.bollinger?.upper[i] != null) {
        high = Math.max(high, series.bollinger.upper[i]);
        low = Math.min(low, series.bollinger.lower[i]);
      }
    }
    if (high === low) {
      high += 0.5;
      low -= 0.5;
    }
    const padding = (high - low) * 0.08;
    high += padding;
    low -= padding;
    const top = 8;
    const mainHeight = this.mainHeight;
    const priceHeight = mainHeight - top;
    const y = (price) => top + ((high - price) / (high - low)) * priceHeight;
    this.scale = { low, high, top, y, priceHeight };

    // Grid and price axis.
    context.font = "11px ui-monospace, SFMono-Regular, Menlo, monospace";
    context.textBaseline = "middle";
    const step = niceStep(high - low, Math.max(2, Math.floor(priceHeight / 48)));
    context.strokeStyle = COLORS.grid;
    context.lineWidth = 1;
    context.fillStyle = COLORS.axis;
    for (let price = Math.ceil(low / step) * step; price <= high; price += step) {
      const py = Math.round(y(price)) + 0.5;
      context.beginPath();
      context.moveTo(0, py);
      context.lineTo(this.plotWidth, py);
      context.stroke();
      context.fillText(formatPrice(price, step < 0.1 ? 3 : 2), this.plotWidth + 6, py);
    }

    // Time axis.
    const labelEvery = Math.max(1, Math.ceil(90 / this.spacing));
    context.textAlign = "center";
    let previousDay = null;
    for (let i = first; i <= last; i++) {
      const key = this.intraday ? nyDateKey(this.bars[i].t) : formatDate(this.bars[i].t).slice(-4);
      const newDay = previousDay !== null && key !== previousDay;
      previousDay = key;
      if (i % labelEvery !== 0 && !newDay) continue;
      const px = Math.round(this.xOf(i)) + 0.5;
      context.strokeStyle = COLORS.grid;
      context.beginPath();
      context.moveTo(px, top);
      context.lineTo(px, this.height - TIME_AXIS);
      context.stroke();
      const label = this.intraday
        ? newDay
          ? formatDay(this.bars[i].t)
          : formatTime(this.bars[i].t)
        : newDay
          ? key
          : formatDay(this.bars[i].t);
      context.fillStyle = newDay ? COLORS.text : COLORS.axis;
      context.fillText(label, px, this.height - TIME_AXIS / 2);
    }
    context.textAlign = "left";

    // Volume (bottom fifth of the main pane).
    const volumeHeight = priceHeight * 0.2;
    const bodyWidth = Math.max(1, Math.floor(this.spacing * 0.7));
    if (maxVolume > 0) {
      for (let i = first; i <= last; i++) {
        const bar = this.bars[i];
        const height = ((bar.v || 0) / maxVolume) * volumeHeight;
        context.fillStyle = bar.c >= bar.o ? COLORS.upVolume : COLORS.downVolume;
        context.fillRect(Math.round(this.xOf(i) - bodyWidth / 2), mainHeight - height, bodyWidth, height);
      }
    }

    // Bollinger fill under the candles.
    if (series.bollinger) this.drawBand(context, series.bollinger, first, last, y);

    // Candles.
    for (let i = first; i <= last; i++) {
      const bar = this.bars[i];
      const up = bar.c >= bar.o;
      const color = up ? COLORS.up : COLORS.down;
      const px = Math.round(this.xOf(i));
      context.strokeStyle = color;
      context.beginPath();
      context.moveTo(px + 0.5, Math.round(y(bar.h)));
      context.lineTo(px + 0.5, Math.round(y(bar.l)));
      context.stroke();
      const bodyTop = Math.round(y(Math.max(bar.o, bar.c)));
      const bodyHeight = Math.max(1, Math.round(y(Math.min(bar.o, bar.c))) - bodyTop);
      context.fillStyle = color;
      context.fillRect(px - Math.floor(bodyWidth / 2), bodyTop, bodyWidth, bodyHeight);
    }

    // Overlays.
    if (series.sma) this.drawLine(context, series.sma, first, last, y, COLORS.sma);
    if (series.ema) this.drawLine(context, series.ema, first, last, y, COLORS.ema);
    if (series.vwap) this.drawLine(context, series.vwap, first, last, y, COLORS.vwap, [4, 3]);

    // Last price marker.
    const lastBar = this.bars[this.bars.length - 1];
    const lastY = Math.round(y(lastBar.c)) + 0.5;
    if (lastY > top && lastY < mainHeight) {
      context.strokeStyle = lastBar.c >= lastBar.o ? COLORS.up : COLORS.down;
      context.setLineDash([2, 3]);
      context.beginPath();
      context.moveTo(0, lastY);
      context.lineTo(this.plotWidth, lastY);
      context.stroke();
      context.setLineDash([]);
      context.fillStyle = context.strokeStyle;
      context.fillRect(this.plotWidth + 1, lastY - 9, PRICE_AXIS - 2, 18);
      context.fillStyle = "#0d1117";
      context.fillText(formatPrice(lastBar.c), this.plotWidth + 6, lastY);
    }

    // RSI pane.
    if (series.rsi) this.drawRSI(context, series.rsi, first, last);

    // Axis borders.
    context.strokeStyle = COLORS.axisLine;
    context.beginPath();
    context.moveTo(this.plotWidth + 0.5, 0);
    context.lineTo(this.plotWidth + 0.5, this.height);
    context.moveTo(0, this.height - TIME_AXIS + 0.5);
    context.lineTo(this.width, this.height - TIME_AXIS + 0.5);
    context.stroke();

    if (!this.painted) {
      this.painted = true;
      performance.mark("chart-first-paint");
      this.container.dataset.firstPaint = String(Math.round(performance.now()));
    }
    this.container.dataset.drawn = String((Number(this.container.dataset.drawn) || 0) + 1);
  }

  drawLine(context, values, first, last, y, color, dash = []) {
    context.strokeStyle = color;
    context.lineWidth = 1.25;
    context.setLineDash(dash);
    context.beginPath();
    let started = false;
    for (let i = first; i <= last; i++) {
      if (values[i] == null) {
        started = false;
        continue;
      }
      const px = this.xOf(i);
      const py = y(values[i]);
      if (started) context.lineTo(px, py);
      else context.moveTo(px, py);
      started = true;
    }
    context.stroke();
    context.setLineDash([]);
    context.lineWidth = 1;
  }

  drawBand(context, band, first, last, y) {
    const points = [];
    for (let i = first; i <= last; i++) if (band.upper[i] != null) points.push(i);
    if (points.length < 2) return;
    context.fillStyle = COLORS.bollingerFill;
    context.beginPath();
    points.forEach((i, n) => (n ? context.lineTo(this.xOf(i), y(band.upper[i])) : context.moveTo(this.xOf(i), y(band.upper[i]))));
    for (let n = points.length - 1; n >= 0; n--) context.lineTo(this.xOf(points[n]), y(band.lower[points[n]]));
    context.closePath();
    context.fill();
    this.drawLine(context, band.upper, first, last, y, COLORS.bollinger);
    this.drawLine(context, band.lower, first, last, y, COLORS.bollinger);
    this.drawLine(context, band.middle, first, last, y, COLORS.bollinger, [2, 2]);
  }

  drawRSI(context, values, first, last) {
    const top = this.mainHeight + 6;
    const height = RSI_PANE - 10;
    const y = (value) => top + ((100 - value) / 100) * height;
    context.strokeStyle = COLORS.axisLine;
    context.beginPath();
    context.moveTo(0, top - 3.5);
    context.lineTo(this.width, top - 3.5);
    context.stroke();
    context.strokeStyle = COLORS.grid;
    context.fillStyle = COLORS.axis;
    for (const level of [30, 70]) {
      const py = Math.round(y(level)) + 0.5;
      context.beginPath();
      context.moveTo(0, py);
      context.lineTo(this.plotWidth, py);
      context.stroke();
      context.fillText(String(level), this.plotWidth + 6, py);
    }
    context.fillStyle = COLORS.muted;
    context.fillText("RSI 14", 6, top + 6);
    this.drawLine(context, values, first, last, y, COLORS.rsi);
  }

  drawOverlay() {
    const context = this.overlay.getContext("2d");
    context.clearRect(0, 0, this.width, this.height);
    const index = this.hoverIndex ?? this.bars.length - 1;
    const bar = this.bars[index];
    this.updateReadout(bar, index);
    if (this.hoverIndex === null || !bar || !this.scale) return;
    const px = Math.round(this.xOf(this.hoverIndex)) + 0.5;
    context.strokeStyle = COLORS.crosshair;
    context.setLineDash([3, 3]);
    context.beginPath();
    context.moveTo(px, 0);
    context.lineTo(px, this.height - TIME_AXIS);
    if (this.hoverY !== null && this.hoverY < this.mainHeight) {
      const py = Math.round(this.hoverY) + 0.5;
      context.moveTo(0, py);
      context.lineTo(this.plotWidth, py);
    }
    context.stroke();
    context.setLineDash([]);
    context.font = "11px ui-monospace, SFMono-Regular, Menlo, monospace";
    context.textBaseline = "middle";
    if (this.hoverY !== null && this.hoverY < this.mainHeight) {
      const { low, high, top, priceHeight } = this.scale;
      const price = high - ((this.hoverY - top) / priceHeight) * (high - low);
      context.fillStyle = COLORS.label;
      context.fillRect(this.plotWidth + 1, this.hoverY - 9, PRICE_AXIS - 2, 18);
      context.fillStyle = COLORS.text;
      context.fillText(formatPrice(price), this.plotWidth + 6, this.hoverY);
    }
    const label = this.intraday ? formatDateTime(bar.t) : formatDate(bar.t);
    const width = context.measureText(label).width + 12;
    const left = Math.min(Math.max(0, px - width / 2), this.plotWidth - width);
    context.fillStyle = COLORS.label;
    context.fillRect(left, this.height - TIME_AXIS + 1, width, TIME_AXIS - 2);
    context.fillStyle = COLORS.text;
    context.fillText(label, left + 6, this.height - TIME_AXIS / 2);
  }

  updateReadout(bar, index) {
    if (!bar) {
      this.readout.textContent = this.title;
      return;
    }
    const previous = this.bars[index - 1];
    const change = previous ? bar.c - previous.c : bar.c - bar.o;
    const base = previous ? previous.c : bar.o;
    const percent = base ? (change / base) * 100 : 0;
    const tone = change >= 0 ? "up" : "down";
    const when = this.intraday ? formatDateTime(bar.t) : formatDate(bar.t);
    const series = this.series ?? {};
    const indicator = (name, values, color) =>
      values && values[index] != null
        ? `<span style="color:${color}">${name} ${formatPrice(values[index])}</span>`
        : "";
    this.readout.innerHTML =
      `<b>${this.title}</b> <span class="muted">${when}</span> ` +
      `O <span class="${tone}">${formatPrice(bar.o)}</span> H <span class="${tone}">${formatPrice(bar.h)}</span> ` +
      `L <span class="${tone}">${formatPrice(bar.l)}</span> C <span class="${tone}">${formatPrice(bar.c)}</span> ` +
      `<span class="${tone}">${change >= 0 ? "+" : ""}${formatPrice(change)} (${percent.toFixed(2)}%)</span> ` +
      `V ${formatVolume(bar.v)}<br>` +
      indicator("SMA20", series.sma, COLORS.sma) +
      " " +
      indicator("EMA9", series.ema, COLORS.ema) +
      " " +
      indicator("VWAP", series.vwap, COLORS.vwap) +
      (series.rsi && series.rsi[index] != null
        ? ` <span style="color:${COLORS.rsi}">RSI ${series.rsi[index].toFixed(1)}</span>`
        : "");
  }

  // MARK: Input

  installInput() {
    let drag = null;
    this.container.addEventListener("pointerdown", (event) => {
      drag = { x: event.clientX, right: this.rightIndex };
      this.container.setPointerCapture(event.pointerId);
    });
    this.container.addEventListener("pointerup", (event) => {
      drag = null;
      this.container.releasePointerCapture(event.pointerId);
    });
    this.container.addEventListener("pointermove", (event) => {
      const rect = this.container.getBoundingClientRect();
      const x = event.clientX - rect.left;
      const yPosition = event.clientY - rect.top;
      if (drag) {
        this.panTo(drag.right - (event.clientX - drag.x) / this.spacing);
        return;
      }
      if (x > this.plotWidth || !this.bars.length) {
        this.hoverIndex = null;
      } else {
        const index = Math.min(this.bars.length - 1, Math.max(0, this.indexAt(x)));
        this.hoverIndex = index;
        this.hoverY = yPosition;
      }
      this.invalidateOverlay();
    });
    this.container.addEventListener("pointerleave", () => {
      this.hoverIndex = null;
      this.invalidateOverlay();
    });
    this.container.addEventListener(
      "wheel",
      (event) => {
        event.preventDefault();
        const rect = this.container.getBoundingClientRect();
        this.zoom(event.deltaY < 0 ? 1.15 : 1 / 1.15, event.clientX - rect.left);
      },
      { passive: false },
    );
    this.container.addEventListener("dblclick", () => this.resetView());
    this.container.addEventListener("keydown", (event) => {
      const handled = {
        ArrowLeft: () => this.panTo(this.rightIndex - 5),
        ArrowRight: () => this.panTo(this.rightIndex + 5),
        "+": () => this.zoom(1.25, this.plotWidth),
        "=": () => this.zoom(1.25, this.plotWidth),
        "-": () => this.zoom(0.8, this.plotWidth),
        Home: () => this.panTo(Math.min(this.bars.length - 1, this.plotWidth / this.spacing - 1)),
        End: () => this.resetView(),
      }[event.key];
      if (handled) {
        event.preventDefault();
        handled();
      }
    });
  }

  panTo(rightIndex) {
    const latest = this.bars.length - 1 + 2;
    const earliest = Math.min(latest, 5);
    this.rightIndex = Math.max(earliest, Math.min(latest + 40, rightIndex));
    this.follow = this.rightIndex >= latest - 0.5;
    this.invalidate();
  }

  zoom(factor, anchorX) {
    const anchorIndex = this.rightIndex - (this.plotWidth - anchorX) / this.spacing;
    this.spacing = Math.min(MAX_SPACING, Math.max(MIN_SPACING, this.spacing * factor));
    this.panTo(anchorIndex + (this.plotWidth - anchorX) / this.spacing);
  }

  resetView() {
    this.fitSpacing();
    this.rightIndex = this.bars.length - 1 + 2;
    this.follow = true;
    this.invalidate();
  }
}
