"""Word joins: where two words of a text meet, for narrowing a search for a phrase.

For every two words next to each other, the last three characters of the first and the
first three of the second ("rude smoke lounge" -> "ude smo", "oke lou"). A rare phrase of
common words has trigrams in half the rows but joins in few, and every text containing the
phrase has all of the phrase's joins: a word inside the phrase is whole in the text, and a
word at its edge may be longer in the text, so its join counts only when three characters
of it are in the phrase (or the phrase starts or ends with a separator there).

This is the SQLite side (`storage.search` puts the joins in an FTS5 table): words are runs
of characters that `str.isalnum`, in the text lower-cased for ASCII only, the folding of
SQLite's `lower()` that the search filter applies. PostgreSQL computes the same with its
own word characters and `lower()` (migration 0016). Either way the term and the texts are
split by the same rule, which is all the superset needs.
"""

from __future__ import annotations

import re
import string
from itertools import pairwise

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_WORD = re.compile(r"[^\W_]+")  # \w is isalnum() or "_"
#: Characters of a word kept on each side of a join.
SIDE = 3


def _join(left: str, right: str) -> str:
    """One join as an FTS5 token: hex, so any script or symbol is a single token."""
    return f"{left[-SIDE:]} {right[:SIDE]}".encode().hex()


def of_text(value: str) -> list[str]:
    """Every join of a stored text, once each, as tokens."""
    words = _WORD.findall(value.translate(_ASCII_LOWER))
    return list(dict.fromkeys(_join(a, b) for a, b in pairwise(words)))


def of_term(term: str) -> list[str]:
    """The joins every text containing `term` has (see the module's docstring)."""
    lowered = term.translate(_ASCII_LOWER)
    found = list(_WORD.finditer(lowered))
    if len(found) < 2:
        return []
    # A word at an edge of the term may go on in the text; one after a separator is whole.
    first_whole = found[0].start() > 0 or len(found[0].group()) >= SIDE
    last_whole = found[-1].end() < len(lowered) or len(found[-1].group()) >= SIDE
    joins = []
    for i in range(len(found) - 1):
        if (i == 0 and not first_whole) or (i + 1 == len(found) - 1 and not last_whole):
            continue
        joins.append(_join(found[i].group(), found[i + 1].group()))
    return list(dict.fromkeys(joins))
