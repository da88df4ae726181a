"""Text normalisation, care-context rules and hashed features shared by training and inference.

Training (`scripts/train_sentiment.py`) and scoring import the very same functions, so the
model never sees features at inference that differ from the ones it was fitted on. Hashing
uses CRC32 (stable across processes and Python versions), never `hash()`, which is salted.

Brand handles, brand names and URLs are masked before features are made: the model is trained
on four airlines and must not learn "@united" or "southwest" as sentiment, or it would not
carry over to brands it has never seen.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass

# --- masking ---------------------------------------------------------------------------------

URL_RE = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
HANDLE_RE = re.compile(r"@\w+")
# Brand names seen in the training data (and a few generic ones): masked to one token so the
# model learns "the brand", not a particular brand.
BRAND_NAMES_RE = re.compile(
    r"\b(?:united(?:airlines)?|american ?air(?:lines)?|americanair|southwest(?:air)?|"
    r"us ?airways|usair|jet ?blue|virgin ?america|virginamerica|delta(?:assist)?|"
    r"swa|aa)\b"
)
# The published airline set replaced words by "Late Flight" / "Cancelled Flight"
# ("Cancelled Flightled"); undo the glue so the words are seen as words.
QUIRK_RE = re.compile(r"(Late Flight|Cancelled Flight)(?=\w)")

TOKEN_RE = re.compile(
    r"[a-z][a-z0-9']*|\d+(?:[.,:]\d+)*|[!?]|[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B50\u2764]"
)


def mask(text: str) -> str:
    """Lower-cased text with URLs, @handles and known brand names replaced by placeholders."""
    if "Flight" in text:
        text = QUIRK_RE.sub(r"\1 ", text)
    if "http" in text or "www" in text:
        text = URL_RE.sub(" urltoken ", text)
    if "@" in text:
        text = HANDLE_RE.sub(" usertoken ", text)
    return BRAND_NAMES_RE.sub(" brandtoken ", text.lower())


def tokens(masked: str) -> list[str]:
    """Word, number, `!`/`?` and emoji tokens of masked text; numbers collapse to `0`."""
    out = []
    for tok in TOKEN_RE.findall(masked):
        out.append("0" if tok[0].isdigit() else tok)
    return out


# --- care rules ------------------------------------------------------------------------------

def _words(*phrases: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(phrases) + r")\b")


# Things that go wrong in customer care, brand-independent where possible. Single words are
# looked up in a set of tokens and multi-word phrases by one regex: a single regex with
# ~80 alternatives and word boundaries cost 20 µs a tweet, as much as half of VADER.
CARE_NEG_WORDS = frozenset(
    [
        "late", "lost", "again", "stuck", "stranded", "worst", "broken", "damaged", "rude",
        "unacceptable", "ridiculous", "disappointed", "disappointing", "disappointment",
        "terrible", "horrible", "awful", "useless", "pathetic", "hours", "hour", "days", "issue",
        "issues", "problem", "problems", "seriously", "ruined", "why", "overbooked", "oversold",
        "missing", "wrong", "error", "outage", "waste", "understaffed", "lines", "nobody",
        "unhelpful", "fail", "failed", "fails", "failure", "hold", "waiting", "waited",
        "overcharged", "incompetent", "joke", "nightmare", "mess", "frustrated", "frustrating",
        "annoyed", "angry", "furious",
    ]
)
CARE_NEG_PREFIXES = ("cancel", "delay", "refund", "complain", "rebook")
CARE_NEG_PHRASES_RE = re.compile(
    r"\b(?:on hold|still waiting|waiting for|been waiting|los(?:e|ing) my|"
    r"never (?:arrived|came|received|got|showed)|no one|no response|no reply|no answer|"
    r"no help|not helpful|missed (?:my )?(?:connection|flight)|charged twice|double charged|"
    r"hung up|can'?t get through|cannot get through|still no|yet again|fix (?:this|it)|"
    r"doesn'?t work|not working|down again|never again|call back|dm'?d)\b"
)
THANKS_WORDS = frozenset(
    ["thanks", "thank", "thx", "ty", "appreciate", "appreciated", "kudos", "props"]
)
SARCASM_RE = re.compile(
    r"\b(?:thanks? (?:a lot )?for nothing|thanks a lot|great job|nice job|good job|way to go|"
    r"love (?:how|that|it when|being|waiting|sitting)|so helpful|very helpful|yeah right|"
    r"just what i needed|how nice|what a (?:great|joke)|real(?:ly)? great|"
    r"thanks for (?:the|making|losing|ruining|cancell?ing|delaying|leaving|nothing|"
    r"wasting|keeping)|awesome job|brilliant)\b|#(?:not|sarcasm)\b"
)
NEGATION_WORDS = frozenset(
    [
        "not", "no", "never", "dont", "don't", "didnt", "didn't", "doesnt", "doesn't", "isnt",
        "isn't", "wasnt", "wasn't", "cant", "can't", "won't", "wont", "couldn't", "couldnt",
        "haven't", "havent", "hasn't", "hasnt",
    ]
)
QUESTION_WORDS = frozenset(
    [
        "how", "what", "when", "where", "why", "who", "which", "can", "could", "will", "would",
        "is", "are", "do", "does", "did", "should", "any", "anyone",
    ]
)
CONTRAST_WORDS = frozenset(
    ["but", "however", "although", "though", "yet"]
)


@dataclass(slots=True)
class Cues:
    """What the care rules see in one text; cheap to compute, shared with urgency."""

    care_neg: int
    thanks: bool
    sarcasm: bool
    question: bool
    negation: bool
    contrast_neg: bool
    exclaim: int
    caps: float
    n_tokens: int

    @property
    def care(self) -> bool:
        """Whether the text reads like a customer-care message. Questions and thanks alone do
        not count: "What a beautiful morning" is ordinary text and must stay VADER's."""
        return self.care_neg > 0 or self.sarcasm


