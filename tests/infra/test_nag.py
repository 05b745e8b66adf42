"""cdk-nag: AwsSolutions and Serverless packs, zero unsuppressed findings, reasons given."""

from __future__ import annotations

import csv

import pytest

from infra.constants import stateful_stack_name, stateless_stack_name
from tests.infra.conftest import Synth

PACKS = ("AwsSolutions", "Serverless")


def _rows(synth: Synth, pack: str, stack_name: str) -> list[dict[str, str]]:
    report = synth.outdir / f"{pack}--{stack_name}-NagReport.csv"
    assert report.exists(), f"{pack} did not run on {stack_name}"
    with report.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_synth_passes_validation(any_stage: Synth) -> None:
    """An unsuppressed cdk-nag error fails the synth itself (validation report)."""
    assert any_stage.error is None, any_stage.error


@pytest.mark.parametrize("pack", PACKS)
def test_no_unsuppressed_findings_and_every_suppression_has_a_reason(
    any_stage: Synth, pack: str
) -> None:
    assert any_stage.error is None, any_stage.error
    for stack_name in (stateful_stack_name(any_stage.stage), stateless_stack_name(any_stage.stage)):
        rows = _rows(any_stage, pack, stack_name)
        assert rows, f"{pack} checked nothing in {stack_name}"
        non_compliant = [
            f"{row['Rule ID']} {row['Resource ID']}"
            for row in rows
            if row["Compliance"] == "Non-Compliant"
        ]
        assert non_compliant == []
        for row in rows:
            if row["Compliance"] == "Suppressed":
                assert len(row["Exception Reason"]) >= 30, row
