"""Explainable urgency in [0, 1]: which mention an agent should open first, and why.

Each reason code has a weight w (overridable in `[urgency] weights`) and a strength s in
[0, 1] computed from the text and the mention's context; urgency is the noisy-OR
1 - Π(1 - w·s). That keeps urgency in [0, 1], makes every reason only ever raise it, and lets
an agent read the reasons behind a number. It is a pure function of its inputs, so the inbox
can recompute it as `waiting_minutes` grows without re-running sentiment.

Strengths below a reason's threshold (waiting not yet past the first-response target, reach
below `high_reach_followers`) still contribute a little so that ordering is smooth, but the
reason code is only listed once the threshold is crossed.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain

from listener.scoring import features as F
from listener.scoring.rounding import round4

REASONS = (
    "negative", "question", "complaint", "high_reach", "safety", "legal", "churn", "privacy",
    "discrimination", "waiting_sla", "repeat_contact", "engagement", "lang_unsupported",
)

DEFAULT_WEIGHTS: dict[str, float] = {
    "negative": 0.45,
    "question": 0.15,
    "complaint": 0.6,
    "high_reach": 0.3,
    "safety": 0.7,
    "legal": 0.5,
    "churn": 0.35,
    "privacy": 0.5,
    "discrimination": 0.5,
    "waiting_sla": 0.5,
    "repeat_contact": 0.3,
    "engagement": 0.2,
    "lang_unsupported": 0.2,
}

# Phrases, matched case-insensitively on word boundaries; a trailing `*` matches any ending.
DEFAULT_KEYWORDS: dict[str, list[str]] = {
    "question": [
        "how do i", "how can i", "can you", "could you", "can someone", "anyone know",
        "please help", "help me", "is there", "what is", "where is", "when will", "why is",
        "how long", "any update*", "어떻게", "언제", "왜", "문의", "궁금",
    ],
    "complaint": [
        "cancel*", "delay*", "late", "lost", "luggage", "baggage", "bag", "bags", "damaged",
        "broken", "refund*", "rebook*", "booking", "reservation*", "on hold", "hold time",
        "still waiting", "been waiting", "waiting for", "no one", "nobody", "customer service",
        "no response", "no reply", "hung up", "missed connection", "missed my connection",
        "missed my flight", "stranded", "stuck", "charged twice", "double charged",
        "overcharged", "never arrived", "never received", "missing", "wrong order",
        "not working", "doesn't work", "outage", "call back", "hours", "cant get through",
        "can't get through", "ticket*", "change fee*", "voucher*", "customer care",
        "agent*", "representative*", "phone", "call*", "help", "order", "delivery",
        "package", "account", "charged",
        # cannot reach anyone / time lost: the generic marks of a fixable service failure
        # (what separates "on hold 2 hrs, no human" from "rude crew, bad food")
        "hold", "automated", "human", "a person", "reach", "answer*", "speak to", "talk to",
        "response", "respond*", "message*", "email*", "website", "online", "hrs", "hr",
        "hour", "days", "still", "waited", "waiting", "wait time", "finally", "counting",
        "취소", "환불", "지연", "분실", "파손", "불만", "고장",
        "배송", "응답", "연락",
    ],
    "churn": [
        "switching to", "switch to", "never flying*", "never fly*", "never again",
        "never using", "never use", "cancel my account", "cancel my subscription",
        "close my account", "closing my account", "taking my business", "lost a customer",
        "lost my business", "done with you", "last time i", "won't be back", "going with",
        "탈퇴", "해지", "다시는",
    ],
    # The four risk categories are also what the risk_words alerts match (one list each, so
    # scoring and alerting never disagree). Phrases are chosen so everyday and praising uses
    # ("you guys are fire", "the app keeps crashing", "food court") do not read as incidents.
    "legal": [
        "lawyer*", "sue", "suing", "sued", "lawsuit*", "attorney*", "legal action",
        "small claims", "class action", "see you in court", "take you to court",
        "taking you to court", "solicitor*", "소송", "변호사", "고소",
    ],
    "safety": [
        "smoke", "smoking engine", "engine fire", "caught fire", "fire on board",
        "fire in the cabin", "engine on fire", "plane on fire", "flames", "burning smell",
        "fumes", "injured", "injury", "injuries", "got hurt", "unsafe", "not safe",
        "dangerous", "safety concern", "safety issue", "safety hazard", "emergency landing",
        "medical emergency", "this is an emergency", "plane crash", "crash landing",
        "crashed into", "food poisoning", "poisoned", "ambulance", "bleeding", "evacuat*",
        "explosion", "exploded", "passed out", "fainted", "allergic reaction", "anaphyla*",
        "bomb threat", "화재", "부상", "위험", "사고",
    ],
    "privacy": [
        "data breach", "security breach", "breach", "hacked", "my personal data", "my data",
        "personal data", "personal information", "identity theft", "leaked my data",
        "leaked my", "data leak", "data leaked", "stolen data", "card details stolen",
        "privacy", "gdpr", "phishing", "개인정보", "해킹", "유출",
    ],
    "discrimination": [
        "racist", "racism", "discriminat*", "sexist", "sexism", "homophob*", "transphob*",
        "bigot*", "xenophob*", "ableist", "profiling", "profiled", "because i'm black",
        "because of my race", "because of my religion", "차별",
    ],
}

_QUESTION_WORDS = ("how", "what", "when", "where", "why", "who", "which", "can", "could",
                   "will", "would", "is", "are", "do", "does", "did", "should", "any")
_QUESTION_START_RE = re.compile(
    r"^(?:\s*@\w+)*\s*(?:" + "|".join(_QUESTION_WORDS) + r")\b", re.IGNORECASE)


def _ascii_question_start() -> re.Pattern[str]:
    """`_QUESTION_START_RE` for ASCII text, ~1.8x faster: each letter's two cases spelt out
    instead of IGNORECASE (which folds every character the engine tries) and the words
    grouped by first letter, so the engine tries one group where a word may start, not all
    eighteen words (it does so at every character of every leading @handle, as the word
    class gives back characters). On ASCII text IGNORECASE folds only ASCII letters, and
    whether the text matches does not depend on the order of the alternatives (only a
    yes / no is read; tests/scoring/test_fast_paths.py)."""
    def either(word: str) -> str:
        return "".join(f"[{c}{c.upper()}]" for c in word)

    groups: dict[str, list[str]] = {}
    for word in _QUESTION_WORDS:
        groups.setdefault(word[0], []).append(word[1:])
    body = "|".join(f"{either(first)}(?:{'|'.join(map(either, rest))})"
                    for first, rest in groups.items())
    return re.compile(rf"^(?:\s*@\w+)*\s*(?:{body})\b")


_ASCII_QUESTION_START_RE = _ascii_question_start()
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_PIECES_MAX = F.MEMO_MAX  # bound of each matcher's per-piece memo


_WORD_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
# `_WORD_RE` on lower-cased ASCII text: the same words, found faster than by the Unicode
# class, which the engine tests character by character (tests/scoring/test_fast_paths.py).
_ASCII_WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)?")


@functools.lru_cache(maxsize=4096)
def _regex(pattern: str) -> re.Pattern[str]:
    """Phrase regexes compiled on first need: compiling all ~75 built-in ones up front cost
    ~10 ms of start-up in every `carewatch score` run."""
    return re.compile(pattern)


class KeywordMatcher:
    """Finds which reasons' keywords occur in a text, and how often.

    Why not one big regex: an alternation of ~200 phrases with word boundaries and
    IGNORECASE cost ~230 µs a tweet, five times VADER. Single words are looked up in a dict,
    `word*` prefixes with one `startswith(tuple)`, and phrases by a C-speed substring test
    confirmed by a boundary regex only when the substring is there. Korean keywords match
    inside words, because Korean glues particles to stems.
    """

    def __init__(self, keywords: Mapping[str, Iterable[str]]) -> None:
        self.words: dict[str, list[str]] = {}
        self.prefixes: list[tuple[str, str]] = []
        # first word -> (reason, the phrase with single spaces, its boundary regex source)
        self.phrases: dict[str, list[tuple[str, str, str]]] = {}
        self.korean: list[tuple[str, str]] = []
        self._cache: dict[str, tuple[str, ...]] = {}
        # whitespace-separated piece of lower-cased text -> (the reasons its words hit, its
        # words that start a phrase), or () when it has neither (most pieces)
        self._pieces: dict[str, tuple[tuple[str, ...], tuple[str, ...]] | tuple[()]] = {}
        for reason, items in keywords.items():
            for raw in items:
                word = " ".join(raw.strip().lower().split())
                if not word:
                    continue
                if _HANGUL.search(word):
                    self.korean.append((word.rstrip("*"), reason))
                elif word.endswith("*") and " " not in word:
                    self.prefixes.append((word[:-1], reason))
                elif " " in word or not _WORD_RE.fullmatch(word.rstrip("*")):
                    body = re.escape(word.rstrip("*")).replace(r"\ ", r"\s+")
                    tail = r"\w*" if word.endswith("*") else r"\b"
                    first = (_WORD_RE.findall(word) or [word])[0]
                    self.phrases.setdefault(first, []).append(
                        (reason, word.rstrip("*"), r"(?<!\w)" + body + tail))
                else:
                    self.words.setdefault(word, []).append(reason)
        self.prefix_tuple = tuple(p for p, _ in self.prefixes)

    def _reasons(self, tok: str) -> tuple[str, ...]:
        """Reasons a single word hits (whole-word keywords, then `word*` prefixes); memoised
        per matcher, so a text's words are classified by one C-level `map` of dict lookups."""
        hit = list(self.words.get(tok, ()))
        if self.prefix_tuple and tok.startswith(self.prefix_tuple):
            hit += [reason for prefix, reason in self.prefixes if tok.startswith(prefix)]
        cache = self._cache
        if len(cache) >= 300_000:
            cache.clear()  # bounded memory; the values are pure functions of the word
        value = cache[tok] = tuple(hit)
        return value

    def _piece(self, raw: str) -> tuple[tuple[str, ...], tuple[str, ...]] | tuple[()]:
        """What one whitespace-separated piece of text holds (its lower-cased words): the
        reasons its words hit, in order, and its words that start a phrase."""
        piece = raw.lower()
        toks = (_ASCII_WORD_RE if piece.isascii() else _WORD_RE).findall(piece)
        get = self._cache.get  # get, not `in` then [], so another thread's clear() is harmless
        hits = tuple(chain.from_iterable(
            [h if (h := get(t)) is not None else self._reasons(t) for t in toks]))
        starts = tuple(t for t in toks if t in self.phrases)
        return (hits, starts) if hits or starts else ()

    def counts(self, text: str, pieces: list[str] | None = None) -> dict[str, int]:
        """How many keyword hits each reason has in `text`.

        The text is read piece by piece (whitespace-separated: `pieces` is `text.split()`
        when the caller has it, shared with language detection and VADER), each piece's
        words and hits memoised (`_piece`): the word patterns never match whitespace, so a
        text's words are its pieces' words in order, and most pieces (~9 in 10) hit nothing.
        Lower-casing never makes or removes whitespace, so lower-casing piece by piece gives
        the pieces of the lower-cased text."""
        if pieces is None:
            pieces = text.split()
        found: dict[str, int] = {}
        starts: set[str] = set()
        for hits, first in filter(None, F.memoised(self._pieces, pieces, self._piece,
                                                   _PIECES_MAX)):
            for reason in hits:
                found[reason] = found.get(reason, 0) + 1
            starts.update(first)
        if starts:
            lowered = text.lower()
            phrases = self.phrases
            # A phrase can only match where its words occur with single spaces between them
            # once runs of whitespace are collapsed: a C substring test rules most out, and
            # the boundary regex (compiled on first need) confirms the rest.
            spaced = " ".join(pieces).lower()  # (no second split of the text)
            for tok in starts:
                for reason, literal, pattern in phrases[tok]:
                    if literal in spaced and _regex(pattern).search(lowered):
                        found[reason] = found.get(reason, 0) + 1
        if self.korean and not text.isascii():
            lowered = text.lower()
            for probe, reason in self.korean:
                if probe in lowered:
                    found[reason] = found.get(reason, 0) + 1
        return found


