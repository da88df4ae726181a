"""Texts within the platform's limit for the reply kind, counted as the platform counts them
(`PlatformSpec.text_rule`: X's weighted length for public text, plain characters elsewhere).

A canned or past reply is sent as written, so one over the limit is not offered; a
knowledge article's short answer is shortened at a word boundary so the link always fits.
"""

from __future__ import annotations

from functools import lru_cache

from carewatch.platforms import spec_for

ELLIPSIS = "…"


@lru_cache(maxsize=4096)
def fits(platform: str, kind: str, text: str) -> bool:
    """Whether `text` is not empty and within the limit. Cached: X's weighted count parses
    the text (links, emoji), and the same canned replies are checked for every item."""
    rule = spec_for(platform).text_rule(kind)
    return bool(text.strip()) and rule.count(text) <= rule.limit


def fit_answer(platform: str, kind: str, summary: str, link: str) -> str | None:
    """`summary` followed by `link`, the summary cut at a word (with …) so the whole fits;
    None when not even the link and one word fit."""
    tail = f" {link}" if link else ""
    whole = f"{summary}{tail}".strip()
    if fits(platform, kind, whole):
        return whole
    words = summary.split()
    low, high = 1, len(words) - 1
    best: str | None = None
    while low <= high:  # the longest prefix that fits: the count is monotonic in words
        middle = (low + high) // 2
        candidate = " ".join(words[:middle]).rstrip(",;:.-") + ELLIPSIS + tail
        if fits(platform, kind, candidate):
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    return best
