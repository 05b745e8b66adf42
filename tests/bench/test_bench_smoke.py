"""The benchmarks run (quick sizes). Speed is judged in `make bench`, never here."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_benchmark_runs_and_reports_every_area() -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'functions'}:{ROOT}"}
    env.pop("DATABASE_URL", None)  # its own embedded server, not the test database
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--skip-package"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = (ROOT / "test-artifacts" / "bench-quick.md").read_text()
    for area in ("cold start", "read path", "reads", "ingest", "lake"):
        assert f"| {area} |" in report
