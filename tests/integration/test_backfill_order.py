"""The pieces of a series' history may land in any order; the verdicts may not depend on it."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from psycopg import Connection

from market_data.models import RawBar
from market_data.planning import BackfillJob
from market_data.repositories.symbols import add_symbols
from market_data.settings import Settings
from market_data.symbols import AssetClass
from market_data.timeframes import Timeframe
from market_data.validation import assess
from tests.helpers import utc
from tests.pipeline import launch

VERDICT = "validated, quality_score, validation_notes, gap_detected, volume_anomaly"


def queued_jobs(queue_url: str) -> list[str]:
    """Every message body on the queue, taken off it (the test delivers them itself)."""
    sqs, bodies = boto3.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


@pytest.mark.parametrize("order", [(0, 2, 1), (2, 0, 1), (2, 1, 0)])
def test_pieces_stored_out_of_order_get_the_verdicts_of_an_in_order_run(
    order: tuple[int, ...],
    handlers: Any,
    pipeline_conn: Connection[Any],
    pipeline_settings: Settings,
    backfill_queue: str,
) -> None:
    add_symbols(pipeline_conn, [("BTC-USD", AssetClass.CRYPTO)])
    # 90 days in jobs of at most 31: three pieces.
    launch(pipeline_settings, symbols=["BTC-USD"], timeframes=[Timeframe.H1],
           start=utc(2024, 1, 1), end=utc(2024, 3, 31))  # fmt: skip
    pieces = sorted(
        queued_jobs(backfill_queue), key=lambda b: BackfillJob.model_validate_json(b).start
    )
    assert len(pieces) == 3

    for index in order:
        assert handlers.backfill.worker().process_message(pieces[index]).outcome == "succeeded"

    rows = pipeline_conn.execute(
        "SELECT time, open, high, low, close, volume, vwap, trades, "
        f"{VERDICT} FROM bars WHERE symbol = 'BTC-USD' AND timeframe = '1h' ORDER BY time"
    ).fetchall()
    # The reference: the whole series judged in one pass, oldest bar first.
    in_order = assess([RawBar(*row[:8]) for row in rows], AssetClass.CRYPTO, Timeframe.H1)
    expected = [
        (
            v.assessment.validated,
            pytest.approx(v.assessment.quality_score, abs=1e-6),
            "; ".join(v.assessment.notes) or None,
            v.assessment.gap_detected,
            v.assessment.volume_anomaly,
        )
        for v in in_order
    ]
    assert len(rows) == 2160
    assert [tuple(row[8:]) for row in rows] == expected
