"""Risk words: safety, legal, discrimination and data/privacy mentions, one episode per category.

A mention counts when its text matches the category's keywords (whole words; a trailing `*`
matches any ending, e.g. `discriminat*`) or when the scorer already put the category's reason
code on it. Keyword lists come from `[urgency.keywords]` in carewatch.toml under the same
keys; a key left out keeps the built-in list. A mention scored positive is skipped unless the
scorer flagged it, so "you guys are fire" is not a safety incident.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence, Set
from datetime import datetime
from typing import Any

from listener.alerts.base import Candidate, aware, bump, ref
from listener.scoring.urgency import DEFAULT_KEYWORDS as URGENCY_KEYWORDS

# One list per category, shared with urgency scoring (listener.scoring.urgency), so a
# mention flagged `safety` in the inbox and a safety alert always agree.
DEFAULT_KEYWORDS: dict[str, list[str]] = {
    category: list(URGENCY_KEYWORDS[category])
    for category in ("safety", "legal", "discrimination", "privacy")
}
CATEGORY_SEVERITY = {"safety": "high", "legal": "medium", "discrimination": "high",
                     "privacy": "high"}
# From this many mentions in one episode a category is one step more severe.
ESCALATE_AT = 3
_NO_REASONS: frozenset[str] = frozenset()  # most mentions': no set built for each


def _pattern(words: Sequence[str]) -> re.Pattern[str] | None:
    parts = []
    for word in words:
        word = word.strip().lower()
        if not word:
            continue
        if word.endswith("*"):
            parts.append(re.escape(word[:-1]) + r"\w*")
        else:
            parts.append(re.escape(word))
    if not parts:
        return None
    parts.sort(key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


def _ascii_needles(needles: set[str]) -> tuple[str, ...] | None:
    """What an ASCII text must hold, lower-cased, to match any keyword: the keywords'
    literal parts (lower-cased, without a trailing `*`) that are ASCII. In ASCII text
    case-insensitive matching pairs only a-z with A-Z, and a keyword holding a character
    that no ASCII character matches (Hangul: uncased) cannot match there at all. So one
    case-sensitive search for them in the lower-cased text rules a text out faster than the
    search of the union of patterns, which tries every keyword at each word start (most
    mentions name none). None when some
    keyword's non-ASCII characters all fold to ASCII ones (e.g. the long s, U+017F, matches "s")."""
    out: list[str] = []
    for needle in needles:
        if needle.isascii():
            out.append(needle)
        elif all(_folds_to_ascii(ch) for ch in needle if not ch.isascii()):
            return None
    return tuple(sorted(out, key=len, reverse=True))


def _any_of(needles: Sequence[str]) -> str:
    """A pattern that matches where any of `needles` starts, its alternatives factored by
    their common prefixes ("s(?:afety|moke)" rather than "safety|smoke"), and a needle that
    another one starts with standing for both (a text holding "smoke" holds "smok": only
    whether some needle occurs is asked).

    Why: `re` tries the alternatives of "a|b|..." one after the other at each position that
    may start one; with the ~85 default needles that was ~1,600 instructions a position
    (callgrind), ~5% of the listener's CPU on a large poll. Factored, a position costs a
    branch per distinct first character, then the few that share it. The same texts
    match: each position matches exactly when some needle starts there."""
    trie: dict[str, Any] = {}
    for needle in needles:
        node = trie
        for ch in needle:
            if node.get("") is True:  # a shorter needle ends here: it answers for this one
                break
            node = node.setdefault(ch, {})
        else:
            node.clear()
            node[""] = True
    return _trie_pattern(trie)


def _trie_pattern(node: dict[str, Any]) -> str:
    if node.get("") is True:
        return ""
    parts = [re.escape(ch) + _trie_pattern(child) for ch, child in sorted(node.items())]
    return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"


def _folds_to_ascii(ch: str) -> bool:
    """Whether `ch` changes case (or folds) into something holding an ASCII character."""
    return any(c.isascii() for form in (ch.lower(), ch.upper(), ch.casefold()) for c in form)


class RiskWords:
    """Compiled keyword lists per category."""

    def __init__(self, overrides: Mapping[str, list[str]] | None = None) -> None:
        self.patterns: dict[str, re.Pattern[str]] = {}
        needles: set[str] = set()
        for category, words in DEFAULT_KEYWORDS.items():
            chosen = list((overrides or {}).get(category) or words)
            pattern = _pattern(chosen)
            if pattern is not None:
                self.patterns[category] = pattern
                needles.update(w.strip().lower().removesuffix("*") for w in chosen
                               if w.strip())
        self.needles = _ascii_needles(needles)
        # The needles as one case-sensitive search of the lower-cased text: ~3x faster than
        # `any_word` (no case folding, no look-arounds), ~2x faster than testing each.
        self.any_needle: re.Pattern[str] | None = (
            re.compile(_any_of(self.needles)) if self.needles is not None else None)
        # Any category's word: most mentions name none, and one search of the union then
        # answers for every category (it matches exactly where some category's pattern does).
        self.any_word: re.Pattern[str] | None = re.compile(
            "|".join(f"(?:{p.pattern})" for p in self.patterns.values()),
            re.IGNORECASE) if self.patterns else None

    def match(self, text: str, reasons: Set[str]) -> dict[str, list[str]]:
        """{category: matched words} for one mention (a reason code counts as its category)."""
        found: dict[str, list[str]] = {}
        if not self._may_name_a_word(text or "") and not reasons & self.patterns.keys():
            return found
        for category, pattern in self.patterns.items():
            words = sorted({m.group(0).lower() for m in pattern.finditer(text or "")})
            if words or category in reasons:
                found[category] = words or [f"reason:{category}"]
        return found

    def _may_name_a_word(self, text: str) -> bool:
        """Whether some category's pattern matches `text` (False only when none does)."""
        if self.any_word is None:
            return False
        if (self.any_needle is not None and text.isascii()
                and self.any_needle.search(text.lower()) is None):
            return False
        return self.any_word.search(text) is not None

    def detect(self, facts: list[Any], now: datetime) -> list[Candidate]:
        hits: dict[str, list[tuple[Any, list[str]]]] = defaultdict(list)
        for fact in facts:
            if fact.is_own:
                continue
            reasons = ({r for r in fact.urgency_reasons.split(";") if r}
                       if fact.urgency_reasons else _NO_REASONS)
            if fact.sentiment_label == "positive" and not reasons & self.patterns.keys():
                continue  # a positive mention counts only for categories scoring flagged
            for category, words in self.match(fact.text, reasons).items():
                flagged = category in reasons
                if fact.sentiment_label == "positive" and not flagged:
                    continue
                hits[category].append((fact, words))
        out = []
        for category, items in sorted(hits.items()):
            words = sorted({w for _, ws in items for w in ws})
            platforms = sorted({f.platform for f, _ in items})
            severity = CATEGORY_SEVERITY.get(category, "medium")
            if len(items) >= ESCALATE_AT:
                severity = bump(severity)
            noun = "mention" if len(items) == 1 else "mentions"
            out.append(Candidate(
                kind="risk_words", episode_key=f"risk_words:{category}", severity=severity,
                summary=(f"{len(items)} {noun} about {category} on {', '.join(platforms)} "
                         f"({', '.join(words[:6])})"),
                refs=[ref(f.platform, f.external_id) for f, _ in items],
                details={"category": category, "words": words[:20], "last_batch": len(items)},
                seen_at=max(aware(f.created_at) for f, _ in items),
            ))
        return out
