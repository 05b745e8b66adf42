"""`mdw`: the Market Data Warehouse API from a shell.

    mdw bars AAPL --timeframe 1h --start 2024-01-01 --format csv -o aapl.csv
    mdw latest AAPL MSFT BTC-USD
    mdw status
    mdw keys create dashboards --scope read
    mdw backfill ORCL --timeframes 1d --start 2024-01-01 --wait

The API is MDW_BASE_URL (default http://127.0.0.1:8000, what `make dev`
serves); the key is MDW_API_KEY or --api-key. Errors go to stderr with the
server's problem details, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import itertools
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

import httpx

from mdw_client import __version__, frames
from mdw_client._progress import ProgressBar
from mdw_client._transport import Retry, RetryPolicy
from mdw_client.admin import WaitProgress
from mdw_client.client import Client, Progress
from mdw_client.errors import ApiError, BackfillFailedError, MdwError
from mdw_client.models import Bar, MissingSymbol
from mdw_client.results import Bars

FORMATS = ("csv", "parquet", "table", "json")
_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".json": "json"}
TABLE_COLUMNS = ("symbol", "time", "open", "high", "low", "close", "volume", "vwap", "trades")


class _Cli:
    """What every command gets: the client, the streams, whether to draw progress."""

    def __init__(self, client: Client, out: TextIO, err: TextIO, progress: bool) -> None:
        self.client = client
        self.out = out
        self.err = err
        self.progress = progress

    def bar(self, label: str) -> ProgressBar | None:
        return ProgressBar(self.err, label) if self.progress else None


# --- output helpers -------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A value as JSON would carry it (datetimes as RFC 3339 with Z)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _cell(value: Any) -> str:
    """A CSV or table cell: times in RFC 3339, floats exact, booleans lower-case, None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return str(_plain(value))
    return str(value)


def write_json(out: TextIO, value: Any) -> None:
    json.dump(_plain(value), out, indent=2)
    out.write("\n")