@dataclass(frozen=True, slots=True)
class UrgencyRules:
    """Weights, keyword regex and thresholds, resolved once from `UrgencyConfig`."""

    weights: Mapping[str, float]
    matcher: KeywordMatcher
    high_reach_followers: int
    first_response_minutes: float

    @classmethod
    def build(cls, weights: Mapping[str, float] | None = None,
              keywords: Mapping[str, list[str]] | None = None,
              high_reach_followers: int = 10_000,
              first_response_minutes: float = 60.0) -> UrgencyRules:
        """Built-ins overridden by config: a weight replaces the default; a non-empty keyword
        list replaces the built-in list for that reason (an empty list keeps it)."""
        merged_w = dict(DEFAULT_WEIGHTS)
        for key, value in (weights or {}).items():
            if key not in REASONS:
                raise ValueError(f"urgency.weights: unknown reason {key!r} "
                                 f"(one of {', '.join(REASONS)})")
            merged_w[key] = max(0.0, min(1.0, float(value)))
        merged_k = {k: list(v) for k, v in DEFAULT_KEYWORDS.items()}
        for key, words in (keywords or {}).items():
            if key not in REASONS:
                raise ValueError(f"urgency.keywords: unknown reason {key!r} "
                                 f"(one of {', '.join(REASONS)})")
            if words:
                merged_k[key] = list(words)
        return cls(merged_w, KeywordMatcher(merged_k), max(1, int(high_reach_followers)),
                   max(1e-6, float(first_response_minutes)))


