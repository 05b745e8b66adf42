#!/usr/bin/env python3
"""CDK entry point: `npx cdk synth -c stage=dev|prod` (see docs/DEPLOY.md)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# jsii warns loudly on every run under Node 20; the CDK still works there.
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
# infra/ reads names shared with the Lambda code (market_data.metric_names), so
# `npx cdk synth` works without the Makefile's PYTHONPATH=functions:. too.
sys.path.insert(0, str(Path(__file__).resolve().parent / "functions"))

from aws_cdk import App

from infra.assembly import build

app = App()
build(app)
app.synth()
