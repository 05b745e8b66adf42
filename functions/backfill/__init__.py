"""Lambda: the backfill worker (SQS batch -> Polygon -> PostgreSQL)."""