# Share of the complaint strength taken from the care model's actionable-complaint
# probability when it read the text (the rest from the keyword rule). Chosen on
# leave-one-airline-out folds of the training data (0.8 > 0.9 > 1.0 > keyword-only).
COMPLAINT_LEARNED = 0.8

# Where the care model read the text, the `negative` and `question` strengths are scaled by
# FLOOR + (1 - FLOOR) * actionable: a negative or a question the model finds actionable
# ("my flight is cancelled, how do I rebook?") keeps its full strength, venting or a
# curious question ("the food was bad", "is there wifi?") keeps a quarter of it. Without it
# a sharp-worded rant outranked a calm "on hold 2 hours, flight cancelled". Chosen on
# leave-one-airline-out folds (urgency ROC-AUC for actionable complaints 0.865 -> 0.872 at
# 0.25; 0.5: 0.870, 0: 0.872). Text the model did not read keeps the plain strengths.
ACTIONABLE_FLOOR = 0.25

# The risk categories: a mention that names one of these and is not clearly positive reads
# as negative (see `sentiment.english_parts`), like a named service failure.
RISK_REASONS = ("safety", "legal", "privacy", "discrimination")
#: Repeat contacts past this many add nothing more: the reason's strength (0.4 + 0.2 per
#: contact) is full at three. The listener relies on it to skip rescoring a mention whose
#: author's count changed only above it (`repeat_contact_level`).
REPEAT_CONTACT_CAP = 3


