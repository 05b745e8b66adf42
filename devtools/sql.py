"""`make sql`: DuckDB over the local lake (.local/lake, what make dev writes).

    make sql                                  an interactive prompt (end a query with ;)
    make sql Q="SELECT count(*) FROM bars"    run one query, print the result, exit

Views: `bars` (every timeframe; `timeframe` and `month` come from the partition
path, filter on them to read fewer files), `splits`, `dividends`. The files are
the ones make dev also put in its S3 bucket (moto), so a query here reads what
Athena reads in AWS. Reading from the directory needs no DuckDB extension (the
S3 one would have to be downloaded, and moto's S3 exists only while make dev runs).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import duckdb

from devtools.lake_local import LAKE_DIR
from market_data.lake import ACTIONS_PREFIX, BARS_PREFIX

PROMPT, MORE = "lake> ", "  ... "


def connect(lake_dir: Path = LAKE_DIR) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the lake's views (an error if there is no lake yet)."""
    bars = lake_dir / BARS_PREFIX
    if not any(bars.rglob("*.parquet")):
        raise SystemExit(f"no lake in {lake_dir}: run `make dev` first (it writes the lake)")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "CREATE VIEW bars AS SELECT * FROM read_parquet("
        f"'{bars}/*/*/*.parquet', hive_partitioning = true, hive_types_autocast = false)"
    )
    for name in ("splits", "dividends"):
        path = lake_dir / ACTIONS_PREFIX / name / f"{name}.parquet"
        if path.exists():
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
    return con


def run(con: duckdb.DuckDBPyConnection, query: str, *, max_rows: int = 40) -> None:
    relation = con.sql(query)
    if relation is not None:
        relation.show(max_rows=max_rows, max_width=200)


def repl(con: duckdb.DuckDBPyConnection) -> None:
    print("DuckDB over the lake: views bars, splits, dividends. End a query with ; (Ctrl-D quits)")
    lines: list[str] = []
    while True:
        try:
            line = input(MORE if lines else PROMPT)
        except EOFError:
            print()
            return
        lines.append(line)
        if line.rstrip().endswith(";"):
            try:
                run(con, "\n".join(lines))
            except duckdb.Error as exc:
                print(f"error: {exc}")
            lines = []


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-q", "--query", default="", help="run one query and exit")
    parser.add_argument("--lake", type=Path, default=LAKE_DIR, help="the lake directory")
    parser.add_argument("--max-rows", type=int, default=40)
    args: Any = parser.parse_args(argv)
    con = connect(args.lake)
    if args.query.strip():
        try:
            run(con, args.query, max_rows=args.max_rows)
        except duckdb.Error as exc:
            sys.exit(f"error: {exc}")
        return
    repl(con)


if __name__ == "__main__":
    main()
