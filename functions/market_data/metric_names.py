"""The custom CloudWatch metrics: the names the handlers emit and the alarms watch.

One definition for both sides: the handlers (Powertools Metrics, EMF) emit
with these names, and infra/ builds the dashboard and alarms from them, so a
renamed metric cannot silently leave an alarm watching nothing. Every metric
is in NAMESPACE (POWERTOOLS_METRICS_NAMESPACE) with the `service` dimension =
POWERTOOLS_SERVICE_NAME of the emitting function.
"""

from __future__ import annotations

from typing import Final

NAMESPACE: Final = "MarketDataWarehouse"

# Backfill worker, one data point per job.
JOBS_SUCCEEDED: Final = "JobsSucceeded"
JOBS_RETRIED: Final = "JobsRetried"
# A job re-sent delayed while the vendor circuit is open (no delivery spent).
JOBS_DEFERRED: Final = "JobsDeferred"
# Also emitted by the fan-out, for jobs it planned but could not enqueue.
JOBS_FAILED: Final = "JobsFailed"
BARS_UPSERTED: Final = "BarsUpserted"
BARS_FLAGGED: Final = "BarsFlagged"
VENDOR_REQUESTS: Final = "VendorRequests"
# When the last job of a run finishes; the nightly-run-missing alarm watches it.
RUNS_COMPLETED: Final = "BackfillRunsCompleted"

# Fan-out: jobs sent to the backfill queue.
JOBS_ENQUEUED: Final = "JobsEnqueued"
# Fan-out (each run and the stuck-job check): jobs found stuck, re-sent or failed.
STUCK_JOBS: Final = "StuckJobs"

# Powertools' own, from `capture_cold_start_metric` (dimensions function_name + service).
COLD_START: Final = "ColdStart"

# Export worker: the lake after each run, and bulk exports.
LAKE_ROWS: Final = "LakeRowsWritten"
LAKE_PARTITIONS: Final = "LakePartitionsWritten"
LAKE_WRITE_SECONDS: Final = "LakeWriteSeconds"
# The alarm on failed lake writes watches this.
LAKE_WRITES_FAILED: Final = "LakeWritesFailed"
EXPORT_ROWS: Final = "ExportRows"
EXPORT_BYTES: Final = "ExportBytes"
EXPORT_SECONDS: Final = "ExportSeconds"
EXPORTS_FAILED: Final = "ExportsFailed"