def write_table(out: TextIO, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(header)]
    out.write("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip() + "\n")
    for row in cells:
        aligned = (
            c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(row, widths, strict=True)
        )
        line = "  ".join(aligned)
        out.write(line.rstrip() + "\n")


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def write_bars_csv(out: TextIO, bars: Iterable[Bar]) -> int:
    """CSV with a header row, in frame column order; returns the number of bars."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(frames.COLUMNS)
    count = 0
    for bar in bars:
        writer.writerow([_cell(getattr(bar, name)) for name in frames.COLUMNS])
        count += 1
    return count


def _bar_format(args: argparse.Namespace, out: TextIO) -> str:
    if args.format:
        return str(args.format)
    if args.output and args.output != "-":
        return _SUFFIXES.get(Path(args.output).suffix.lower(), "csv")
    return "table" if out.isatty() else "csv"


# --- commands -------------------------------------------------------------------------


def cmd_bars(cli: _Cli, args: argparse.Namespace) -> int:
    fmt = _bar_format(args, cli.out)
    if fmt == "parquet" and (not args.output or args.output == "-"):
        cli.err.write("mdw bars: --format parquet needs -o FILE\n")
        return 2
    # One symbol: an unknown one is an error. Many: those without bars are reported.
    missing: list[MissingSymbol] | None = [] if len(args.symbols) > 1 else None
    bar = cli.bar(f"{','.join(args.symbols)} {args.timeframe}")

    def progress(p: Progress) -> None:
        if bar is not None:
            bar.update(p.fraction, f"{p.bars:,} bars")

    quality: dict[str, Any] = {}
    if args.all_bars:
        quality = {"validated_only": False, "min_quality": 0.0}
    elif args.min_quality is not None:
        quality = {"min_quality": args.min_quality}
    stream = cli.client.iter_bars(
        args.symbols,
        args.timeframe,
        start=args.start,
        end=args.end,
        adjustment=args.adjustment,
        sort=args.sort,
        max_bars=args.max_bars,
        on_progress=progress,
        missing=missing,
        **quality,
    )
    if fmt == "csv":
        # The first page before any output: a refused request leaves no file, no header.
        first = next(stream, None)
        with _output(args.output, cli.out) as target:
            count = write_bars_csv(target, itertools.chain([first] if first else [], stream))
    else:
        collected = Bars(list(stream), timeframe=args.timeframe, symbols=args.symbols)
        count = len(collected)
        if fmt == "parquet":
            pq = frames.require("pyarrow.parquet")
            pq.write_table(collected.to_arrow(), args.output)
        elif fmt == "json":
            with _output(args.output, cli.out) as target:
                write_json(target, collected.to_records())
        else:
            with _output(args.output, cli.out) as target:
                rows = [[getattr(b, c) for c in TABLE_COLUMNS] for b in collected]
                write_table(target, TABLE_COLUMNS, rows)
    if bar is not None:
        bar.close(f"{count:,} bars")
    for gone in missing or ():
        cli.err.write(f"mdw: no bars for {gone.symbol}: {gone.detail or gone.reason}\n")
    if not count and not missing:
        cli.err.write("mdw: no bars in the range\n")
    if args.output and args.output != "-":
        cli.err.write(f"{count:,} bars written to {args.output}\n")
    return 0


@contextlib.contextmanager
def _output(path: str | None, default: TextIO) -> Iterator[TextIO]:
    """`-o FILE`, or `default` (stdout) when absent or `-`."""
    if path and path != "-":
        with open(path, "w", newline="", encoding="utf-8") as handle:
            yield handle
    else:
        yield default


def cmd_latest(cli: _Cli, args: argparse.Namespace) -> int:
    latest = cli.client.latest(args.symbols, args.timeframe, adjustment=args.adjustment)
    if args.json:
        write_json(cli.out, latest.to_records())
    else:
        now = datetime.now(UTC)
        rows = [
            [b.symbol, b.time, b.open, b.high, b.low, b.close, b.volume,
             round((now - b.time).total_seconds() / 3600, 1)]
            for b in latest
        ]  # fmt: skip
        header = ("symbol", "time", "open", "high", "low", "close", "volume", "age_hours")
        write_table(cli.out, header, rows)
    for gone in latest.missing:
        cli.err.write(f"mdw: no {args.timeframe} bar for {gone.symbol}: {gone.detail}\n")
    return 1 if latest.missing and not len(latest) else 0


def cmd_status(cli: _Cli, args: argparse.Namespace) -> int:
    status = cli.client.status()
    if args.json:
        write_json(cli.out, status)
        return 0
    db, quality = status.database, status.data_quality
    last = quality.last_backfill
    lines = [
        ("api", f"{status.api_version} {status.status}"),
        ("symbols with data", f"{db.symbols_available:,}"),
        ("bars", f"{db.total_records:,} ({db.validation_rate_pct or 0:.2f}% validated)"),
        ("latest bar", _cell(db.latest_data) or "-"),
        ("bars with gaps flagged", f"{quality.records_with_gaps_flagged:,}"),
        ("scheduler", f"{quality.scheduler_status}, {quality.run_state}"),
        ("next run", _cell(quality.next_run) or "-"),
        (
            "last backfill",
            f"{last.status} at {_cell(last.time)}: {last.total_records_imported:,} bars, "
            f"{last.successful_symbols} symbols ok, {last.failed_symbols} failed"
            if last
            else "-",
        ),
    ]
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        cli.out.write(f"{key.ljust(width)}  {value}\n")
    return 0


def cmd_health(cli: _Cli, args: argparse.Namespace) -> int:
    write_json(cli.out, cli.client.health(deep=args.deep))
    return 0


def cmd_metrics(cli: _Cli, args: argparse.Namespace) -> int:
    write_json(cli.out, cli.client.metrics())
    return 0


def cmd_symbols(cli: _Cli, args: argparse.Namespace) -> int:
    report = cli.client.symbols_detailed()
    if args.json:
        write_json(cli.out, report)
        return 0
    header = ("symbol", "asset_class", "records", "validation_rate", "latest_data",
              "data_age_hours", "status")  # fmt: skip
    write_table(cli.out, header, [[getattr(s, h) for h in header] for s in report.symbols])
    return 0


def cmd_keys(cli: _Cli, args: argparse.Namespace) -> int:
    keys = cli.client.admin.keys
    if args.keys_command == "create":
        expires = datetime.fromisoformat(args.expires_at) if args.expires_at else None
        created = keys.create(
            args.name,
            scopes=args.scope or ["read"],
            expires_at=expires,
            rate_limit_per_minute=args.rate_limit,
        )
        if args.json:
            write_json(cli.out, {**_plain(created), "api_key": created.api_key})
        else:
            cli.out.write(created.api_key + "\n")
            cli.err.write(
                f"key {created.id} '{created.name}' ({', '.join(created.scopes)}): "
                "shown once, store it now\n"
            )
        return 0
    if args.keys_command == "list":
        listed = keys.list(active_only=args.active_only)
        if args.json:
            write_json(cli.out, listed)
        else:
            header = ("id", "name", "key_preview", "scopes", "status", "created_at", "last_used_at")
            rows = [[k.id, k.name, k.key_preview, ",".join(k.scopes), k.status, k.created_at,
                     k.last_used_at] for k in listed]  # fmt: skip
            write_table(cli.out, header, rows)
        return 0
    if args.keys_command == "audit":
        events = list(keys.audit(args.key_id, max_events=args.limit))
        if args.json:
            write_json(cli.out, events)
        else:
            header = ("time", "action", "method", "path", "outcome", "target", "detail")
            write_table(cli.out, header, [[getattr(e, h) for h in header] for e in events])
        return 0
    if args.keys_command == "delete":
        keys.delete(args.key_id)
        cli.err.write(f"key {args.key_id} deleted\n")
        return 0
    actions: dict[str, Callable[[], Any]] = {
        "show": lambda: keys.get(args.key_id),
        "revoke": lambda: keys.revoke(args.key_id),
        "restore": lambda: keys.restore(args.key_id),
        "rename": lambda: keys.rename(args.key_id, args.name),
    }
    write_json(cli.out, actions[args.keys_command]())
    return 0


def cmd_tracked(cli: _Cli, args: argparse.Namespace) -> int:
    symbols = cli.client.admin.symbols
    command = args.tracked_command
    if command == "list":
        listed = symbols.list(active_only=args.active_only, include_stats=args.stats)
        if args.json:
            write_json(cli.out, listed)
        else:
            header = ("symbol", "asset_class", "active", "timeframes", "name")
            rows = [[s.symbol, s.asset_class, s.active, ",".join(s.timeframes), s.name]
                    for s in listed]  # fmt: skip
            write_table(cli.out, header, rows)
        return 0
    actions: dict[str, Callable[[], Any]] = {
        "add": lambda: symbols.create(
            args.symbol, args.asset_class, name=args.name, timeframes=_split(args.timeframes)
        ),
        "show": lambda: symbols.get(args.symbol),
        "timeframes": lambda: symbols.set_timeframes(args.symbol, _split(args.timeframes) or []),
        "activate": lambda: symbols.update(args.symbol, active=True),
        "deactivate": lambda: symbols.deactivate(args.symbol),
    }
    write_json(cli.out, actions[command]())
    return 0


def cmd_backfill(cli: _Cli, args: argparse.Namespace) -> int:
    backfills = cli.client.admin.backfills
    accepted = backfills.start(
        args.symbols or None, timeframes=_split(args.timeframes), start=args.start, end=args.end
    )
    cli.err.write(f"run {accepted.run_id}: {accepted.jobs_total} jobs queued\n")
    if not args.wait:
        write_json(cli.out, accepted)
        return 0
    bar = cli.bar("backfill")

    def progress(p: WaitProgress) -> None:
        if bar is not None:
            fraction = p.done / p.total if p.total else 1.0
            text = f"{p.done}/{p.total} jobs, {p.bars_upserted:,} bars"
            bar.update(fraction, text + (f", {p.failed} failed" if p.failed else ""))

    try:
        jobs = backfills.wait(
            accepted, poll_interval=args.poll, timeout=args.timeout, on_progress=progress
        )
    except BackfillFailedError as exc:
        if bar is not None:
            bar.close(f"{len(exc.failed)} failed")
        write_json(cli.out, exc.jobs)
        for job in exc.failed:
            cli.err.write(f"mdw: job {job.job_id} {job.symbol} {job.timeframe}: {job.error}\n")
        return 1
    total = sum(j.bars_upserted for j in jobs)
    if bar is not None:
        bar.close(f"{len(jobs)} jobs, {total:,} bars")
    write_json(cli.out, jobs)
    return 0


def cmd_job(cli: _Cli, args: argparse.Namespace) -> int:
    write_json(cli.out, cli.client.admin.backfills.job(args.job_id))
    return 0


def _split(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


# --- the parser -----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mdw",
        description="The Market Data Warehouse API from a shell.",
        epilog="Environment: MDW_BASE_URL (default http://127.0.0.1:8000), MDW_API_KEY.",
    )
    parser.add_argument("--version", action="version", version=f"mdw {__version__}")
    parser.add_argument("--base-url", help="the API's root URL (default: MDW_BASE_URL)")
    parser.add_argument("--api-key", help="an API key (default: MDW_API_KEY)")
    parser.add_argument("--timeout", type=float, help="seconds per request (default 30)")
    parser.add_argument("--retries", type=int, default=5, help="retries of 429/503/timeouts")
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="draw progress bars (default: when stderr is a terminal)",
    )
    progress.add_argument("--no-progress", dest="progress", action="store_false")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[_Cli, argparse.Namespace], int], text: str) -> Any:
        sub = commands.add_parser(name, help=text, description=text)
        sub.set_defaults(handler=handler)
        return sub

    bars = command("bars", cmd_bars, "download bars (every page, any range length)")
    bars.add_argument("symbols", nargs="+", metavar="SYMBOL")
    bars.add_argument("-t", "--timeframe", default="1d", help="1m 5m 15m 30m 1h 4h 1d 1w")
    bars.add_argument("--start", help="YYYY-MM-DD or RFC 3339 (default: a recent window)")
    bars.add_argument("--end", help="inclusive; YYYY-MM-DD or RFC 3339 (default: now)")
    bars.add_argument("--adjustment", choices=("raw", "split", "dividend", "all"))
    bars.add_argument("--sort", choices=("asc", "desc"), default="asc")
    bars.add_argument("--min-quality", type=float, help="0-1 (server default 0.85)")
    bars.add_argument(
        "--all-bars",
        action="store_true",
        help="include bars that failed validation (validated_only=false, min_quality=0)",
    )
    bars.add_argument("--max-bars", type=int, help="fail instead of fetching more than this")
    bars.add_argument(
        "--format",
        choices=FORMATS,
        help="default: from -o's suffix, else table on a terminal, csv otherwise",
    )
    bars.add_argument("-o", "--output", help="file to write (default: stdout)")

    latest = command("latest", cmd_latest, "the newest bar of each symbol, with its age")
    latest.add_argument("symbols", nargs="+", metavar="SYMBOL")
    latest.add_argument("-t", "--timeframe", default="1d")
    latest.add_argument("--adjustment", choices=("raw", "split", "dividend", "all"))
    latest.add_argument("--json", action="store_true")

    status = command("status", cmd_status, "what the warehouse holds, how the nightly run went")
    status.add_argument("--json", action="store_true")
    health = command("health", cmd_health, "liveness (--deep: database and key store too)")
    health.add_argument("--deep", action="store_true")
    command("metrics", cmd_metrics, "scheduler, last backfill and totals (JSON)")
    symbols = command("symbols", cmd_symbols, "every tracked symbol with freshness and health")
    symbols.add_argument("--json", action="store_true")

    keys = command("keys", cmd_keys, "API keys (admin)")
    key_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = key_commands.add_parser("create", help="issue a key; prints it (once)")
    create.add_argument("name")
    create.add_argument("--scope", action="append", choices=("read", "admin"),
                        help="repeat for several (default: read)")  # fmt: skip
    create.add_argument("--expires-at", help="RFC 3339 (no offset: UTC)")
    create.add_argument("--rate-limit", type=int, help="requests per minute")
    create.add_argument("--json", action="store_true", help="print the whole answer as JSON")
    listing = key_commands.add_parser("list", help="keys, newest first (no secrets)")
    listing.add_argument("--active-only", action="store_true")
    listing.add_argument("--json", action="store_true")
    key_actions = (
        ("show", "one key"),
        ("revoke", "stop a key working"),
        ("restore", "undo a revoke"),
        ("delete", "delete a key for good"),
    )
    for action, text in key_actions:
        key_commands.add_parser(action, help=text).add_argument("key_id")
    rename = key_commands.add_parser("rename", help="rename a key")
    rename.add_argument("key_id")
    rename.add_argument("name")
    audit = key_commands.add_parser("audit", help="what a key did, newest first")
    audit.add_argument("key_id", help="a key id, or 'unknown' for unidentified keys")
    audit.add_argument("--limit", type=int, default=100, help="at most this many events")
    audit.add_argument("--json", action="store_true")

    tracked = command("tracked", cmd_tracked, "the tracked symbol universe (admin)")
    tracked_commands = tracked.add_subparsers(dest="tracked_command", required=True,
                                              metavar="ACTION")  # fmt: skip
    tracked_list = tracked_commands.add_parser("list", help="tracked symbols")
    tracked_list.add_argument("--active-only", action="store_true")
    tracked_list.add_argument("--stats", action="store_true", help="record counts per series")
    tracked_list.add_argument("--json", action="store_true")
    add = tracked_commands.add_parser("add", help="track a symbol")
    add.add_argument("symbol")
    add.add_argument("--asset-class", required=True, choices=("stock", "etf", "crypto", "index"))
    add.add_argument("--name")
    add.add_argument("--timeframes", help="comma list (default: the server's)")
    for action, text in (("show", "one symbol with statistics"),
                         ("activate", "resume backfills"),
                         ("deactivate", "stop backfills (bars are kept)")):  # fmt: skip
        tracked_commands.add_parser(action, help=text).add_argument("symbol")
    timeframes = tracked_commands.add_parser("timeframes", help="replace a symbol's timeframes")
    timeframes.add_argument("symbol")
    timeframes.add_argument("timeframes", help="comma list, e.g. 1d,1h")

    backfill = command("backfill", cmd_backfill, "backfill now (admin); --wait follows the jobs")
    backfill.add_argument("symbols", nargs="*", metavar="SYMBOL",
                          help="default: every active symbol")  # fmt: skip
    backfill.add_argument("--timeframes", help="comma list (default: each symbol's own)")
    backfill.add_argument("--start", help="YYYY-MM-DD or RFC 3339")
    backfill.add_argument("--end", help="inclusive; YYYY-MM-DD or RFC 3339")
    backfill.add_argument("--wait", action="store_true", help="until every job is done")
    backfill.add_argument("--poll", type=float, default=2.0, help="seconds between polls")
    backfill.add_argument("--timeout", type=float, help="give up waiting after this many seconds")
    job = command("job", cmd_job, "one backfill job's status (admin)")
    job.add_argument("job_id")
    return parser


def _describe(exc: MdwError) -> str:
    if isinstance(exc, ApiError):
        lines = [f"mdw: {exc.status} {exc.title}: {exc.detail}"]
        lines += [f"  {error}" for error in exc.errors if str(error) not in exc.detail]
        return "\n".join(lines)
    return f"mdw: {exc}"


def main(
    argv: Sequence[str] | None = None,
    *,
    http_client: httpx.Client | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    sleep: Callable[[float], None] | None = None,
) -> int:
    """Run `mdw`; returns the exit status (0 done, 1 the API refused or failed, 2 usage)."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    args = build_parser().parse_args(argv)
    show_progress = err.isatty() if args.progress is None else args.progress

    def tell(retry: Retry) -> None:
        err.write(f"\nmdw: {retry.reason}; retry {retry.attempt} in {retry.delay:.0f} s\n")

    extra: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
    client = Client(
        args.base_url,
        args.api_key,
        timeout=args.timeout,
        http_client=http_client,
        retry=RetryPolicy(max_retries=max(0, args.retries)),
        on_retry=tell,
        **extra,
    )
    try:
        with client:
            handler: Callable[[_Cli, argparse.Namespace], int] = args.handler
            return handler(_Cli(client, out, err, show_progress), args)
    except MdwError as exc:
        err.write(_describe(exc) + "\n")
        return 1
    except KeyboardInterrupt:
        err.write("mdw: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
