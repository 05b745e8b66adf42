"""DynamoDB key store: key schemas the app relies on, on-demand, PITR, encryption, TTL."""

from __future__ import annotations

from typing import Any

import pytest

from infra.constants import (
    API_AUDIT_PARTITION_KEY,
    API_AUDIT_SORT_KEY,
    API_KEYS_BY_ID_INDEX,
    API_KEYS_BY_ID_KEY,
    API_KEYS_PARTITION_KEY,
    RATE_LIMIT_PARTITION_KEY,
    TTL_ATTRIBUTE,
)
from tests.infra.conftest import Synth, resources_of


def _tables(synth: Synth) -> dict[str, dict[str, Any]]:
    return resources_of(synth.stateful_json, "AWS::DynamoDB::Table")


def _table_with_hash_key(synth: Synth, name: str) -> dict[str, Any]:
    for table in _tables(synth).values():
        schema = table["Properties"]["KeySchema"]
        if {"AttributeName": name, "KeyType": "HASH"} in schema:
            return dict(table["Properties"])
    raise AssertionError(f"no table with partition key {name}")


def test_three_tables_all_on_demand_pitr_encrypted_with_ttl(any_stage: Synth) -> None:
    tables = _tables(any_stage)
    assert len(tables) == 3
    for table in tables.values():
        properties = table["Properties"]
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True
        }
        assert properties["SSESpecification"] == {"SSEEnabled": True}
        assert properties["TimeToLiveSpecification"] == {
            "AttributeName": TTL_ATTRIBUTE,
            "Enabled": True,
        }


def test_api_keys_table_is_keyed_by_hash_with_a_by_id_index(dev: Synth) -> None:
    table = _table_with_hash_key(dev, API_KEYS_PARTITION_KEY)
    assert table["KeySchema"] == [{"AttributeName": API_KEYS_PARTITION_KEY, "KeyType": "HASH"}]
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == API_KEYS_BY_ID_INDEX
    assert index["KeySchema"] == [{"AttributeName": API_KEYS_BY_ID_KEY, "KeyType": "HASH"}]
    assert {"AttributeName": API_KEYS_BY_ID_KEY, "AttributeType": "S"} in table[
        "AttributeDefinitions"
    ]


def test_audit_and_rate_limit_tables(dev: Synth) -> None:
    audit = _table_with_hash_key(dev, API_AUDIT_PARTITION_KEY)
    assert audit["KeySchema"] == [
        {"AttributeName": API_AUDIT_PARTITION_KEY, "KeyType": "HASH"},
        {"AttributeName": API_AUDIT_SORT_KEY, "KeyType": "RANGE"},
    ]
    rate = _table_with_hash_key(dev, RATE_LIMIT_PARTITION_KEY)
    assert rate["KeySchema"] == [{"AttributeName": RATE_LIMIT_PARTITION_KEY, "KeyType": "HASH"}]


@pytest.mark.parametrize(("stage", "protected"), [("dev", False), ("prod", True)])
def test_deletion_protection_follows_the_stage(
    stage: str, protected: bool, dev: Synth, prod: Synth
) -> None:
    synth = {"dev": dev, "prod": prod}[stage]
    for table in _tables(synth).values():
        assert table["Properties"]["DeletionProtectionEnabled"] is protected
        assert table["DeletionPolicy"] == ("Retain" if protected else "Delete")


def test_pepper_is_a_generated_secret(dev: Synth) -> None:
    secrets = resources_of(dev.stateful_json, "AWS::SecretsManager::Secret")
    peppers = [s for s in secrets.values() if "Pepper" in s["Metadata"]["aws:cdk:path"]]
    assert len(peppers) == 1
    assert peppers[0]["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
