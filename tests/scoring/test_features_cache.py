"""The n-gram bucket cache is only a cache: full or cleared, the indices stay CRC32's."""

from __future__ import annotations

import zlib

import pytest

from listener.scoring import features as F


def test_hashed_is_crc32_through_cache_evictions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(F, "_BUCKET_MAX", 5)
    monkeypatch.setattr(F, "_BUCKET", {})
    buckets = 1 << 16
    toks = "the bag was lost again and again".split()
    for i in range(6):
        words = [*toks, f"w{i}"]
        keys = [*words, *map(" ".join, zip(["<s>", *words], [*words, "</s>"], strict=True))]
        assert F.hashed(words, buckets) == [zlib.crc32(k.encode()) % buckets for k in keys]
        assert F.hashed(words, buckets) == F.hashed(list(words), buckets)  # warm: same