def repeat_contact_level(repeat_contacts: int) -> int:
    """The part of a repeat-contact count that urgency reads: two counts with the same level
    give the same score."""
    return min(max(repeat_contacts, 0), REPEAT_CONTACT_CAP)


_RISK = frozenset(RISK_REASONS)


def risk_hits(found: Mapping[str, int]) -> int:
    """How many risk keywords (`RISK_REASONS`) a `KeywordMatcher.counts` result holds.
    Nearly every text holds none: one set test answers for those."""
    if _RISK.isdisjoint(found):
        return 0
    return sum(found.get(reason, 0) for reason in RISK_REASONS)


@functools.lru_cache(maxsize=1)
def default_matcher() -> KeywordMatcher:
    """The built-in keyword lists, for callers scoring without a `Scorer`'s resolved rules
    (built on first need, once per process)."""
    return KeywordMatcher(DEFAULT_KEYWORDS)


def care_strong(text: str) -> int:
    """How many service failures the care rules name in `text` (strong words and phrases)."""
    masked, toks = F.normalise(text)
    return F.cues(masked, text, toks).strong


def urgency(rules: UrgencyRules, text: str, sentiment: float, *, supported: bool = True,
            followers: int | None = None, engagement: int = 0,
            waiting_minutes: float | None = None, repeat_contacts: int = 0,
            strong: int | None = None, found: Mapping[str, int] | None = None,
            actionable: float | None = None) -> tuple[float, list[str]]:
    """Urgency in [0, 1] and its reason codes, in the fixed order of REASONS.

    `actionable` is the care model's probability that the text is a complaint someone can
    act on (`SentimentResult.actionable`; None where the model did not read the text). When
    given it carries most of the complaint strength (`COMPLAINT_LEARNED`), the keyword rule
    the rest: the model learned from labelled complaints which ones a team can fix ("flight
    cancelled, on hold 2 hours") and which are venting ("the food was bad"), which keyword
    counts cannot tell apart. The reason is listed when either says complaint, but in a
    positive text only when the model does: "thanks so much for the quick help!" holds a
    complaint keyword ("help") and is praise, so listing `complaint` there was untrue (the
    keyword's small strength still counts, so ordering is unchanged).

    `strong` is `care_strong(text)` when the caller has it already (sentiment computes it);
    None computes it here, so scoring and re-scoring give the same number. Likewise `found`
    is `rules.matcher.counts(text)` when the caller has it (the Scorer, which also feeds the
    risk hits to sentiment).
    """
    strength, listed = _strengths(rules, text, sentiment, supported, strong, found,
                                  actionable)
    if followers or engagement > 0 or (waiting_minutes is not None and waiting_minutes > 0) \
            or repeat_contacts > 0:
        _context(rules, strength, listed, followers, engagement, waiting_minutes,
                 repeat_contacts)
    return round4(1.0 - _remaining(rules.weights, strength)), _listed(rules.weights, listed)