def cues(masked: str, raw: str, toks: list[str]) -> Cues:
    """Rule cues of a text (`masked` from `mask`, `raw` as written, `toks` from `tokens`)."""
    care_neg = 0
    contrast_at = -1
    contrast_neg = False
    thanks = negation = False
    for i, t in enumerate(toks):
        if t in CARE_NEG_WORDS or t.startswith(CARE_NEG_PREFIXES):
            care_neg += 1
            if contrast_at >= 0:
                contrast_neg = True
        elif t in THANKS_WORDS:
            thanks = True
        elif t in NEGATION_WORDS:
            negation = True
        elif t in CONTRAST_WORDS and contrast_at < 0:
            contrast_at = i
    phrases = CARE_NEG_PHRASES_RE.findall(masked)
    care_neg += len(phrases)
    first = next((t for t in toks if t != "usertoken"), "")
    question = "?" in toks or first in QUESTION_WORDS
    caps = 0.0
    if len(raw) > 12:
        upper = sum(map(str.isupper, raw))
        lower = sum(map(str.islower, raw))
        caps = upper / (upper + lower) if upper + lower > 8 else 0.0
    return Cues(
        care_neg=care_neg,
        thanks=thanks,
        sarcasm=care_neg > 0 and bool(SARCASM_RE.search(masked)),
        question=question,
        negation=negation,
        contrast_neg=contrast_neg,
        exclaim=min(toks.count("!"), 3),
        caps=caps,
        n_tokens=len(toks),
    )


# --- features --------------------------------------------------------------------------------

DENSE_NAMES = (
    "vader_compound", "vader_pos", "vader_neg", "vader_neu", "care_neg", "thanks", "sarcasm",
    "question", "negation", "contrast_neg", "exclaim", "caps", "length", "thanks_no_neg",
    "compound_x_care",
)


def dense(vader: dict[str, float], c: Cues) -> list[float]:
    """Dense features in the order of DENSE_NAMES, each roughly within [-1, 1]."""
    care = math.log1p(c.care_neg)
    return [
        vader["compound"], vader["pos"], vader["neg"], vader["neu"] - 0.5, care,
        float(c.thanks), float(c.sarcasm), float(c.question), float(c.negation),
        float(c.contrast_neg), c.exclaim / 3.0, c.caps, math.log1p(c.n_tokens) / 4.0,
        float(c.thanks and c.care_neg == 0), vader["compound"] * min(care, 1.0),
    ]


def hashed(toks: list[str], buckets: int) -> list[int]:
    """Bucket indices of word unigrams and bigrams (with sentence boundaries)."""
    crc = zlib.crc32
    out = [crc(t.encode()) % buckets for t in toks]
    prev = "<s>"
    for t in toks:
        out.append(crc(f"{prev} {t}".encode()) % buckets)
        prev = t
    out.append(crc(f"{prev} </s>".encode()) % buckets)
    return out


# --- Korean ----------------------------------------------------------------------------------

HANGUL_RE = re.compile(r"[\uac00-\ud7a3]")
KO_TOKEN_RE = re.compile(r"[\uac00-\ud7a3]+|[a-z]+|[!?]|[ㅋㅎㅠㅜ]+|\d+")


def ko_hashed(text: str, buckets: int) -> list[int]:
    """Korean features: words, and character 1-3-grams inside words (Korean morphology glues
    particles to stems, so sub-word n-grams carry most of the signal)."""
    out: list[int] = []
    for w in KO_TOKEN_RE.findall(text.lower()):
        if w[0] in "ㅋㅎ":
            w = w[0] * 2
        elif w[0] in "ㅠㅜ":
            w = "ㅠㅠ"
        out.append(zlib.crc32(("w:" + w).encode()) % buckets)
        for n in (1, 2, 3):
            for i in range(len(w) - n + 1):
                out.append(zlib.crc32(w[i:i + n].encode()) % buckets)
    return out
