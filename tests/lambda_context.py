"""The Lambda context stand-in and the sample-event loader live in devtools.lambda_context.

Re-exported here so the tests that import them from this module keep working;
new code imports them from devtools.lambda_context.
"""

from __future__ import annotations

from devtools.lambda_context import FakeLambdaContext, load_event

__all__ = ["FakeLambdaContext", "load_event"]
