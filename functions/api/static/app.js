// The dashboard: status cards, alerts, the symbol table and a chart, from the public API.
import { ApiError, UnreachableError, apiBase, apiKey, getJson, timedJson } from "./api.js";
import { CandleChart, formatPrice } from "./chart.js";
import { colorOf, drawLines, normalise } from "./compare.js";

const MAX_BARS = 50000; // enough for any preset range; stops a runaway custom range
const REFRESH_MS = 60000;
const STATUS_ORDER = { healthy: 0, warning: 1, stale: 2 };

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
// Page size: the API's default unless ?page_limit= asks for another (tests use small pages).
const pageLimit = Number(params.get("page_limit")) || null;

const state = {
  base: "",
  symbols: [],
  sort: { key: "symbol", dir: "ascending" },
  chartReady: false,
  chartRequest: 0,
  // From GET /api/v1/timeframes: each timeframe's caps and chart range, the API's defaults.
  timeframes: new Map(),
  defaults: null,
};

async function loadTimeframes() {
  if (state.defaults) return;
  const served = await getJson(`${state.base}/api/v1/timeframes`);
  state.timeframes = new Map(served.timeframes.map((t) => [t.timeframe, t]));
  state.defaults = served.defaults;
  setText("flag-threshold", String(served.defaults.min_quality));
}

// Bars below this quality are drawn as flagged: the API's own default min_quality.
const flagThreshold = () => state.defaults.min_quality;

// ---------- formatting (UTC everywhere: bars and schedules are UTC) ----------

const fmtInt = (n) => (n == null ? "—" : Number(n).toLocaleString("en-US"));
const plural = (n, word) => `${fmtInt(n)} ${word}${n === 1 ? "" : "s"}`;
const fmtPct = (p) => (p == null ? "—" : `${Number(p).toFixed(2)}%`);
const pad2 = (n) => String(n).padStart(2, "0");

