"""Export records in S3 beside their files, the export queue on SQS, and presigned URLs.

A record is `exports/<id>/export.json` in the exports bucket, next to the files it
lists, so one lifecycle rule expires both and nothing else needs a table. No
Parquet library here: the API imports this module, only the export Lambda writes
files (market_data.export_files).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from botocore.exceptions import ClientError

from market_data.exports import ExportRecord

EXPORTS_PREFIX = "exports"


def record_key(export_id: uuid.UUID) -> str:
    return f"{EXPORTS_PREFIX}/{export_id}/export.json"


def file_key(export_id: uuid.UUID, name: str) -> str:
    return f"{EXPORTS_PREFIX}/{export_id}/{name}"


class S3ExportStore:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def save(self, record: ExportRecord) -> None:
        self._s3.put_object(
            Bucket=self._bucket,
            Key=record_key(record.id),
            Body=record.model_dump_json().encode(),
            ContentType="application/json",
        )

    def load(self, export_id: uuid.UUID) -> ExportRecord | None:
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=record_key(export_id))["Body"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return ExportRecord.model_validate_json(body.read())

    def presign(self, key: str, ttl_s: int) -> str:
        url: str = self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=ttl_s
        )
        return url


class SqsExportQueue:
    """The export queue: exports to write and lake writes after a run (one Lambda for both)."""

    def __init__(self, sqs: Any, url: str) -> None:
        self._sqs = sqs
        self._url = url

    def send_export(self, export_id: uuid.UUID) -> None:
        self._send({"kind": "export", "export_id": str(export_id)})

    def send_lake_run(self, run_id: uuid.UUID) -> None:
        self._send({"kind": "lake", "run_id": str(run_id)})

    def _send(self, body: dict[str, str]) -> None:
        self._sqs.send_message(QueueUrl=self._url, MessageBody=json.dumps(body))
