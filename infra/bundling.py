"""Lambda code assets: the shared `functions/` code and the third-party dependency layer.

The layer is built without Docker: `pip install --platform manylinux…_aarch64
--only-binary=:all:` downloads the Linux/arm64 wheels for Python 3.12 whatever
machine runs the synth, and the result is pruned of what the Lambda runtime
already ships (boto3/botocore) and of what never runs (`__pycache__`, scripts).
The asset hash is the hash of requirements.txt plus the pip arguments, so a
second synth with unchanged requirements reuses `cdk.out/asset.<hash>/` without
running pip again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from infra.constants import (
    FUNCTIONS_DIR,
    LAKE_LAYER_DIR,
    LAKE_REQUIREMENTS_FILE,
    LAYER_DIR,
    REQUIREMENTS_FILE,
)

PYTHON_VERSION = "3.12"
# psycopg-binary >= 3.3 publishes only manylinux_2_28 wheels; the python3.12 runtime
# (Amazon Linux 2023, glibc 2.34) runs both tags.
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")

# Bump when the pruning below changes, so the layer hash changes with it.
BUNDLER_VERSION = "2"

# In the Lambda runtime already; pulled in by aws-xray-sdk (botocore) only.
PROVIDED_BY_RUNTIME = ("boto3", "botocore", "s3transfer")

# Never shipped with the function code: caches, tests, editor and build junk.
FUNCTION_CODE_EXCLUDES = [
    "**/__pycache__",
    "**/*.pyc",
    "**/.pytest_cache",
    "**/.mypy_cache",
    "**/.ruff_cache",
    "**/tests",
    "**/test_*.py",
    "**/*_test.py",
    "**/conftest.py",
    "**/*.egg-info",
    "**/.DS_Store",
    "**/node_modules",
    "**/*.map",
    "**/.env",
    "**/.venv",
]


def pip_install_args(target: str, requirements: Path | None = None) -> list[str]:
    args = ["install", "-r", str(requirements or REQUIREMENTS_FILE)]
    for platform in PLATFORMS:
        args += ["--platform", platform]
    return [
        *args,
        "--implementation", "cp",
        "--python-version", PYTHON_VERSION,
        "--only-binary=:all:",
        "--target", target,
        "--no-compile",
        "--disable-pip-version-check",
        "--quiet",
    ]  # fmt: skip


def layer_asset_hash(requirements: Path | None = None) -> str:
    """Changes exactly when the layer's content can change."""
    digest = hashlib.sha256()
    digest.update((requirements or REQUIREMENTS_FILE).read_bytes())
    digest.update(" ".join(pip_install_args("<out>", requirements)).encode())
    digest.update(BUNDLER_VERSION.encode())
    return digest.hexdigest()


def prune_layer(site_packages: Path) -> None:
    """Remove what the runtime provides and what would only be dead weight."""
    for name in PROVIDED_BY_RUNTIME:
        shutil.rmtree(site_packages / name, ignore_errors=True)
        for dist_info in site_packages.glob(f"{name}-*.dist-info"):
            shutil.rmtree(dist_info, ignore_errors=True)
    # Console scripts carry the build machine's interpreter path in their shebang.
    shutil.rmtree(site_packages / "bin", ignore_errors=True)
    for cache in list(site_packages.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)
    for compiled in site_packages.rglob("*.py[co]"):
        compiled.unlink()


@jsii.implements(ILocalBundling)
class PipLayerBundling:
    """Builds the layer on the synth machine (CDK calls this before trying Docker)."""

    def __init__(self, requirements: Path | None = None) -> None:
        self.requirements = requirements

    def try_bundle(self, output_dir: str, *args: Any, **kwargs: Any) -> bool:
        site_packages = Path(output_dir) / "python"
        site_packages.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        env.pop("PIP_TARGET", None)
        env.pop("PIP_USER", None)
        command = [
            sys.executable, "-m", "pip", *pip_install_args(str(site_packages), self.requirements)
        ]  # fmt: skip
        result = subprocess.run(command, env=env, check=False)  # noqa: S603 - fixed argv
        if result.returncode != 0:
            raise RuntimeError(
                "building the dependency layer failed: "
                f"{' '.join(command)} exited with {result.returncode}"
            )
        prune_layer(site_packages)
        return True


def dependency_layer_code(*, skip_bundling: bool) -> lambda_.Code:
    """The layer's code: real wheels, or a tiny placeholder when bundling is skipped.

    `-c skip_bundling=true` (used by the infra tests) keeps synth offline and quick;
    such a template is for inspection only, never for deployment.
    """
    if skip_bundling:
        return lambda_.Code.from_asset(str(LAYER_DIR), exclude=["python", "python/**"])
    return lambda_.Code.from_asset(
        str(LAYER_DIR),
        exclude=["python", "python/**"],
        asset_hash=layer_asset_hash(),
        asset_hash_type=AssetHashType.CUSTOM,
        bundling=BundlingOptions(
            # Required by the API but never pulled: PipLayerBundling either builds
            # the layer or raises, so CDK never falls back to Docker.
            image=DockerImage.from_registry("local-bundling-only"),
            local=PipLayerBundling(),
        ),
    )


def lake_layer_code(*, skip_bundling: bool) -> lambda_.Code:
    """The export function's own layer (requirements-lake.txt: pyarrow), built the same way.

    pyarrow's aarch64 wheel is most of Lambda's 250 MB (unzipped, all layers and the
    code together), so it goes to the one function that writes Parquet, never to the
    shared layer every function (the API's cold start) loads.
    """
    if skip_bundling:
        return lambda_.Code.from_asset(str(LAKE_LAYER_DIR), exclude=["python", "python/**"])
    return lambda_.Code.from_asset(
        str(LAKE_LAYER_DIR),
        exclude=["python", "python/**"],
        asset_hash=layer_asset_hash(LAKE_REQUIREMENTS_FILE),
        asset_hash_type=AssetHashType.CUSTOM,
        bundling=BundlingOptions(
            image=DockerImage.from_registry("local-bundling-only"),
            local=PipLayerBundling(LAKE_REQUIREMENTS_FILE),
        ),
    )


def function_code() -> lambda_.AssetCode:
    """The one code asset every function ships: `functions/`, minus junk."""
    return lambda_.Code.from_asset(str(FUNCTIONS_DIR), exclude=FUNCTION_CODE_EXCLUDES)
