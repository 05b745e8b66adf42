"""Lambda: the nightly fan-out (EventBridge schedule -> backfill jobs on SQS)."""
