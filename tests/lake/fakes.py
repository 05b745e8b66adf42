"""In-memory stand-ins for the export record store and queue (for tests that need no S3)."""

from __future__ import annotations

import uuid

from market_data.exports import ExportRecord


class MemoryExportStore:
    def __init__(self) -> None:
        self.records: dict[uuid.UUID, ExportRecord] = {}

    def save(self, record: ExportRecord) -> None:
        self.records[record.id] = record

    def load(self, export_id: uuid.UUID) -> ExportRecord | None:
        return self.records.get(export_id)

    def presign(self, key: str, ttl_s: int) -> str:
        return f"https://exports.invalid/{key}?expires={ttl_s}"


class MemoryExportQueue:
    def __init__(self) -> None:
        self.sent: list[uuid.UUID] = []

    def send_export(self, export_id: uuid.UUID) -> None:
        self.sent.append(export_id)
