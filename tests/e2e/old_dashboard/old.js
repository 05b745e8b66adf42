// The replaced system's dashboard logic, as its contract describes it: every field
// read here is one the old API served, and every alert is one the old page raised.
"use strict";

const base = (new URLSearchParams(location.search).get("api_base") || "").replace(/\/+$/, "");
const $ = (id) => document.getElementById(id);

async function get(path, options) {
  const response = await fetch(base + path, options);
  const body = await response.json().catch(() => null);
  return { status: response.status, ok: response.ok, body };
}

function raise(level, text) {
  const item = document.createElement("li");
  item.className = `alert alert-${level}`;
  item.textContent = text;
  $("alerts").append(item);
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.append(td);
}

const isoDay = (date) => date.toISOString().slice(0, 10);

async function load() {
  const [health, status, metrics, detailed] = await Promise.all([
    get("/health"), get("/api/v1/status"), get("/api/v1/metrics"), get("/api/v1/symbols/detailed"),
  ]);
  for (const answer of [health, status, metrics, detailed]) {
    if (!answer.ok) raise("danger", `API error ${answer.status}`);
  }

  $("api-status").textContent = health.body.status === "healthy" ? "Healthy" : "Degraded";
  if (health.body.status !== "healthy") raise("danger", "API is degraded");

  // The scheduler is running when all three say so; anything else is an alert.
  const running = status.body.data_quality.scheduler_status === "running"
    && health.body.scheduler_running === true
    && metrics.body.scheduler.running === true;
  $("scheduler").textContent = running ? "Running" : "Stopped";
  if (!running) raise("danger", "Auto-backfill scheduler is not running");

  const database = status.body.database;
  $("symbols").textContent = String(database.symbols_available);
  $("records").textContent = database.total_records.toLocaleString("en-US");
  $("validation").textContent = `${database.validation_rate_pct}%`;
  if (database.validation_rate_pct < 95) raise("warning", "Validation rate below 95%");

  const last = status.body.data_quality.last_backfill;
  if (!last) {
    raise("warning", "No backfill has run yet");
  } else {
    $("last-backfill").textContent = `${last.time}: ${last.successful_symbols} symbols ok, ` +
      `${last.failed_symbols} failed, ${last.total_records_imported} records`;
    if (last.failed_symbols > 0) raise("danger", `Last backfill: ${last.failed_symbols} symbols failed`);
    if (Date.now() - new Date(last.time).getTime() > 48 * 3.6e6) raise("warning", "Last backfill is more than 48 hours old");
  }
  if (metrics.body.health.database !== "healthy") raise("danger", "Database is not healthy");

  const stale = [];
  for (const s of detailed.body.symbols) {
    const row = document.createElement("tr");
    row.dataset.symbol = s.symbol;
    cell(row, s.symbol); cell(row, s.asset_class); cell(row, String(s.records));
    cell(row, `${s.validation_rate}%`); cell(row, s.status);
    $("symbol-table").tBodies[0].append(row);
    if (s.status === "stale") stale.push(s.symbol);
  }
  if (stale.length) raise("warning", `Stale data: ${stale.join(", ")}`);

  const first = detailed.body.symbols.find((s) => s.records > 0);
  if (first) {
    const end = new Date();
    const start = new Date(end.getTime() - 10 * 864e5);
    const bars = await get(`/api/v1/historical/${encodeURIComponent(first.symbol)}` +
      `?start=${isoDay(start)}&end=${isoDay(end)}`);
    if (!bars.ok) raise("danger", `No recent bars for ${first.symbol}`);
    for (const bar of (bars.body?.data ?? []).slice(-5)) {
      if (!bar.symbol || !bar.timeframe) raise("danger", "Bars arrive without symbol or timeframe");
      const row = document.createElement("tr");
      cell(row, bar.symbol); cell(row, bar.timeframe); cell(row, bar.time); cell(row, String(bar.close));
      $("bars").tBodies[0].append(row);
    }
  }
}

$("run-tests").addEventListener("click", async () => {
  $("test-output").textContent = "Running…";
  const answer = await get("/api/v1/tests/run", { method: "POST" });
  $("test-output").textContent = `${answer.status} ${answer.body?.title ?? ""}: ${answer.body?.detail ?? ""}`;
  $("test-output").dataset.status = String(answer.status);
});

load()
  .catch((err) => raise("danger", `API unreachable: ${err.message}`))
  .finally(() => { $("main").dataset.state = "ready"; });