function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ` +
    `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())} UTC`;
}

function fmtAge(hours) {
  if (hours == null) return "—";
  if (hours < 1) return `${Math.round(hours * 60)} min`;
  if (hours < 48) return `${hours.toFixed(1)} h`;
  return `${(hours / 24).toFixed(1)} d`;
}

function fmtRelative(iso, now = Date.now()) {
  const hours = (new Date(iso).getTime() - now) / 3.6e6;
  return hours >= 0 ? `in ${fmtAge(hours)}` : `${fmtAge(-hours)} ago`;
}

const isoDay = (date) => date.toISOString().slice(0, 10);

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children.filter((c) => c != null));
  return node;
}

// ---------- connection banner ----------

function showConnectionProblem(title, detail) {
  $("connection-title").textContent = title;
  $("connection-detail").textContent = detail;
  $("connection").hidden = false;
}

function describe(err, url) {
  if (err instanceof UnreachableError) {
    return ["The API is unreachable.",
      `No answer from ${url}. Check that the API is running, or point ?api_base= at it.`];
  }
  if (err instanceof ApiError) {
    return [`The API answered ${err.status}.`, err.message];
  }
  return ["Something went wrong.", String(err.message || err)];
}

// ---------- status cards and alerts ----------

function setText(id, text) {
  $(id).textContent = text;
}

/** Text made of " · "-separated pieces that wrap between pieces, never inside one. */
function setPieces(id, pieces) {
  const nodes = pieces.flatMap((piece, i) => [i ? " · " : "", el("span", { className: "nowrap", textContent: piece })]);
  $(id).replaceChildren(...nodes);
}

function renderCards(health, metrics, status, detailed) {
  setText("stat-api", health ? health.body.status : "down");
  setText("stat-api-latency", health ? `${health.ms} ms response` : "");
  $("card-api").dataset.health = health?.body.status === "healthy" ? "ok" : "bad";

  const db = metrics?.database;
  setText("stat-symbols", fmtInt(db?.symbols_available));
  setText("stat-symbols-tracked", detailed ? `of ${fmtInt(detailed.count)} tracked` : "");
  setText("stat-records", fmtInt(db?.total_records));
  const gaps = status?.data_quality?.records_with_gaps_flagged;
  setText("stat-gaps", gaps == null ? "" : `${fmtInt(gaps)} gaps flagged`);
  setText("stat-validation", fmtPct(db?.validation_rate_pct));
  setText("stat-validated", db ? `${fmtInt(db.validated_records)} validated` : "");
  // Date and time wrap as two pieces in a narrow card, never mid-time.
  const [day, ...clock] = fmtTime(db?.latest_data).split(" ");
  $("stat-latest").replaceChildren(
    el("span", { className: "nowrap", textContent: day }), " ",
    el("span", { className: "nowrap", textContent: clock.join(" ") }));
  setText("stat-latest-age", db?.latest_data ? fmtRelative(db.latest_data) : "");

  const run = metrics?.last_backfill;
  const scheduler = metrics?.scheduler;
  $("card-nightly").dataset.health = !run ? "" : run.status === "failed" ? "bad" : "ok";
  setText("stat-last-run", !metrics ? "—" : run ? run.status : "no run yet");
  setText("stat-last-run-kind", run ? RUN_KINDS[run.trigger] ?? `${run.trigger} run` : "");
  setPieces("stat-last-run-detail", run
    ? [`Started ${fmtTime(run.time)}`,
      `${fmtInt(run.jobs_total - run.jobs_failed)} of ${fmtInt(run.jobs_total)} jobs ok`,
      `${fmtInt(run.total_records_imported)} records`]
    : []);
  setPieces("stat-next-run", !scheduler ? [] : scheduler.status === "stopped"
    ? ["Nightly schedule stopped", scheduler.run_state === "running" && "a run is under way"].filter(Boolean)
    : [scheduler.run_state === "running" && "Running now",
      `Next nightly ${fmtTime(scheduler.next_run)} (${fmtRelative(scheduler.next_run)})`,
      scheduler.schedule].filter(Boolean));
  renderProvider(status?.provider);
}

// What started a run, in words (GET /api/v1/metrics → last_backfill.trigger).
const RUN_KINDS = {
  schedule: "Nightly run (the 02:00 UTC schedule)",
  admin: "On-demand backfill (admin API)",
  cli: "Local run (make dev's start-up load, or make backfill)",
};

/** Where the bars came from; synthetic data gets a badge nobody can miss. */
function renderProvider(provider) {
  const synthetic = Boolean(provider?.synthetic);
  $("demo-badge").hidden = !synthetic;
  const sources = provider?.sources?.length ? provider.sources.join(", ") : provider?.configured;
  setText("data-source", sources ? `Data: ${sources}` : "");
  document.body.dataset.provider = synthetic ? "synthetic" : (provider?.configured ?? "");
}

function symbolList(items, limit = 8) {
  const names = items.slice(0, limit).map((s) => s.symbol).join(", ");
  return items.length > limit ? `${names} and ${items.length - limit} more` : names;
}

function filterButton(status) {
  const button = el("button", { type: "button", className: "button button-quiet", textContent: "Show in table" });
  button.addEventListener("click", () => {
    $("status-filter").value = status;
    renderTable();
    $("symbols-heading").scrollIntoView();
    $("status-filter").focus();
  });
  return button;
}

function buildAlerts(metrics, detailed) {
  const alerts = [];
  if (metrics && metrics.health?.database !== "healthy") {
    alerts.push({ level: "error", text: `Database: ${metrics.health?.database ?? "unknown"}.` });
  }
  if (metrics?.scheduler?.status === "stopped") {
    alerts.push({ level: "warn", text: "The nightly schedule is stopped: no new bars will be fetched." });
  }
  const run = metrics?.last_backfill;
  if (run?.jobs_failed) {
    alerts.push({
      level: "error",
      text: `Last nightly run (${fmtTime(run.time)}): ${fmtInt(run.jobs_failed)} of ` +
        `${plural(run.jobs_total, "job")} failed, ${plural(run.failed_symbols, "symbol")} affected.`,
    });
  }
  if (run && run.status !== "running" && Date.now() - new Date(run.time).getTime() > 26 * 3.6e6) {
    alerts.push({ level: "warn", text: `No nightly run since ${fmtTime(run.time)} (${fmtRelative(run.time)}).` });
  }
  const dead = metrics?.queues?.dead_letter?.visible;
  if (dead) {
    alerts.push({
      level: "error",
      text: `${plural(dead, "backfill job")} in the dead-letter queue: they failed every retry. ` +
        "Inspect the messages and the worker logs, fix, then redrive them.",
    });
  }
  if (metrics?.queues?.status === "unavailable") {
    alerts.push({ level: "warn", text: "The backfill queue's state cannot be read (SQS unavailable)." });
  }
  const symbols = detailed?.symbols ?? [];
  const stale = symbols.filter((s) => s.status === "stale");
  if (stale.length) {
    alerts.push({ level: "error", text: `${plural(stale.length, "symbol")} stale: ${symbolList(stale)}.`, status: "stale" });
  }
  const warning = symbols.filter((s) => s.status === "warning");
  if (warning.length) {
    alerts.push({ level: "warn", text: `${plural(warning.length, "symbol")} with warnings: ${symbolList(warning)}.`, status: "warning" });
  }
  return alerts;
}

function renderAlerts(alerts, unreachable) {
  const list = $("alerts");
  list.replaceChildren();
  if (unreachable) {
    list.append(el("li", { className: "alert alert-error", textContent: "API unreachable: no current data." }));
    return;
  }
  if (!alerts.length) {
    list.append(el("li", { className: "alert alert-ok", textContent: "No alerts: every symbol is healthy and the last run succeeded." }));
    return;
  }
  for (const alert of alerts) {
    const item = el("li", { className: `alert alert-${alert.level}` }, el("span", { textContent: alert.text }));
    if (alert.status) item.append(filterButton(alert.status));
    list.append(item);
  }
}

async function loadStatus() {
  const main = $("main");
  main.dataset.state = "loading";
  $("refresh").disabled = true;
  const base = state.base;
  const [health, metrics, status, detailed, timeframes] = await Promise.allSettled([
    timedJson(`${base}/health`),
    getJson(`${base}/api/v1/metrics`),
    getJson(`${base}/api/v1/status`),
    getJson(`${base}/api/v1/symbols/detailed`),
    loadTimeframes(),
  ]);
  $("refresh").disabled = false;
  const value = (result) => (result.status === "fulfilled" ? result.value : null);
  const stamp = new Date().toISOString().slice(11, 19);

  if (health.status === "rejected" && health.reason instanceof UnreachableError) {
    showConnectionProblem(...describe(health.reason, `${base}/health`));
    renderCards(null, null, null, null);
    renderAlerts([], true);
    if (!state.chartReady) setText("chart-summary", "No chart while the API is unreachable.");
    setText("updated", `Update failed at ${stamp} UTC`);
    main.dataset.state = "error";
    return;
  }
  const failed = [metrics, detailed, health, timeframes].find((r) => r.status === "rejected");
  const needsKey = [401, 403].includes(failed?.reason?.status);
  $("key-form").hidden = !needsKey;
  if (needsKey) {
    showConnectionProblem("This API needs an API key for reads.",
      apiKey.get() ? `The key was refused: ${failed.reason.message}` : "Enter a key with the read scope.");
  } else if (failed) {
    const [title, detail] = describe(failed.reason, base);
    showConnectionProblem(title, `The dashboard is partly filled. ${detail}`);
  } else {
    $("connection").hidden = true;
  }
  renderCards(value(health), value(metrics), value(status), value(detailed));
  renderAlerts(buildAlerts(value(metrics), value(detailed)), false);
  if (value(detailed)) {
    state.symbols = value(detailed).symbols;
    renderTable();
    if (!state.chartReady && state.defaults) initChart();
  }
  setText("updated", `Updated ${stamp} UTC`);
  main.dataset.state = failed ? "degraded" : "ready";
}

// ---------- symbol table ----------

function compare(key, dir) {
  const sign = dir === "ascending" ? 1 : -1;
  const rank = (s) => (key === "status" ? STATUS_ORDER[s.status] : s[key]);
  return (a, b) => {
    const x = rank(a);
    const y = rank(b);
    if (x == null || y == null) return x == null && y == null ? 0 : x == null ? 1 : -1; // empty last
    const order = typeof x === "string" ? x.localeCompare(y) : x - y;
    return sign * order || a.symbol.localeCompare(b.symbol);
  };
}

function renderTable() {
  const query = $("symbol-search").value.trim().toLowerCase();
  const status = $("status-filter").value;
  const assetClass = $("class-filter").value;
  const rows = state.symbols
    .filter((s) => !query || s.symbol.toLowerCase().includes(query) || (s.name ?? "").toLowerCase().includes(query))
    .filter((s) => !status || s.status === status)
    .filter((s) => !assetClass || s.asset_class === assetClass)
    .sort(compare(state.sort.key, state.sort.dir));

  const body = $("symbols-body");
  body.replaceChildren(...rows.map(symbolRow));
  if (!rows.length) {
    const why = state.symbols.length ? "No symbols match the filters." : "No symbols loaded.";
    body.append(el("tr", {}, el("td", { colSpan: 8, className: "empty", textContent: why })));
  }
  setText("symbol-count", `Showing ${rows.length} of ${state.symbols.length} symbols`);
  for (const th of document.querySelectorAll("#symbols-table th[data-key]")) {
    if (th.dataset.key === state.sort.key) th.setAttribute("aria-sort", state.sort.dir);
    else th.removeAttribute("aria-sort");
  }
}

function symbolRow(s) {
  const open = el("button", { type: "button", className: "link", textContent: s.symbol, title: s.name ?? "" });
  open.setAttribute("aria-label", `Chart ${s.symbol}`);
  open.disabled = !s.records;
  open.addEventListener("click", () => showSymbol(s.symbol));
  const age = el("td", { className: "num", textContent: fmtAge(s.data_age_hours) });
  if (s.market_age_hours != null) age.title = `Market time: ${fmtAge(s.market_age_hours)}`;
  const row = el("tr", {},
    el("th", { scope: "row" }, open),
    el("td", { textContent: s.asset_class }),
    el("td", { className: "num", textContent: fmtInt(s.records) }),
    el("td", { className: "num", textContent: s.records ? fmtPct(s.validation_rate) : "—" }),
    el("td", { textContent: s.latest_data ? fmtTime(s.latest_data) : "no data" }),
    age,
    el("td", { className: "timeframes", textContent: s.timeframes.join(" ") }),
    el("td", {}, el("span", { className: `badge badge-${s.status}`, textContent: s.status })),
  );
  row.dataset.symbol = s.symbol;
  return row;
}

function sortBy(key) {
  const same = state.sort.key === key;
  state.sort = { key, dir: same && state.sort.dir === "ascending" ? "descending" : "ascending" };
  renderTable();
}

// ---------- chart ----------

const chart = new CandleChart($("chart"), { onCursor: showReadout });

function showReadout(bar) {
  if (!bar) return setText("chart-readout", "");
  const notes = [
    !bar.validated && "not validated",
    bar.quality_score < flagThreshold() && `quality ${bar.quality_score.toFixed(2)}`,
    bar.gap_detected && "gap before this bar",
    bar.volume_anomaly && "volume anomaly",
    bar.validation_notes,
  ].filter(Boolean);
  setText("chart-readout",
    `${fmtTime(bar.time)} · O ${formatPrice(bar.open)} H ${formatPrice(bar.high)} ` +
    `L ${formatPrice(bar.low)} C ${formatPrice(bar.close)} · Vol ${fmtInt(Math.round(bar.volume))}` +
    (notes.length ? ` · ⚑ ${notes.join("; ")}` : ""));
}

// A preset asks for exactly N days of bars ending with the symbol's newest one (RFC 3339
// instants); a custom range asks for whole UTC days from the date inputs.
const preset = { start: null, end: null };

function setRange(days) {
  const info = state.symbols.find((s) => s.symbol === $("chart-symbol").value);
  const latest = info?.latest_data ? new Date(info.latest_data) : new Date();
  // The window ends where the bar holding the newest data ends (bars of a day or more:
  // the UTC day), so "1 day" of 5m bars is 24 hours of them and "1 year" of days 365.
  const step = Math.min(state.timeframes.get($("chart-timeframe").value)?.seconds ?? 86400, 86400) * 1000;
  const endsAt = new Date((Math.floor(latest.getTime() / step) + 1) * step);
  const start = new Date(endsAt.getTime() - Number(days) * 864e5);
  preset.start = start.toISOString();
  preset.end = latest.toISOString();
  $("chart-start").value = isoDay(start);
  $("chart-end").value = isoDay(latest);
}

function requestedRange() {
  const range = $("chart-range").value;
  if (range === "custom") return { start: $("chart-start").value, end: $("chart-end").value };
  setRange(range); // re-anchored at the newest bar each time the chart is drawn
  return { ...preset };
}

function fillTimeframes(symbol, preferred) {
  const info = state.symbols.find((s) => s.symbol === symbol);
  const select = $("chart-timeframe");
  const timeframes = info?.timeframes?.length ? info.timeframes : ["1d"];
  select.replaceChildren(...timeframes.map((t) => el("option", { value: t, textContent: t })));
  select.value = timeframes.includes(preferred) ? preferred : timeframes.includes("1d") ? "1d" : timeframes[0];
  applyTimeframeDefaults();
}

function applyTimeframeDefaults() {
  const info = state.timeframes.get($("chart-timeframe").value);
  for (const option of $("chart-range").options) {
    option.disabled = Number(option.value) > info.max_span_days;
  }
  $("chart-range").value = String(info.chart_span_days);
  setRange($("chart-range").value);
}

function initChart() {
  const withData = state.symbols.filter((s) => s.records > 0);
  if (!withData.length) {
    setText("chart-summary", "No symbol has data yet.");
    return;
  }
  state.chartReady = true;
  $("chart-controls").disabled = false;
  const select = $("chart-symbol");
  select.replaceChildren(...withData.map((s) => el("option", { value: s.symbol, textContent: s.symbol })));
  const wanted = (params.get("symbol") ?? "").toUpperCase();
  select.value = withData.some((s) => s.symbol === wanted) ? wanted : withData[0].symbol;
  fillTimeframes(select.value, params.get("timeframe"));
  loadChart();
}

function showSymbol(symbol) {
  $("chart-symbol").value = symbol;
  fillTimeframes(symbol, $("chart-timeframe").value);
  loadChart();
  $("chart-heading").scrollIntoView({ behavior: "smooth" });
  $("chart").focus({ preventScroll: true });
}

// Splits and ex-dividend dates in the chart's range, marked on its time axis.
async function actionMarkers(symbol, start, end) {
  const info = state.symbols.find((s) => s.symbol === symbol);
  if (!["stock", "etf"].includes(info?.asset_class)) return [];
  try {
    const query = new URLSearchParams({ start, end });
    const actions = await getJson(
      `${state.base}/api/v1/corporate-actions/${encodeURIComponent(symbol)}?${query}`);
    return [
      ...actions.splits.map((s) => ({
        day: s.execution_date, kind: "split", label: `${s.split_to}:${s.split_from}`,
      })),
      ...actions.dividends.map((d) => ({
        day: d.ex_dividend_date, kind: "dividend", label: `D ${d.cash_amount}`,
      })),
    ];
  } catch {
    return []; // the chart stands without its markers
  }
}

async function loadChart() {
  const request = ++state.chartRequest;
  const symbol = $("chart-symbol").value;
  const timeframe = $("chart-timeframe").value;
  const adjustment = $("chart-adjustment").value;
  const { start, end } = requestedRange();
  const figure = $("chart-figure");
  Object.assign(figure.dataset, { start, end, adjustment });
  figure.dataset.state = "loading";
  setText("chart-summary", `Loading ${symbol} ${timeframe}…`);
  setText("chart-readout", "");

  const bars = [];
  let cursor = null;
  let pages = 0;
  try {
    do {
      const query = new URLSearchParams({
        timeframe, start, end, adjustment, validated_only: "false", min_quality: "0",
      });
      if (pageLimit) query.set("limit", String(pageLimit));
      if (cursor) query.set("cursor", cursor);
      const page = await getJson(`${state.base}/api/v1/historical/${encodeURIComponent(symbol)}?${query}`);
      if (request !== state.chartRequest) return; // a newer request replaced this one
      for (const bar of page.data) bars.push(bar);
      cursor = page.next_cursor;
      pages += 1;
    } while (cursor && bars.length < MAX_BARS);
  } catch (err) {
    if (request !== state.chartRequest) return;
    chart.setBars([], { timeframe, threshold: flagThreshold() });
    $("chart").setAttribute("aria-label", "No chart");
    Object.assign(figure.dataset, { symbol, timeframe });
    figure.dataset.state = err instanceof ApiError && err.status === 404 ? "empty" : "error";
    setText("chart-summary", err instanceof UnreachableError ? describe(err, state.base).join(" ") : err.message);
    return;
  }

  const markers = await actionMarkers(symbol, start, end);
  if (request !== state.chartRequest) return;
  const stats = chart.setBars(bars, { timeframe, threshold: flagThreshold(), markers });
  Object.assign(figure.dataset, { state: "ready", pages: String(pages), symbol, timeframe });
  const first = bars[0];
  const last = bars[bars.length - 1];
  const more = cursor ? ` Showing the first ${fmtInt(bars.length)}; narrow the range for the rest.` : "";
  setText("chart-summary",
    `${symbol} · ${timeframe} · ${fmtInt(stats.bars)} bars, ${fmtTime(first.time)} to ${fmtTime(last.time)} · ` +
    `${fmtInt(stats.flagged)} flagged · ${fmtInt(stats.gaps)} gaps.${more}`);
  $("chart").setAttribute("aria-label",
    `Candlestick chart of ${symbol}, ${timeframe}: ${stats.bars} bars; close went from ` +
    `${formatPrice(first.close)} to ${formatPrice(last.close)}; ${stats.flagged} flagged bars, ${stats.gaps} gaps.`);
  loadGaps(request, symbol, timeframe, start, end);
}

// The gap report of the chart's series and range (GET /api/v1/symbols/{symbol}/gaps).
async function loadGaps(request, symbol, timeframe, start, end) {
  const section = $("gap-report");
  section.dataset.state = "loading";
  try {
    const query = new URLSearchParams({ timeframe, start, end });
    const report = await getJson(
      `${state.base}/api/v1/symbols/${encodeURIComponent(symbol)}/gaps?${query}`);
    if (request !== state.chartRequest) return;
    const t = report.totals;
    setText("gap-summary",
      `${fmtInt(t.missing)} of ${fmtInt(t.expected)} expected bars missing` +
      (t.missing ? ` in ${fmtInt(report.gaps.length)} ranges` : "") +
      ` · ${fmtInt(t.flagged)} stored flagged.`);
    const shown = report.gaps.slice(0, 20);
    $("gap-list").replaceChildren(...shown.map((g) => el("li", {
      textContent: g.bars === 1 ? fmtTime(g.first) : `${fmtTime(g.first)} to ${fmtTime(g.last)} (${fmtInt(g.bars)} bars)`,
    })));
    if (report.gaps.length > shown.length) {
      $("gap-list").append(el("li", { textContent: `and ${fmtInt(report.gaps.length - shown.length)} more ranges` }));
    }
    Object.assign(section.dataset, { state: "ready", missing: String(t.missing), ranges: String(report.gaps.length) });
  } catch (err) {
    if (request !== state.chartRequest) return;
    section.dataset.state = "error";
    setText("gap-summary", `No gap report: ${err.message}`);
  }
}

// ---------- compare ----------

async function loadCompare() {
  const names = $("compare-symbols").value.split(",").map((s) => s.trim().toUpperCase()).filter(Boolean);
  const figure = $("compare-figure");
  if (names.length < 2 || names.length > 6) {
    figure.dataset.state = "error";
    setText("compare-summary", "Compare 2 to 6 symbols.");
    return;
  }
  figure.dataset.state = "loading";
  setText("compare-summary", `Loading ${names.join(", ")}…`);
  const bySymbol = {};
  let cursor = null;
  let missing = [];
  try {
    do {
      const query = new URLSearchParams({
        symbols: names.join(","), timeframe: $("compare-timeframe").value,
        start: $("compare-start").value, end: $("compare-end").value,
      });
      if (pageLimit) query.set("limit", String(pageLimit));
      if (cursor) query.set("cursor", cursor);
      const page = await getJson(`${state.base}/api/v1/bars?${query}`);
      for (const [symbol, bars] of Object.entries(page.bars)) {
        (bySymbol[symbol] ??= []).push(...bars);
      }
      missing = page.missing;
      cursor = page.next_cursor;
    } while (cursor);
  } catch (err) {
    figure.dataset.state = err instanceof ApiError && err.status === 404 ? "empty" : "error";
    setText("compare-summary", err.message);
    return;
  }
  const lines = normalise(bySymbol);
  drawLines($("compare-chart"), lines);
  $("compare-legend").replaceChildren(...lines.map((line, i) => {
    const last = line.points[line.points.length - 1].v;
    return el("li", { textContent: `${line.symbol} ${last.toFixed(1)}` },
      el("span", { className: "swatch", style: `background:${colorOf(i)}`, ariaHidden: "true" }));
  }));
  const gone = missing.length ? ` Not shown: ${missing.map((m) => `${m.symbol} (${m.reason})`).join(", ")}.` : "";
  const summary = lines.map((l) => `${l.symbol} ${l.points[l.points.length - 1].v.toFixed(1)}`).join(", ");
  setText("compare-summary", `Rebased to 100 at the first bar: ${summary}.${gone}`);
  $("compare-chart").setAttribute("aria-label", `Comparison of ${lines.length} symbols, rebased to 100: ${summary}`);
  Object.assign(figure.dataset, { state: "ready", lines: String(lines.length),
    points: String(lines.reduce((n, l) => n + l.points.length, 0)) });
}

// ---------- wiring ----------

function wire() {
  $("refresh").addEventListener("click", loadStatus);
  const retry = async () => {
    await loadStatus();
    if (state.chartReady && $("chart-figure").dataset.state === "error") loadChart();
  };
  $("retry").addEventListener("click", retry);
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    apiKey.set($("api-key").value.trim());
    $("api-key").value = "";
    retry();
  });
  for (const id of ["symbol-search", "status-filter", "class-filter"]) {
    $(id).addEventListener("input", renderTable);
  }
  for (const th of document.querySelectorAll("#symbols-table th[data-key]")) {
    th.querySelector("button").addEventListener("click", () => sortBy(th.dataset.key));
  }
  const form = $("chart-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    loadChart();
  });
  $("chart-symbol").addEventListener("change", () => {
    fillTimeframes($("chart-symbol").value, $("chart-timeframe").value);
    form.requestSubmit();
  });

  $("chart-adjustment").addEventListener("change", () => form.requestSubmit());
  $("chart-timeframe").addEventListener("change", () => {
    applyTimeframeDefaults();
    form.requestSubmit();
  });
  $("chart-range").addEventListener("change", () => {
    if ($("chart-range").value === "custom") return;
    setRange($("chart-range").value);
    form.requestSubmit();
  });
  $("compare-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadCompare();
  });
  const yearAgo = new Date(Date.now() - 365 * 864e5);
  $("compare-start").value = isoDay(yearAgo);
  $("compare-end").value = isoDay(new Date());
  for (const id of ["chart-start", "chart-end"]) {
    $(id).addEventListener("input", () => { $("chart-range").value = "custom"; });
  }
  setInterval(() => {
    if (document.visibilityState === "visible") loadStatus();
  }, REFRESH_MS);
}

function start() {
  wire();
  try {
    state.base = apiBase();
  } catch (err) {
    showConnectionProblem("The API address is not valid.", err.message);
    $("main").dataset.state = "error";
    return;
  }
  setText("api-base", state.base || location.origin);
  $("docs-link").href = `${state.base}/docs`;
  renderTable();
  loadStatus();
}

start();
