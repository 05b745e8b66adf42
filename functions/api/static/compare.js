// The compare view: 2-6 symbols' closes, each rebased to 100 at its first bar, as lines.
const COLORS = ["#0969da", "#c62828", "#1a7f37", "#8250df", "#bf8700", "#1b7c83"];

// Each symbol's closes as index points (100 = its first close), from a page's `bars`.
export function normalise(bySymbol) {
  const lines = [];
  for (const [symbol, bars] of Object.entries(bySymbol)) {
    if (!bars.length) continue;
    const base = bars[0].close;
    lines.push({ symbol, points: bars.map((b) => ({ t: Date.parse(b.time), v: (100 * b.close) / base })) });
  }
  return lines;
}

export function drawLines(canvas, lines) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 800;
  const height = canvas.clientHeight || 280;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  ctx.clearRect(0, 0, width, height);
  const all = lines.flatMap((l) => l.points);
  if (!all.length) return;
  const pad = { left: 48, right: 12, top: 12, bottom: 24 };
  const t0 = Math.min(...all.map((p) => p.t));
  const t1 = Math.max(...all.map((p) => p.t));
  const v0 = Math.min(...all.map((p) => p.v));
  const v1 = Math.max(...all.map((p) => p.v));
  const x = (t) => pad.left + ((t - t0) / Math.max(t1 - t0, 1)) * (width - pad.left - pad.right);
  const y = (v) => pad.top + (1 - (v - v0) / Math.max(v1 - v0, 1e-9)) * (height - pad.top - pad.bottom);
  const style = getComputedStyle(canvas);
  ctx.strokeStyle = style.getPropertyValue("--muted") || "#57606a";
  ctx.fillStyle = ctx.strokeStyle;
  ctx.font = "12px system-ui, sans-serif";
  ctx.setLineDash([4, 4]);
  ctx.beginPath();
  ctx.moveTo(pad.left, y(100));
  ctx.lineTo(width - pad.right, y(100));
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.fillText("100", 8, y(100) + 4);
  ctx.fillText(v1.toFixed(0), 8, pad.top + 8);
  ctx.fillText(v0.toFixed(0), 8, height - pad.bottom);
  lines.forEach((line, i) => {
    ctx.strokeStyle = COLORS[i % COLORS.length];
    ctx.lineWidth = 2;
    ctx.beginPath();
    line.points.forEach((p, j) => (j ? ctx.lineTo(x(p.t), y(p.v)) : ctx.moveTo(x(p.t), y(p.v))));
    ctx.stroke();
  });
}

export function colorOf(index) {
  return COLORS[index % COLORS.length];
}
