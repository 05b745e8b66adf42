"""API keys: format and hashing, the DynamoDB key store, audit trail and rate limits.

Layers: `format` is pure; `authenticate`, `admin` and `ratelimit` are logic on
small Protocols; `store`, `audit` and `ratelimit` hold the DynamoDB adapters;
`fakes` holds in-memory stand-ins for unit tests; `services` wires them.
"""
