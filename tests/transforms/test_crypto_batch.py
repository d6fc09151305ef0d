"""The batch primitives of ``tokenize(mode=random)``, checked against the standard
library: the batch HMAC must give the vault the same lookups as ``hmac.digest`` (or
existing vaults would stop finding their codes), and the batch codes must be codes."""

from __future__ import annotations

import hmac
import re

from hypothesis import given
from hypothesis import strategies as st

from veil.transforms.crypto import hmac_sha256_many, random_codes


@given(
    key=st.binary(min_size=0, max_size=200),  # around the 64-byte block: padded or hashed
    messages=st.lists(st.binary(max_size=300), max_size=20),
)
def test_batch_hmac_equals_the_standard_library(key: bytes, messages: list[bytes]) -> None:
    expected = [hmac.digest(key, m, "sha256") for m in messages]
    assert hmac_sha256_many(key, messages) == expected


@given(count=st.integers(0, 300), length=st.integers(8, 52))
def test_random_codes_are_base32_of_the_asked_length(count: int, length: int) -> None:
    codes = random_codes(count, length)
    assert len(codes) == count
    assert all(re.fullmatch(f"[a-z2-7]{{{length}}}", c) for c in codes)


def test_random_codes_use_the_whole_alphabet_and_do_not_repeat() -> None:
    # 20,000 codes of 16 characters: 320,000 characters, so a missing letter of the 32
    # (each drawn with p = 1/32) would have probability (31/32)**320000 ~ 0; a repeat of
    # an 80-bit code among 20,000 has probability ~ 2**-52.
    codes = random_codes(20_000, 16)
    assert len(set(codes)) == len(codes)
    assert set("".join(codes)) == set("abcdefghijklmnopqrstuvwxyz234567")
