"""API keys: format and hashing, the DynamoDB key store, audit trail and rate limits.

- `format`: what a key looks like (prefix, base62, CRC32) and its HMAC; pure.
- `models`, `errors`: records, scopes, the caller's Principal, domain exceptions.
- `authenticate`, `admin`: the logic (check a presented key; manage keys) on the
  `KeyStore` Protocol in `store`.
- `store`, `audit`, `ratelimit`: DynamoDB adapters (and, for the last two, logic).
- `aws`: the per-process DynamoDB client and the pepper.
- `services`: wiring for the API and the CLI; `fakes`: in-memory stand-ins for tests.
"""
