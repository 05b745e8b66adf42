"""Key format: shape, entropy, checksum and hashing."""

from __future__ import annotations

import math
import re

import pytest

from market_data.keys.format import (
    ALPHABET,
    CHECKSUM_LENGTH,
    KEY_LENGTH,
    PREFIX,
    RANDOM_LENGTH,
    KeyHasher,
    checksum,
    generate_key,
    is_well_formed,
    preview,
)

PEPPER = b"a-pepper-of-at-least-16-bytes"


def test_a_generated_key_is_prefix_base62_random_and_fixed_width_checksum() -> None:
    key = generate_key()
    assert re.fullmatch(rf"mdw_[0-9A-Za-z]{{{RANDOM_LENGTH + CHECKSUM_LENGTH}}}", key)
    assert len(key) == KEY_LENGTH
    assert key[-CHECKSUM_LENGTH:] == checksum(key[:-CHECKSUM_LENGTH])
    assert is_well_formed(key)


def test_the_random_part_carries_at_least_128_bits() -> None:
    assert RANDOM_LENGTH * math.log2(len(ALPHABET)) >= 128


def test_keys_do_not_repeat() -> None:
    assert len({generate_key() for _ in range(2000)}) == 2000


def test_the_checksum_is_zero_padded_to_a_fixed_width() -> None:
    # Some of these CRCs are below 62**5, so they only fit six characters when padded.
    assert all(len(checksum(f"{PREFIX}{n}")) == CHECKSUM_LENGTH for n in range(5000))


def test_every_single_character_typo_fails_the_checksum() -> None:
    key = generate_key()
    for position in range(len(PREFIX), len(key)):
        for replacement in ALPHABET:
            if replacement != key[position]:
                typo = key[:position] + replacement + key[position + 1 :]
                assert not is_well_formed(typo), typo


def test_swapping_two_neighbouring_characters_fails_the_checksum() -> None:
    key = generate_key()
    for i in range(len(PREFIX), len(key) - 1):
        if key[i] != key[i + 1]:
            swapped = key[:i] + key[i + 1] + key[i] + key[i + 2 :]
            assert not is_well_formed(swapped)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "mdw_",
        "not-a-key",
        "Bearer something",
        "ghp_" + "a" * 36,
        "MDW_" + "a" * 36,
        "mdw_" + "a" * 35,
        "mdw_" + "a" * 37,
        "mdw_" + "-" * 36,
        "mdw_" + "é" * 36,
        "mdw_" + "a" * 30 + "000000",
    ],
)
def test_non_keys_are_not_well_formed(text: str) -> None:
    assert not is_well_formed(text)


def test_the_preview_shows_the_prefix_and_last_four_characters_only() -> None:
    key = generate_key()
    assert preview(key) == f"mdw_…{key[-4:]}"
    assert key[len(PREFIX) : -CHECKSUM_LENGTH] not in preview(key)


def test_the_hash_is_hmac_sha256_hex_and_depends_on_the_pepper() -> None:
    key = generate_key()
    digest = KeyHasher(PEPPER).hash(key)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert key not in digest
    assert KeyHasher(PEPPER).hash(key) == digest
    assert KeyHasher(PEPPER + b"!").hash(key) != digest
    assert KeyHasher(PEPPER).matches(key, digest)
    assert not KeyHasher(PEPPER).matches(generate_key(), digest)


def test_a_lazy_pepper_is_loaded_once_on_first_use() -> None:
    loads: list[int] = []

    def load() -> bytes:
        loads.append(1)
        return PEPPER

    hasher = KeyHasher(load)
    assert loads == []
    key = generate_key()
    assert hasher.hash(key) == KeyHasher(PEPPER).hash(key)
    hasher.hash(key)
    assert loads == [1]


def test_a_short_pepper_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        KeyHasher(b"short")


def test_the_hasher_never_shows_its_pepper() -> None:
    assert "pepper" not in repr(KeyHasher(PEPPER)).replace("pepper=***", "")
    assert PEPPER.decode() not in repr(KeyHasher(PEPPER))