def urgency_levels(rules: UrgencyRules, text: str, sentiment: float, *,
                   supported: bool = True, followers: int | None = None, engagement: int = 0,
                   waiting_minutes: float | None = None, repeat_contacts: Sequence[int] = (0,),
                   strong: int | None = None, found: Mapping[str, int] | None = None,
                   actionable: float | None = None) -> list[tuple[float, list[str]]]:
    """`urgency` at each count of `repeat_contacts`, in order, bit for bit, the rest of the
    reasons computed once.

    Why it can: the repeat-contact reason is the only one the count changes, and it is the
    last one `urgency` meets (no other reason sets it), so its factor is the last of the
    noisy-OR product: the product over the other reasons, times that factor, is the very
    float `urgency` multiplies out. The listener's fetch worker scores every mention at all
    `REPEAT_CONTACT_CAP` + 1 levels, and the rest was three quarters of that work.

    The levels share their lists of reasons (one with the repeat-contact reason, one
    without): copy one before changing it (`Scorer.score_levels` does). Why: the fetch
    worker sends them as they are and the listener copies only the one it stores, so a
    copy per level was work for nothing.
    """
    strength, listed = _strengths(rules, text, sentiment, supported, strong, found,
                                  actionable)
    if followers or engagement > 0 or (waiting_minutes is not None and waiting_minutes > 0):
        _context(rules, strength, listed, followers, engagement, waiting_minutes, 0)
    weights = rules.weights
    remaining = _remaining(weights, strength)
    reasons = _listed(weights, listed)
    weight = weights.get(REPEAT_REASON, 0.0)
    with_repeat = (sorted([*reasons, REPEAT_REASON], key=_REASON_RANK.__getitem__)
                   if weight > 0 else reasons)
    strengths = _REPEAT_STRENGTHS
    alone = (round4(1.0 - remaining), reasons)
    return [(round4(1.0 - remaining * (1.0 - weight * strengths[repeat_contact_level(count)])),
             with_repeat) if count > 0 else alone
            for count in repeat_contacts]


def _strengths(rules: UrgencyRules, text: str, sentiment: float, supported: bool,
               strong: int | None, found: Mapping[str, int] | None,
               actionable: float | None) -> tuple[dict[str, float], list[str]]:
    """The strengths of the reasons the text gives (all but the context's), in the order
    `urgency` meets them, and the reasons listed so far."""
    # Each reason is met at most once here, so a reason's strength is its value clipped to
    # 1, kept only when positive; `strength` keeps the order reasons are met in, which is
    # the order of the product below (float products depend on it). Written out without a
    # helper closure: on the CSV path this runs for every row (~1.5 µs a row saved).
    strength: dict[str, float] = {}
    listed: list[str] = []
    if found is None:
        found = rules.matcher.counts(text)
    if not supported:
        strength["lang_unsupported"] = 1.0
        listed.append("lang_unsupported")
    # how much of the negative / question strength stays (see ACTIONABLE_FLOOR)
    keep = 1.0 if actionable is None else (
        ACTIONABLE_FLOOR + (1 - ACTIONABLE_FLOOR) * min(1.0, max(0.0, actionable)))
    # Text that is not negative reads weaker: a question or a complaint word in a positive
    # text ("thanks for the quick refund") hardly needs an agent first; in a neutral one
    # ("what time does boarding start?", "my flight is delayed, any update") it is halfway.
    if sentiment <= -0.05:
        tone = 1.0
        value = (0.35 + 0.65 * min(1.0, -sentiment)) * keep
        if value > 0:
            strength["negative"] = min(1.0, value)
            listed.append("negative")
    else:
        tone = _PRAISE_TONE if sentiment >= 0.05 else 0.7
    if "?" in text or "question" in found or (
            _ASCII_QUESTION_START_RE if text.isascii() else _QUESTION_START_RE).match(text):
        value = (1.0 if tone == 1.0 else 0.5) * keep
        if value > 0:
            strength["question"] = min(1.0, value)
            listed.append("question")
    if strong is None:
        strong = care_strong(text) if supported else 0
    n = found.get("complaint", 0)
    # keywords and the care rules' named failures ("never arrived", "charged twice")
    rule = min(1.0, (0.5 + 0.25 * n if n else 0.25) + 0.25 * strong) * tone if n or strong else 0.0
    # keywords in praise ("thanks for the quick refund") still order a little, unlisted
    keyword_says = tone != _PRAISE_TONE
    if actionable is None:
        value, show = rule, keyword_says
    else:
        value = COMPLAINT_LEARNED * actionable + (1 - COMPLAINT_LEARNED) * rule
        show = (rule > 0 and keyword_says) or actionable >= 0.5
    if value > 0:
        strength["complaint"] = min(1.0, value)
        if show:
            listed.append("complaint")
    if not _FOUND_REASONS.isdisjoint(found):
        for reason in _FOUND_REASONS_ORDER:
            if reason in found:
                strength[reason] = 1.0
                listed.append(reason)
    return strength, listed


