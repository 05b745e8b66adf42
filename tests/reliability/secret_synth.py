"""The CDK app synthesized with secrets in the environment and in the context, as a
careless operator might leave them, to show none of them reaches a template."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.infra.conftest import Synth, synthesize

SECRET_VALUES = {
    "POLYGON_API_KEY": "polygon-key-in-the-synth-environment-3b7d",
    "API_KEY_PEPPER": "pepper-in-the-synth-environment-0123456789abcdef",
    "DB_PASSWORD": "db-password-in-the-synth-environment-91ce",
    "DATABASE_URL": "postgresql://admin:db-url-password-55aa@db.example/marketdata",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-in-the-synth-environment-77f0",
}
# The same names as context (-c polygon_api_key=...), lower-cased.
CONTEXT_VALUES = {name.lower(): f"{value}-ctx" for name, value in SECRET_VALUES.items()}


def synthesize_with_secrets(outdir: Path) -> Synth:
    saved = {name: os.environ.get(name) for name in SECRET_VALUES}
    os.environ.update(SECRET_VALUES)
    try:
        synth = synthesize("prod", outdir, alarm_email="ops@example.com", **CONTEXT_VALUES)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    if synth.error is not None:
        raise AssertionError(f"synth failed: {synth.error}")
    return synth


def all_text(synth: Synth) -> str:
    """Every template and every other file of the cloud assembly, as text."""
    parts = [json.dumps(template) for template in synth.templates.values()]
    for path in Path(synth.outdir).rglob("*"):
        if path.is_file() and path.suffix in {".json", ".txt", ".yaml", ".yml"}:
            parts.append(path.read_text(errors="replace"))
    return "\n".join(parts)


__all__ = ["CONTEXT_VALUES", "SECRET_VALUES", "all_text", "synthesize_with_secrets"]
