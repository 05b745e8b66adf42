"""cfn-lint: every synthesized template, both stages, without errors."""

from __future__ import annotations

from pathlib import Path

from cfnlint.api import ManualArgs, lint_file  # type: ignore[import-untyped]

from tests.infra.conftest import Synth

REGIONS = ["us-east-1", "eu-west-1"]


def test_templates_have_no_cfn_lint_errors(any_stage: Synth) -> None:
    assert any_stage.error is None, any_stage.error
    templates = sorted(Path(any_stage.outdir).glob("*.template.json"))
    assert len(templates) == 2
    for template in templates:
        matches = lint_file(template, config=ManualArgs(regions=REGIONS))
        errors = [f"{m.rule.id} {m.message} ({m.path})" for m in matches if m.rule.id[0] == "E"]
        assert errors == [], f"{template.name}:\n" + "\n".join(errors)
