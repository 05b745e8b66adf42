"""Package size: the shared code asset plus the dependency layer, zipped and unzipped."""

from __future__ import annotations

import fnmatch
import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from bench.stats import Row

ROOT = Path(__file__).resolve().parents[1]
LIMIT_MB = 40


def _files(folder: Path, excludes: list[str] | None = None) -> list[Path]:
    found = []
    for path in folder.rglob("*"):
        relative = str(path.relative_to(folder))
        if path.is_file() and not any(
            fnmatch.fnmatch(relative, p.removeprefix("**/"))
            or fnmatch.fnmatch(relative, p)
            or any(fnmatch.fnmatch(part, p.removeprefix("**/")) for part in path.parts)
            for p in (excludes or [])
        ):
            found.append(path)
    return found


def _sizes(folder: Path, excludes: list[str] | None = None) -> tuple[int, int]:
    files = _files(folder, excludes)
    unzipped = sum(f.stat().st_size for f in files)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for f in files:
            archive.write(f, f.relative_to(folder))
    return unzipped, buffer.tell()


def build_layer(cache: Path) -> Path:
    """The same pip command the CDK bundling runs, cached by the layer's asset hash."""
    from infra.bundling import layer_asset_hash, pip_install_args, prune_layer

    target = cache / layer_asset_hash()[:16] / "python"
    if not target.exists():
        partial = target.with_name("partial")
        shutil.rmtree(partial, ignore_errors=True)
        env = {k: v for k, v in os.environ.items() if k not in ("PIP_TARGET", "PIP_USER")}
        subprocess.run(
            [sys.executable, "-m", "pip", *pip_install_args(str(partial))], check=True, env=env
        )
        prune_layer(partial)
        partial.rename(target)
    return target


def run(cache: Path) -> tuple[list[Row], list[str]]:
    from infra.bundling import FUNCTION_CODE_EXCLUDES

    layer = build_layer(cache)
    code_raw, code_zip = _sizes(ROOT / "functions", FUNCTION_CODE_EXCLUDES)
    layer_raw, layer_zip = _sizes(layer)
    total = (code_raw + layer_raw) / 1e6
    biggest = sorted(
        ((sum(f.stat().st_size for f in _files(p)), p.name) for p in layer.iterdir() if p.is_dir()),
        reverse=True,
    )[:6]
    note = "- Largest layer packages: " + ", ".join(f"{n} {s / 1e6:.1f} MB" for s, n in biggest)
    return [
        Row(
            "package",
            "code asset (functions/)",
            f"{code_raw / 1e6:.2f} MB unzipped",
            f"{code_zip / 1e6:.2f} MB zipped",
            "",
            "",
            "",
        ),
        Row(
            "package",
            "dependency layer (arm64)",
            f"{layer_raw / 1e6:.1f} MB unzipped",
            f"{layer_zip / 1e6:.1f} MB zipped",
            "",
            "",
            "",
        ),
        Row(
            "package",
            "code + layer, unzipped",
            f"{total:.1f} MB",
            "250 MB Lambda limit",
            f"{total / 250:.2f}x",
            f"<= {LIMIT_MB} MB",
            "met" if total <= LIMIT_MB else "MISSED",
        ),
    ], [note]
