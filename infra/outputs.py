"""Stack outputs, added one way: the construct id and the output key are both its name.

The names are the OUTPUT_* constants in infra/constants.py, by which docs,
scripts and tests read the deployed values (`aws cloudformation describe-stacks`);
with id == key the template's Outputs section is keyed by exactly those names.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import CfnOutput
from constructs import Construct


def add_outputs(
    scope: Construct,
    outputs: Mapping[str, str],
    *,
    descriptions: Mapping[str, str] | None = None,
) -> None:
    """One CfnOutput per name -> value, with its description when one is given."""
    described = descriptions or {}
    unknown = set(described) - set(outputs)
    if unknown:
        raise ValueError(f"descriptions for outputs that are not added: {sorted(unknown)}")
    for name, value in outputs.items():
        CfnOutput(scope, name, key=name, value=value, description=described.get(name))
