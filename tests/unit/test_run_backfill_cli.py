"""`make backfill` argument handling: bad input is a message and exit 2, never a traceback."""

from __future__ import annotations

import pytest

from devtools.run_backfill import main


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (["--end", "9999-12-31"], "between 1970-01-01 and 2100-01-01"),
        (["--start", "2024-03-08", "--end", "2024-03-01"], "START must be before END"),
        (["--start", "yesterday"], "START='yesterday' is not a date"),
    ],
)
def test_a_bad_range_is_refused_before_anything_starts(
    args: list[str], mentions: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    assert mentions in capsys.readouterr().err
