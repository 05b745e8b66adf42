// Candlesticks with volume on a plain <canvas>: no library, no build step.
// Bars are evenly spaced by index (markets close at night and on weekends), so
// a gap the warehouse detected is drawn as a dashed line, not as empty space.

const AXIS_RIGHT = 72;
const AXIS_BOTTOM = 24;
const PAD_TOP = 18;
const PAD_LEFT = 8;
const PANE_GAP = 10;
const PRICE_SHARE = 0.74;

// A bar's session date in New York (YYYY-MM-DD), as the API adjusts it.
const NEW_YORK_DAY = new Intl.DateTimeFormat("en-CA", { timeZone: "America/New_York" });
const sessionDay = (iso) => NEW_YORK_DAY.format(new Date(iso));

export function isFlagged(bar, threshold) {
  return !bar.validated || bar.quality_score < threshold;
}

function niceStep(span, ticks) {
  const raw = span / Math.max(ticks, 1);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const steps = [1, 2, 2.5, 5, 10].map((m) => m * magnitude);
  return steps.find((s) => s >= raw) ?? 10 * magnitude;
}

export function formatPrice(value) {
  const abs = Math.abs(value);
  const digits = abs >= 1000 ? 0 : abs >= 1 ? 2 : abs >= 0.01 ? 4 : 6;
  // Rounded first, then + 0 turns -0 into 0: a grid line a hair below zero never
  // reads "-0.000000".
  const rounded = Number(value.toFixed(digits)) + 0;
  return rounded.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Volume in a few characters: 950, 12.3K, 4.56M, 1.2B (coins are fractional). */
export function formatVolume(value) {
  const abs = Math.abs(value);
  for (const [size, unit] of [[1e9, "B"], [1e6, "M"], [1e3, "K"]]) {
    if (abs >= size) return `${(value / size).toPrecision(3).replace(/\.?0+$/, "")}${unit}`;
  }
  return abs >= 1 || abs === 0 ? String(Math.round(value)) : value.toPrecision(2);
}

function timeLabel(iso, timeframe) {
  const text = iso.replace("T", " ");
  if (timeframe === "1w") return text.slice(0, 7);
  if (timeframe === "1d") return text.slice(0, 10);
  return text.slice(5, 16);
}

export class CandleChart {
  constructor(canvas, { onCursor } = {}) {
    this.canvas = canvas;
    this.onCursor = onCursor ?? (() => {});
    this.bars = [];
    this.timeframe = "1d";
    this.markers = [];
    this.threshold = 0; // setBars passes the API's default min_quality
    this.cursor = null;
    new ResizeObserver(() => this.draw()).observe(canvas.parentElement);
    canvas.addEventListener("pointermove", (e) => this.#pointAt(e));
    canvas.addEventListener("pointerleave", () => this.#setCursor(null));
    canvas.addEventListener("keydown", (e) => this.#onKey(e));
  }

  /** Replace the bars; returns what was drawn ({bars, flagged, gaps}). */
  setBars(bars, { timeframe, threshold, markers = [] }) {
    this.bars = bars;
    // Corporate actions ({day: "YYYY-MM-DD", kind: "split"|"dividend", label}): each at
    // the first bar of its session (New York date) on or after it.
    this.markers = markers
      .map((m) => ({ ...m, index: bars.findIndex((b) => sessionDay(b.time) >= m.day) }))
      .filter((m) => m.index >= 0);
    this.timeframe = timeframe;
    this.threshold = threshold;
    this.cursor = null;
    const stats = {
      bars: bars.length,
      flagged: bars.filter((b) => isFlagged(b, threshold)).length,
      gaps: bars.filter((b) => b.gap_detected).length,
    };
    Object.assign(this.canvas.dataset, {
      splitCount: this.markers.filter((m) => m.kind === "split").length,
      dividendCount: this.markers.filter((m) => m.kind === "dividend").length,
      barCount: stats.bars,
      flaggedCount: stats.flagged,
      gapCount: stats.gaps,
    });
    this.draw();
    return stats;
  }

  #layout() {
    const width = this.canvas.clientWidth;
    const height = this.canvas.clientHeight;
    const plotW = Math.max(width - PAD_LEFT - AXIS_RIGHT, 10);
    const plotH = Math.max(height - PAD_TOP - AXIS_BOTTOM, 20);
    const priceH = Math.round((plotH - PANE_GAP) * PRICE_SHARE);
    return {
      width, height, plotW,
      priceTop: PAD_TOP, priceH,
      volTop: PAD_TOP + priceH + PANE_GAP, volH: plotH - priceH - PANE_GAP,
      slot: plotW / Math.max(this.bars.length, 1),
    };
  }

  #indexAt(clientX) {
    const rect = this.canvas.getBoundingClientRect();
    const { slot } = this.#layout();
    const index = Math.floor((clientX - rect.left - PAD_LEFT) / slot);
    return index >= 0 && index < this.bars.length ? index : null;
  }

  #pointAt(event) {
    this.#setCursor(this.#indexAt(event.clientX));
  }

  #onKey(event) {
    const last = this.bars.length - 1;
    if (last < 0) return;
    const page = Math.max(1, Math.round(this.bars.length / 10));
    const at = this.cursor ?? last;
    const moves = {
      ArrowLeft: at - 1, ArrowRight: at + 1, Home: 0, End: last,
      PageUp: at - page, PageDown: at + page,
    };
    if (event.key === "Escape") return this.#setCursor(null);
    if (!(event.key in moves)) return;
    event.preventDefault();
    const target = this.cursor === null && event.key.startsWith("Arrow") ? last : moves[event.key];
    this.#setCursor(Math.min(Math.max(target, 0), last));
  }

  #setCursor(index) {
    if (index === this.cursor) return;
    this.cursor = index;
    this.draw();
    this.onCursor(index === null ? null : this.bars[index]);
  }

  draw() {
    const { canvas } = this;
    const dpr = window.devicePixelRatio || 1;
    const L = this.#layout();
    canvas.width = Math.round(L.width * dpr);
    canvas.height = Math.round(L.height * dpr);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, L.width, L.height);
    if (!this.bars.length) return;

    const css = getComputedStyle(canvas);
    const color = (name) => css.getPropertyValue(name).trim();
    const colors = {
      up: color("--up"), down: color("--down"), flag: color("--flag"), gap: color("--gap"),
      grid: color("--grid"), text: color("--muted"), cursor: color("--fg"),
    };
    ctx.font = "12px system-ui, sans-serif";
    ctx.textBaseline = "middle";

    const bars = this.bars;
    let low = Infinity;
    let high = -Infinity;
    let maxVolume = 0;
    for (const b of bars) {
      low = Math.min(low, b.low);
      high = Math.max(high, b.high);
      maxVolume = Math.max(maxVolume, b.volume);
    }
    const pad = (high - low) * 0.06 || Math.abs(high) * 0.01 || 1;
    // Prices are positive: the padding never takes the axis below zero.
    low = low >= 0 ? Math.max(low - pad, 0) : low - pad;
    high += pad;
    const y = (price) => L.priceTop + ((high - price) / (high - low)) * L.priceH;
    const x = (i) => PAD_LEFT + (i + 0.5) * L.slot;
    const right = PAD_LEFT + L.plotW;

    // Price grid and axis labels.
    const step = niceStep(high - low, Math.max(2, Math.floor(L.priceH / 48)));
    ctx.fillStyle = colors.text;
    ctx.strokeStyle = colors.grid;
    ctx.lineWidth = 1;
    for (let p = Math.ceil(low / step) * step; p <= high; p += step) {
      const py = Math.round(y(p)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(PAD_LEFT, py);
      ctx.lineTo(right, py);
      ctx.stroke();
      ctx.fillText(formatPrice(p), right + 8, py);
    }
    // The volume pane's own axis: its scale (the tallest bar) at the top, 0 at the bottom.
    ctx.fillText(maxVolume ? formatVolume(maxVolume) : "no volume", right + 8, L.volTop + 6);
    ctx.fillText("volume", right + 8, L.volTop + 22);
    if (maxVolume) ctx.fillText("0", right + 8, L.volTop + L.volH - 6);

    // Time labels, about one per 110 px.
    const every = Math.max(1, Math.round(110 / L.slot));
    ctx.textAlign = "center";
    for (let i = Math.floor(every / 2); i < bars.length; i += every) {
      const px = x(i);
      if (px < PAD_LEFT + 40 || px > right - 40) continue;
      ctx.beginPath();
      ctx.moveTo(Math.round(px) + 0.5, L.priceTop);
      ctx.lineTo(Math.round(px) + 0.5, L.volTop + L.volH);
      ctx.stroke();
      ctx.fillText(timeLabel(bars[i].time, this.timeframe), px, L.height - AXIS_BOTTOM / 2);
    }
    ctx.textAlign = "left";

    // Flagged bars get a faint band, so a single bar stays visible in a long series.
    ctx.fillStyle = colors.flag;
    ctx.globalAlpha = 0.14;
    bars.forEach((b, i) => {
      if (!isFlagged(b, this.threshold)) return;
      const width = Math.max(L.slot, 4);
      ctx.fillRect(x(i) - width / 2, L.priceTop, width, L.volTop + L.volH - L.priceTop);
    });
    ctx.globalAlpha = 1;

    // Gaps before the candles, so candles draw over the dashed lines.
    ctx.save();
    ctx.strokeStyle = colors.gap;
    ctx.fillStyle = colors.gap;
    ctx.setLineDash([4, 3]);
    ctx.lineWidth = 1.5;
    bars.forEach((b, i) => {
      if (!b.gap_detected) return;
      const gx = Math.round(PAD_LEFT + i * L.slot) + 0.5;
      ctx.beginPath();
      ctx.moveTo(gx, L.priceTop);
      ctx.lineTo(gx, L.volTop + L.volH);
      ctx.stroke();
      ctx.fillRect(gx - 3, L.priceTop - 8, 6, 6);
    });
    ctx.restore();

    // Splits (labelled with their ratio) and ex-dividend dates, on the time axis.
    ctx.save();
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "center";
    for (const m of this.markers) {
      const mx = Math.round(PAD_LEFT + m.index * L.slot) + 0.5;
      ctx.fillStyle = m.kind === "split" ? colors.cursor : colors.gap;
      ctx.beginPath();
      ctx.moveTo(mx, L.volTop + L.volH);
      ctx.lineTo(mx - 5, L.volTop + L.volH + 8);
      ctx.lineTo(mx + 5, L.volTop + L.volH + 8);
      ctx.closePath();
      ctx.fill();
      if (m.kind === "split") ctx.fillText(m.label, mx, L.priceTop + 10);
    }
    ctx.restore();

    // Candles and volume.
    const body = Math.max(1, Math.min(Math.floor(L.slot * 0.7), 24));
    bars.forEach((b, i) => {
      const flagged = isFlagged(b, this.threshold);
      const up = b.close >= b.open;
      const fill = flagged ? colors.flag : up ? colors.up : colors.down;
      const cx = Math.round(x(i));
      ctx.fillStyle = fill;
      ctx.fillRect(cx, Math.round(y(b.high)), 1, Math.max(1, Math.round(y(b.low) - y(b.high))));
      const top = Math.round(y(Math.max(b.open, b.close)));
      const h = Math.max(1, Math.round(y(Math.min(b.open, b.close))) - top);
      ctx.fillRect(cx - Math.floor(body / 2), top, body, h);
      if (flagged) {
        // A small triangle above the high: the mark does not rely on colour alone.
        const ty = y(b.high) - 4;
        ctx.beginPath();
        ctx.moveTo(cx + 0.5, ty);
        ctx.lineTo(cx - 4, ty - 7);
        ctx.lineTo(cx + 5, ty - 7);
        ctx.closePath();
        ctx.fill();
      }
      const vh = maxVolume ? (b.volume / maxVolume) * L.volH : 0;
      ctx.globalAlpha = flagged ? 0.9 : 0.5;
      ctx.fillRect(cx - Math.floor(body / 2), L.volTop + L.volH - vh, body, Math.max(vh, 0.5));
      ctx.globalAlpha = 1;
    });

    if (this.cursor !== null) {
      const cx = Math.round(x(this.cursor)) + 0.5;
      ctx.strokeStyle = colors.cursor;
      ctx.setLineDash([2, 2]);
      ctx.beginPath();
      ctx.moveTo(cx, L.priceTop);
      ctx.lineTo(cx, L.volTop + L.volH);
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }
}
