"""The dependency layer build: pip arguments, pruning, hashing — without running pip."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from infra import bundling, constants
from infra.bundling import (
    FUNCTION_CODE_EXCLUDES,
    PipLayerBundling,
    layer_asset_hash,
    pip_install_args,
    prune_layer,
)


def test_pip_targets_python_312_on_linux_arm64_wheels_only() -> None:
    args = pip_install_args("/out/python")
    joined = " ".join(args)
    assert "--platform manylinux2014_aarch64" in joined
    assert "--platform manylinux_2_28_aarch64" in joined
    assert "--implementation cp" in joined
    assert "--python-version 3.12" in joined
    assert "--only-binary=:all:" in args
    assert args[args.index("--target") + 1] == "/out/python"
    assert args[:3] == ["install", "-r", str(constants.REQUIREMENTS_FILE)]


def test_prune_removes_runtime_provided_packages_scripts_and_caches(tmp_path: Path) -> None:
    for name in ("boto3", "botocore", "s3transfer", "fastapi/__pycache__", "bin", "jmespath"):
        (tmp_path / name).mkdir(parents=True)
        (tmp_path / name / "x.py").write_text("")
    (tmp_path / "botocore-1.0.dist-info").mkdir()
    (tmp_path / "fastapi" / "app.pyc").write_text("")
    prune_layer(tmp_path)
    left = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")}
    assert left == {"fastapi", "jmespath", "jmespath/x.py"}


def test_layer_hash_follows_requirements(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("fastapi==1\n")
    monkeypatch.setattr(bundling, "REQUIREMENTS_FILE", requirements)
    first = layer_asset_hash()
    assert layer_asset_hash() == first
    requirements.write_text("fastapi==2\n")
    assert layer_asset_hash() != first


def test_local_bundling_runs_pip_into_python_and_prunes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []

    def fake_run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        calls.append(command)
        target = Path(command[command.index("--target") + 1])
        (target / "botocore").mkdir(parents=True)
        (target / "fastapi").mkdir()
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    assert PipLayerBundling().try_bundle(str(tmp_path), image=None) is True
    (command,) = calls
    assert command[1:4] == ["-m", "pip", "install"]
    assert sorted(p.name for p in (tmp_path / "python").iterdir()) == ["fastapi"]


def test_a_failed_pip_run_fails_the_synth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        subprocess, "run", lambda command, **_: subprocess.CompletedProcess(command, 1)
    )
    with pytest.raises(RuntimeError, match="dependency layer"):
        PipLayerBundling().try_bundle(str(tmp_path), image=None)


def test_code_asset_excludes_caches_and_tests() -> None:
    for pattern in ("**/__pycache__", "**/*.pyc", "**/tests"):
        assert pattern in FUNCTION_CODE_EXCLUDES