def _remaining(weights: Mapping[str, float], strength: Mapping[str, float]) -> float:
    """The noisy-OR's 1 - urgency, multiplied in `strength`'s order (floats depend on it)."""
    remaining = 1.0
    for reason, s in strength.items():
        remaining *= 1.0 - weights.get(reason, 0.0) * s
    return remaining


def _listed(weights: Mapping[str, float], listed: list[str]) -> list[str]:
    """The listed reasons in REASONS order, without those weighted 0."""
    if len(listed) > 1:
        listed.sort(key=_REASON_RANK.__getitem__)
    return [r for r in listed if weights.get(r, 0.0) > 0]


_PRAISE_TONE = 0.35  # `_strengths`' tone of a positive text
_FOUND_REASONS_ORDER = ("safety", "legal", "churn", "privacy", "discrimination")
_FOUND_REASONS = frozenset(_FOUND_REASONS_ORDER)
_REASON_RANK = {reason: i for i, reason in enumerate(REASONS)}


def _context(rules: UrgencyRules, strength: dict[str, float], listed: list[str],
             followers: int | None, engagement: int, waiting_minutes: float | None,
             repeat_contacts: int) -> None:
    """The reasons a mention's context adds (reach, engagement, waiting, repeat contacts),
    into `strength` and `listed` in `urgency`'s order; a reason already there keeps the
    larger strength and is listed once."""

    def add(reason: str, value: float, show: bool = True) -> None:
        if value > 0:
            strength[reason] = max(strength.get(reason, 0.0), min(1.0, value))
            if show and reason not in listed:
                listed.append(reason)

    if followers:
        reach = math.log10(1 + followers) / math.log10(1 + rules.high_reach_followers)
        add("high_reach", reach if reach >= 1 else 0.3 * reach ** 2, show=reach >= 1)
    if engagement > 0:
        add("engagement", math.log10(1 + engagement) / 2, show=engagement >= 10)
    if waiting_minutes is not None and waiting_minutes > 0:
        ratio = waiting_minutes / rules.first_response_minutes
        over = ratio > 1
        add("waiting_sla", 0.5 + 0.5 * min(1.0, ratio - 1) if over else 0.3 * ratio, show=over)
    if repeat_contacts > 0:
        add(REPEAT_REASON, _repeat_strength(repeat_contacts))


REPEAT_REASON = "repeat_contact"


def _repeat_strength(repeat_contacts: int) -> float:
    """The repeat-contact reason's strength before clipping (0.4 + 0.2 per contact, up to
    `REPEAT_CONTACT_CAP`), for a count above 0."""
    return 0.4 + 0.2 * repeat_contact_level(repeat_contacts)


#: `_repeat_strength` clipped to 1, by repeat-contact level (1 and up): as `_context` adds it.
_REPEAT_STRENGTHS = (0.0, *(min(1.0, _repeat_strength(level))
                            for level in range(1, REPEAT_CONTACT_CAP + 1)))
