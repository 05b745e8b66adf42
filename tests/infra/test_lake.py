"""The lake, the exports and the Athena workgroup in the CDK templates."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match

from infra.lake import ATHENA_BYTES_SCANNED_CUTOFF, TIMEFRAMES
from tests.infra.conftest import Synth, resources_of


def _buckets(synth: Synth) -> dict[str, dict[str, Any]]:
    return resources_of(synth.stateful_json, "AWS::S3::Bucket")


def _bucket(synth: Synth, prefix: str) -> dict[str, Any]:
    [found] = [r for lid, r in _buckets(synth).items() if lid.startswith(prefix)]
    return found["Properties"]


def test_the_lake_bucket_is_private_encrypted_versioned_and_logged(any_stage: Synth) -> None:
    lake = _bucket(any_stage, "LakeLakeBucket")
    assert lake["VersioningConfiguration"] == {"Status": "Enabled"}
    assert lake["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True,
        "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
    }  # fmt: skip
    rule = lake["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert "LoggingConfiguration" in lake
    noncurrent = lake["LifecycleConfiguration"]["Rules"][0]["NoncurrentVersionExpiration"]
    assert noncurrent["NoncurrentDays"] == 30


def test_every_bucket_refuses_plain_http(any_stage: Synth) -> None:
    policies = resources_of(any_stage.stateful_json, "AWS::S3::BucketPolicy")
    assert len(policies) == len(_buckets(any_stage)) == 3
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        )


def test_export_results_and_athena_results_expire(any_stage: Synth) -> None:
    rules = {
        r["Id"]: r
        for r in _bucket(any_stage, "LakeExportsBucket")["LifecycleConfiguration"]["Rules"]
    }
    assert rules["ExpireExports"]["Prefix"] == "exports/"
    assert rules["ExpireExports"]["ExpirationInDays"] == 7
    assert rules["ExpireAthenaResults"]["ExpirationInDays"] == 30


def test_the_bars_table_projects_its_partitions_over_the_lake(dev: Synth) -> None:
    [table] = [
        r["Properties"]["TableInput"]
        for r in resources_of(dev.stateful_json, "AWS::Glue::Table").values()
        if r["Properties"]["TableInput"]["Name"] == "bars"
    ]
    assert [k["Name"] for k in table["PartitionKeys"]] == ["timeframe", "month"]
    parameters = table["Parameters"]
    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.timeframe.values"] == ",".join(TIMEFRAMES)
    assert parameters["projection.month.format"] == "yyyy-MM"
    columns = [c["Name"] for c in table["StorageDescriptor"]["Columns"]]
    assert columns[:2] == ["symbol", "time"] and "quality_score" in columns
    serde = table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]
    assert serde.endswith("ParquetHiveSerDe")
    assert len(resources_of(dev.stateful_json, "AWS::Glue::Table")) == 3  # bars, splits, dividends


def test_the_workgroup_enforces_encrypted_results_and_a_scan_limit(any_stage: Synth) -> None:
    any_stage.stateful_template.has_resource_properties(
        "AWS::Athena::WorkGroup",
        {
            "WorkGroupConfiguration": Match.object_like(
                {
                    "EnforceWorkGroupConfiguration": True,
                    "BytesScannedCutoffPerQuery": ATHENA_BYTES_SCANNED_CUTOFF,
                    "ResultConfiguration": {
                        "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
                        "OutputLocation": Match.any_value(),
                    },
                }
            )
        },
    )


def test_the_export_function_has_its_own_parquet_layer_and_queue(dev: Synth) -> None:
    functions = resources_of(dev.stateless_json, "AWS::Lambda::Function")
    [export] = [
        f["Properties"]
        for f in functions.values()
        if f["Properties"].get("Handler") == "export.handler.lambda_handler"
    ]
    assert len(export["Layers"]) == 2
    others = [
        f["Properties"] for f in functions.values() if f["Properties"] is not export
        and f["Properties"].get("Handler", "").endswith(".lambda_handler")
    ]  # fmt: skip
    assert all(len(f["Layers"]) == 1 for f in others)
    variables = export["Environment"]["Variables"]
    assert {"LAKE_BUCKET", "EXPORTS_BUCKET"} <= set(variables)
    # Room in /tmp for the partition files a lake write spools (two at once).
    assert export["EphemeralStorage"] == {"Size": 4096}
    assert all("EphemeralStorage" not in f for f in others)
    dev.stateless_template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {"FunctionResponseTypes": ["ReportBatchItemFailures"], "BatchSize": 1},
    )


def _policies_of(synth: Synth, role_prefix: str) -> list[dict[str, Any]]:
    return [
        s
        for p in resources_of(synth.stateless_json, "AWS::IAM::Policy").values()
        if any(r["Ref"].startswith(role_prefix) for r in p["Properties"]["Roles"])
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> set[str]:
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)


def test_the_api_and_the_workers_get_only_their_share_of_s3_and_the_export_queue(
    dev: Synth,
) -> None:
    api = _policies_of(dev, "ApiFunctionServiceRole")
    export = _policies_of(dev, "ExportWorkerExportFunctionServiceRole")
    backfill = _policies_of(dev, "IngestBackfillFunctionServiceRole")

    s3_actions = {a for s in api + export for a in _actions(s) if a.startswith("s3:")}
    assert not [a for a in s3_actions if "*" in a]  # exact actions only
    assert {a for s in api for a in _actions(s) if a.startswith("s3:")} == {
        "s3:GetObject", "s3:PutObject"
    }  # fmt: skip
    assert not any("Lake" + "LakeBucket" in str(s["Resource"]) for s in api)  # not the lake
    assert any("s3:DeleteObject" in _actions(s) for s in export)
    # The lake's manifest is the one thing of the lake it reads; it lists the lake only.
    reads = [
        s
        for s in export
        if "s3:GetObject" in _actions(s) and "LakeLakeBucket" in str(s["Resource"])
    ]
    assert reads and all("/manifest/series.parquet" in str(s["Resource"]) for s in reads)
    [listing] = [s for s in export if "s3:ListBucket" in _actions(s)]
    assert "LakeLakeBucket" in str(listing["Resource"])
    assert any("sqs:SendMessage" in _actions(s) for s in backfill)
    assert not any(a.startswith("s3:") for s in backfill for a in _actions(s))


def test_failed_lake_writes_and_the_export_dlq_raise_alarms(dev: Synth) -> None:
    alarms = resources_of(dev.stateless_json, "AWS::CloudWatch::Alarm")
    names = {a["Properties"]["AlarmName"] for a in alarms.values()}
    assert "MarketDataWarehouse-dev-lake-writes-failed" in names
    assert any("export" in name.lower() and "dlq" in name.lower() for name in names)
