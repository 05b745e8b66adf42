"""The import rule of `make lint` holds, and breaks when a domain module imports a driver."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")),
         "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=tree, env={"PYTHONPATH": str(tree / "functions"), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def test_the_domain_modules_import_no_driver_and_one_that_does_breaks_the_rule(
    tmp_path: Path,
) -> None:
    shutil.copytree(ROOT / "functions" / "market_data", tmp_path / "functions" / "market_data")
    assert lint_imports(tmp_path).returncode == 0

    # Through another module counts too: the rule follows imports all the way down.
    calendar = tmp_path / "functions" / "market_data" / "calendar.py"
    calendar.write_text(calendar.read_text() + "\nimport psycopg  # noqa\n")
    broken = lint_imports(tmp_path)

    assert broken.returncode == 1
    assert "market_data.calendar -> psycopg" in broken.stdout
