"""What an API key looks like, and how it is hashed.

``mdw_`` + 30 random base62 characters (~178 bits) + a 6-character base62
CRC32 of everything before it. The checksum lets a typo or a non-key be
rejected without a database call, and the fixed prefix plus checksum let
secret scanners recognise a leaked key with almost no false positives (the
same scheme as GitHub's tokens).

Only HMAC-SHA256(pepper, key) is ever stored. A key is high-entropy, so a
slow password hash would add latency and nothing else; the pepper (kept in
Secrets Manager, not in the table) means a copy of the table alone cannot be
used to test guesses.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import threading
import zlib
from collections.abc import Callable

PREFIX = "mdw_"
ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
RANDOM_LENGTH = 30  # 30 * log2(62) ≈ 178 bits
CHECKSUM_LENGTH = 6  # 62**6 > 2**32, so every CRC32 fits
KEY_LENGTH = len(PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH
PREVIEW_SUFFIX_LENGTH = 4
_ALPHABET_SET = frozenset(ALPHABET)


def _base62(number: int, width: int) -> str:
    # The standard library has base64/base32 but no base62; base62 keeps keys
    # free of "-", "_" and "/" so a double click selects the whole key.
    digits = []
    for _ in range(width):
        number, remainder = divmod(number, 62)
        digits.append(ALPHABET[remainder])
    if number:
        raise ValueError("number does not fit in the requested width")
    return "".join(reversed(digits))


def checksum(body: str) -> str:
    """Fixed-width base62 CRC32 of the key's prefix and random part."""
    return _base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LENGTH)


def generate_key() -> str:
    """A new random API key (shown to its owner once, never stored)."""
    body = PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return body + checksum(body)


def is_well_formed(text: str) -> bool:
    """True when the text has the key's shape and a matching checksum (no I/O)."""
    if len(text) != KEY_LENGTH or not text.startswith(PREFIX):
        return False
    rest = text[len(PREFIX) :]
    if not _ALPHABET_SET.issuperset(rest):
        return False
    body, check = text[:-CHECKSUM_LENGTH], text[-CHECKSUM_LENGTH:]
    return hmac.compare_digest(checksum(body), check)


def preview(key: str) -> str:
    """What the API shows instead of the key: ``mdw_…Ab3x``."""
    return f"{PREFIX}…{key[-PREVIEW_SUFFIX_LENGTH:]}"


MIN_PEPPER_BYTES = 16


class KeyHasher:
    """HMAC-SHA256 with the pepper; the digest is the table's partition key.

    The pepper may be given as a loader, called once on first use, so building
    the hasher costs no Secrets Manager call and a failing load is retried.
    """

    def __init__(self, pepper: bytes | Callable[[], bytes]) -> None:
        self._loader = pepper if callable(pepper) else None
        self._pepper = None if callable(pepper) else self._checked(pepper)
        self._lock = threading.Lock()

    @staticmethod
    def _checked(pepper: bytes) -> bytes:
        if len(pepper) < MIN_PEPPER_BYTES:
            raise ValueError(f"the API key pepper must be at least {MIN_PEPPER_BYTES} bytes")
        return pepper

    def _key(self) -> bytes:
        if self._pepper is None:
            with self._lock:
                if self._pepper is None and self._loader is not None:
                    self._pepper = self._checked(self._loader())
        assert self._pepper is not None
        return self._pepper

    def hash(self, key: str) -> str:
        return hmac.new(self._key(), key.encode("ascii"), hashlib.sha256).hexdigest()

    def matches(self, key: str, key_hash: str) -> bool:
        return hmac.compare_digest(self.hash(key), key_hash)

    def __repr__(self) -> str:  # never show the pepper
        return "KeyHasher(pepper=***)"
