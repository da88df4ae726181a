"""Configured topic keywords: phrases matched on word boundaries, `*` at a word's end
matching any ending ("lost bag*" matches "lost bags" and "lost baggage")."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence


def keyword_pattern(keywords: Sequence[str]) -> re.Pattern[str] | None:
    """One case-insensitive regex for a topic's keywords, or None when it has none."""
    parts = []
    for keyword in keywords:
        words = keyword.strip().lower().split()
        if not words:
            continue
        pieces = [re.escape(w[:-1]) + r"\w*" if w.endswith("*") and len(w) > 1
                  else re.escape(w.rstrip("*")) for w in words]
        parts.append(r"(?<!\w)" + r"\s+".join(pieces) + r"(?!\w)")
    if not parts:
        return None
    return re.compile("|".join(parts), re.IGNORECASE)


def keyword_examples(keywords: Sequence[str]) -> list[str]:
    """The keywords as short example texts (the `*` dropped), so a topic configured with
    keywords alone still has something to learn from."""
    return [k.replace("*", "").strip() for k in keywords if k.replace("*", "").strip()]


class KeywordMatcher:
    """Which topics' keywords a text contains."""

    def __init__(self, keywords: Mapping[str, Sequence[str]]) -> None:
        compiled = ((topic, keyword_pattern(words)) for topic, words in keywords.items())
        self._patterns = [(topic, p) for topic, p in compiled if p is not None]

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def hits(self, text: str) -> list[str]:
        """The topics whose keywords occur in `text`, in configuration order."""
        return [topic for topic, pattern in self._patterns if pattern.search(text)]
