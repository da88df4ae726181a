"""Whether a reply's tone suits the item it would answer.

Why: ranking by topic and words alone put a "Thank you, we're glad you flew with us!" canned
reply first for "thank you for nothing, you lost my bag": the words match, the tone is the
opposite. A reply is gratitude-shaped (thanks, glad, love to hear) or apology-shaped (sorry,
apologise, unfortunately), or neither; the item is negative (its sentiment, or urgency's
`complaint` reason) or positive (praise). A gratitude-shaped reply to a negative item, or an
apology-shaped one to praise, keeps `TONE_PENALTY` of its score and says why, so it is still
offered when nothing better fits, below the replies that do.

The thanks of service formulas ("thanks for reaching out", "thank you for telling us")
do not make a reply gratitude-shaped: they open many replies to complaints; thanks for
praise or custom ("thank you for flying with us", "for the kind words") do. A reply with an
apology is apology-shaped even when it also thanks ("thanks for flagging, sorry about this").
"""

from __future__ import annotations

import enum
import functools
import re

#: The share of its score a reply whose tone contradicts the item's keeps.
TONE_PENALTY = 0.25

# "thank you for <something>" is a service formula ("thank you for telling us", "thanks for
# your patience") unless the something is praise or custom: only that kind is gratitude.
_SERVICE_THANKS = re.compile(
    r"\b(?:thanks|thank you|thx)(?:\s+(?:so|very)\s+much)?\s+for\s+(?!(?:your\s+|the\s+|such\s+)?"
    r"(?:kind|lovely|nice|sweet|flying|choosing|travel|shout|love|compliment|praise|"
    r"recommend|review))"
)
_GRATITUDE = re.compile(
    r"\b(?:thanks|thank you|thx|glad|delighted|happy to hear|great to hear|love to hear|"
    r"lovely to hear|means a lot|kind words|enjoy(?:ed)?|congrat\w*)\b"
)
_APOLOGY = re.compile(
    r"\b(?:sorry|apolog\w*|regret\w*|unfortunately|inconvenience\w*|frustrat\w*|"
    r"make (?:it|this|things) right|not (?:how|what) (?:we|our))"
)


class Shape(enum.StrEnum):
    """What a reply does: thank or praise back, or apologise."""

    GRATITUDE = "gratitude"
    APOLOGY = "apology"


@functools.lru_cache(maxsize=4096)
def shape(text: str) -> Shape | None:
    """The reply's shape (None: neither, e.g. "DM us your booking reference"); cached, as
    every item is ranked against the same few canned replies."""
    lowered = " ".join(text.casefold().replace("’", "'").split())
    if _APOLOGY.search(lowered):
        return Shape.APOLOGY
    if _GRATITUDE.search(_SERVICE_THANKS.sub(" ", lowered)):
        return Shape.GRATITUDE
    return None


def clash(sentiment: str | None, complaint: bool, reply: Shape | None) -> str | None:
    """Why a reply of shape `reply` does not suit an item with `sentiment` (its label) and
    `complaint` (urgency lists `complaint`), in words; None when it suits.

    A positive item that urgency still calls a complaint ("thanks, but my bag is still
    missing", or a score stored before praise stopped carrying the reason) is mixed: no
    reply's tone is held against it."""
    if reply is Shape.GRATITUDE and (sentiment == "negative" or (
            complaint and sentiment != "positive")):
        what = "a complaint" if complaint else "a negative item"
        return f"held back: a thank-you reply to {what}"
    if reply is Shape.APOLOGY and sentiment == "positive" and not complaint:
        return "held back: an apology to praise"
    return None
