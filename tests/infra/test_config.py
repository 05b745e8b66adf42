"""Stage settings: chosen by `-c stage=...`, overridable one field at a time, validated."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, RemovalPolicy

from infra.config import NIGHTLY_SCHEDULE, STAGES, load_stage_config


def config_for(**context: Any) -> Any:
    return load_stage_config(App(context=context).node)


def test_dev_is_the_default_stage() -> None:
    assert config_for().stage == "dev"


def test_prod_protects_its_data_and_dev_cleans_up() -> None:
    prod, dev = config_for(stage="prod"), config_for(stage="dev")
    assert prod.deletion_protection and prod.removal_policy == RemovalPolicy.RETAIN
    assert prod.database_removal_policy == RemovalPolicy.SNAPSHOT
    assert not dev.deletion_protection and dev.removal_policy == RemovalPolicy.DESTROY


def test_both_stages_run_the_nightly_schedule_at_two_utc() -> None:
    assert {config.schedule_expression for config in STAGES.values()} == {NIGHTLY_SCHEDULE}
    assert NIGHTLY_SCHEDULE == "cron(0 2 * * ? *)"


def test_context_overrides_single_fields_with_their_types() -> None:
    config = config_for(
        stage="prod",
        alarm_email="ops@example.com",
        cors_allow_origins="https://a.example, https://b.example",
        backfill_max_concurrency="4",
        db_max_capacity="8",
        schedule_enabled="false",
    )
    assert config.alarm_email == "ops@example.com"
    assert config.cors_allow_origins == ("https://a.example", "https://b.example")
    assert config.backfill_max_concurrency == 4
    assert config.db_max_capacity == 8.0
    assert config.schedule_enabled is False


def test_prod_refuses_a_wildcard_cors_origin() -> None:
    with pytest.raises(ValueError, match="cors_allow_origins"):
        config_for(stage="prod", cors_allow_origins="*")


def test_aurora_minimum_capacity_cannot_allow_auto_pause() -> None:
    with pytest.raises(ValueError, match="db_min_capacity"):
        config_for(db_min_capacity="0")


def test_unknown_stage_and_bad_values_name_the_problem() -> None:
    with pytest.raises(ValueError, match="unknown stage"):
        config_for(stage="qa")
    with pytest.raises(ValueError, match="log_retention_days"):
        config_for(log_retention_days="13")
    with pytest.raises(ValueError, match="backfill_max_concurrency"):
        config_for(backfill_max_concurrency="1")


def test_the_polygon_budget_is_split_across_concurrent_workers() -> None:
    dev = config_for(stage="dev")
    assert dev.polygon_requests_per_minute_per_worker * dev.backfill_max_concurrency <= (
        dev.polygon_requests_per_minute
    )
    prod = config_for(stage="prod")
    assert prod.polygon_requests_per_minute_per_worker == 60
