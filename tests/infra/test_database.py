"""Aurora PostgreSQL Serverless v2: engine, capacity, encryption, auth, backups, protection."""

from __future__ import annotations

from aws_cdk.assertions import Match

from tests.infra.conftest import Synth, resources_of


def _cluster(synth: Synth) -> dict:  # type: ignore[type-arg]
    (cluster,) = resources_of(synth.stateful_json, "AWS::RDS::DBCluster").values()
    return cluster


def test_cluster_is_encrypted_postgres_16_serverless_v2_with_iam_auth(dev: Synth) -> None:
    properties = _cluster(dev)["Properties"]
    assert properties["Engine"] == "aurora-postgresql"
    assert properties["EngineVersion"].startswith("16.")
    assert properties["StorageEncrypted"] is True
    assert properties["EnableIAMDatabaseAuthentication"] is True
    assert properties["ManageMasterUserPassword"] is True
    assert "MasterUserPassword" not in properties
    assert properties["ServerlessV2ScalingConfiguration"]["MinCapacity"] >= 0.5
    assert properties["BackupRetentionPeriod"] >= 7
    assert properties["EnableCloudwatchLogsExports"] == ["postgresql"]


def test_instances_are_serverless_and_private(dev: Synth, prod: Synth) -> None:
    dev.stateful_template.resource_count_is("AWS::RDS::DBInstance", 1)
    prod.stateful_template.resource_count_is("AWS::RDS::DBInstance", 2)  # writer + reader
    prod.stateful_template.all_resources_properties(
        "AWS::RDS::DBInstance",
        {"DBInstanceClass": "db.serverless", "PubliclyAccessible": False},
    )


def test_tls_is_forced(dev: Synth) -> None:
    dev.stateful_template.has_resource_properties(
        "AWS::RDS::DBClusterParameterGroup",
        {"Parameters": Match.object_like({"rds.force_ssl": "1"})},
    )


def test_prod_has_deletion_protection_and_snapshots_on_delete(dev: Synth, prod: Synth) -> None:
    assert _cluster(prod)["Properties"]["DeletionProtection"] is True
    assert _cluster(prod)["DeletionPolicy"] == "Snapshot"
    assert _cluster(dev)["Properties"]["DeletionProtection"] is False
    assert _cluster(dev)["DeletionPolicy"] == "Delete"


def test_postgres_log_group_has_a_retention(dev: Synth) -> None:
    dev.stateful_template.has_resource_properties(
        "AWS::Logs::LogGroup",
        {
            "LogGroupName": "/aws/rds/cluster/marketdatawarehouse-dev/postgresql",
            "RetentionInDays": 14,
        },
    )
