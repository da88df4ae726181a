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
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain
from typing import Any, TypeVar

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
# Every BRAND_NAMES_RE match holds one of these: finding one spares most texts the
# alternation (~2.5 µs a text). One search of the substrings grouped by first letter (no
# word boundaries, so the engine skips to the next u/a/s/b/v/d in C) costs less than the ten
# substring tests it replaced.
_BRAND_GATE = ("united", "american", "southwest", "airways", "usair", "blue", "virgin",
               "delta", "swa", "aa")
_BRAND_GATE_RE = re.compile("u(?:nited|sair)|a(?:merican|irways|a)|s(?:outhwest|wa)|blue|"
                            "virgin|delta")
# The published airline set replaced words by "Late Flight" / "Cancelled Flight"
# ("Cancelled Flightled"); undo the glue so the words are seen as words.
QUIRK_RE = re.compile(r"(Late Flight|Cancelled Flight)(?=\w)")

TOKEN_RE = re.compile(
    r"[a-z][a-z0-9']*|\d+(?:[.,:]\d+)*|[!?]|[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B50\u2764]"
)
# `TOKEN_RE` with its first character taken out of the four branches: a pattern that opens
# with one character class lets the regex engine skip to the next possible token in C
# instead of trying every branch at every space and punctuation mark (~15% faster). The
# branches start with disjoint characters, so the lookbehind picks the branch the first
# character began (tests/scoring/test_shared_passes.py holds both to the same tokens).
_TOKEN_SCAN = re.compile(
    r"[a-z\d!?\U0001F000-\U0001FAFF\u2600-\u27BF\u2B50\u2764]"
    r"(?:(?<=[a-z])[a-z0-9']*|(?<=\d)\d*(?:[.,:]\d+)*|)"
)


def mask(text: str) -> str:
    """Lower-cased text with URLs, @handles and known brand names replaced by placeholders."""
    if "Flight" in text:
        text = QUIRK_RE.sub(r"\1 ", text)
    if "http" in text or "www" in text:
        text = URL_RE.sub(" urltoken ", text)
    if "@" in text:
        text = HANDLE_RE.sub(" usertoken ", text)
    lowered = text.lower()
    if _BRAND_GATE_RE.search(lowered) is not None:
        return BRAND_NAMES_RE.sub(" brandtoken ", lowered)
    return lowered


#: How many entries each per-token or per-piece memo of the scoring passes holds at most.
MEMO_MAX = 300_000
_K = TypeVar("_K")
_V = TypeVar("_V")


def memoised(memo: dict[_K, _V], keys: list[_K], compute: Callable[[_K], _V],
             limit: int = MEMO_MAX) -> list[_V]:
    """`compute` of each key, read from `memo` where it is there and stored in it where it
    is not: the scoring passes see the same tokens and whitespace pieces over and over, and
    a dict read costs far less than the regexes behind `compute`.

    `compute` must be a pure function of its key (never None), so a full memo is simply
    emptied (bounded memory), and reads use get(), so another thread's clear() is
    harmless.

    The misses are looked for with `is None`, not `None in values`: `in` compares each
    value with None through `==` (a tuple's, then None's rich comparison, ~80 instructions
    a value), ~4k instructions a CSV row over its three memoised passes (callgrind), where
    compiled the loop is a pointer comparison a value."""
    values = list(map(memo.get, keys))
    for value in values:
        if value is None:
            break
    else:
        return values  # type: ignore[return-value]
    if len(memo) >= limit:
        memo.clear()
    for i, key in enumerate(keys):
        if values[i] is None:
            values[i] = memo[key] = compute(key)
    return values  # type: ignore[return-value]


_DIGIT_RE = re.compile(r"\d")
_ZEROED: dict[str, str] = {}  # token -> itself, or "0" for a number or an id with digits


def _zeroed(tok: str) -> str:
    """`tok`, or "0" when it is a number or holds a digit."""
    return "0" if tok[0].isdigit() or (not tok.isalpha() and _DIGIT_RE.search(tok)) else tok


def tokens(masked: str) -> list[str]:
    """Word, number, `!`/`?` and emoji tokens of masked text.

    Numbers, `#3`-style tags (the `#` is not a token character) and ids with digits
    ("aa412", "ua1234", "a320") all collapse to one token `0`, as brand names are masked:
    which flight or which list item says nothing about sentiment. Trailing `0`s are dropped:
    in the airline data tweets ending in a flight number are mostly neutral questions, so a
    "0 </s>" bigram learned "neutral" and a stray " #3" after a complaint flipped its label.
    A number inside the text ("on hold for 3 hours") keeps its place."""
    toks = _TOKEN_SCAN.findall(masked)
    if _DIGIT_RE.search(masked) is None:  # no number to collapse: skip the per-token pass
        return toks
    toks = memoised(_ZEROED, toks, _zeroed)
    while toks and toks[-1] == "0":
        toks.pop()
    return toks


def normalise(text: str) -> tuple[str, list[str]]:
    """The one normalisation pass of a text: its masked lower-case form and its tokens,
    shared by the care cues, the hashed features and the model."""
    masked = mask(text)
    return masked, tokens(masked)


# --- care rules ------------------------------------------------------------------------------

# Things that go wrong in customer care. Single words are looked up in sets of tokens and
# multi-word phrases by one regex: a single regex with ~80 alternatives and word boundaries
# cost 20 µs a tweet, as much as half of VADER.
#
# Two kinds of word: CARE_STRONG words name a service failure in any industry (airlines,
# telecoms, banks, retailers, delivery, apps) and on their own make a text "care context";
# CARE_WEAK words are negative in care text but common in ordinary chatter ("again", "hours",
# "worst"), so they feed the model but do not, alone, take a text away from VADER.
CARE_STRONG_WORDS = frozenset(
    [
        # travel
        "stranded", "overbooked", "oversold", "rebooked", "layover", "misconnect",
        # delivery / retail
        "undelivered", "misdelivered", "backordered", "defective", "faulty", "damaged",
        # money
        "overcharged", "overcharge", "overdraft", "unauthorized", "unauthorised", "fraudulent",
        "chargeback", "scammed", "ripoff", "declined",
        # telecoms / tech
        "outage", "outages", "disconnected", "buffering", "glitch", "glitches", "glitchy",
        "crashing", "unreachable", "laggy",
        # service
        "unhelpful", "understaffed", "incompetent", "unresolved", "escalate", "escalated",
        "complaint", "complaints",
    ]
)
CARE_WEAK_WORDS = frozenset(
    [
        "late", "lost", "again", "stuck", "worst", "broken", "rude", "unacceptable",
        "ridiculous", "disappointed", "disappointing", "disappointment", "terrible", "horrible",
        "awful", "useless", "pathetic", "hours", "hour", "days", "issue", "issues", "problem",
        "problems", "seriously", "ruined", "why", "missing", "wrong", "error", "waste", "lines",
        "nobody", "fail", "failed", "fails", "failure", "hold", "waiting", "waited", "joke",
        "nightmare", "mess", "frustrated", "frustrating", "annoyed", "angry", "furious",
        "still", "weeks", "crashed", "crashes", "slow", "charged", "denied", "refused",
        "ignored", "ignoring",
    ]
)
CARE_NEG_WORDS = CARE_STRONG_WORDS | CARE_WEAK_WORDS
# Prefixes are strong: "cancelled", "delayed", "refund", "complained", "rebooking".
CARE_NEG_PREFIXES = ("cancel", "delay", "refund", "complain", "rebook", "reimburs")
# Each entry a regex alternative that starts with a plain letter and matches text ending in
# a letter, matched on whole words (`CARE_NEG_PHRASES_RE`).
CARE_NEG_PHRASES = (
    "on hold", "still waiting", "waiting for", "been waiting", "los(?:e|ing|t) my",
    "never (?:arrived|came|received|got|showed|delivered|refunded)", "no one", "no response",
    "no reply", "no answer", "no help", "not helpful", "missed (?:my )?(?:connection|flight)",
    "charged (?:me )?(?:twice|again|double)", "double charged", "hung up", "can'?t get through",
    "cannot get through", "still no", "still not", "yet again", "fix (?:this|it)",
    "doesn'?t work", "not working", "stopped working", "won'?t (?:load|work|connect|open)",
    "keeps? (?:crashing|dropping|freezing|failing|cutting)", "down again", "never again",
    "call(?:ed)? back", "dm'?d",
    "no (?:signal|service|internet|wifi|wi-fi|connection|power|network|coverage|refund)",
    "is down", "are down", "been down", "still down", "went down",
    *(f"{who} (?:log ?in|sign ?in|access|connect|pay|cancel|get a refund|reach|track)"
      for who in ("can'?t", "cannot", "unable to")),
    "locked out", "where(?:'s| is) my",
    *(f"{who} (?:been )?(?:received|delivered|arrived|refunded|credited|fixed|resolved)"
      for who in ("haven'?t", "hasn'?t", "didn'?t", "not", "never")),
    "wrong (?:order|item|size|charge|address|amount)", "money back", "my money",
    "days (?:later|now|ago)", "weeks (?:later|now|ago)", "hours (?:later|now|ago)",
    r"for (?:an? |\d+ )?(?:hours?|days|weeks)", "customer (?:service|care|support)",
    "nobody (?:cares|helps|answers|called)",
    # passive failures, where no one is the subject: "my bag is lost", "luggage was lost",
    # "got lost", "has been lost", "is still missing", "went missing", "was stolen"
    *(f"{verb} (?:still )?(?:lost|missing|stolen|misplaced)"
      for verb in ("is", "was", "are", "were", "got", "gets", "get", "been", "being", "went",
                   "gone", "goes")),
    "still (?:lost|missing)",
)
CARE_NEG_PHRASES_RE = re.compile(r"\b(?:" + "|".join(CARE_NEG_PHRASES) + r")\b")


def _word_scan(alternatives: tuple[str, ...], tail: str = "") -> re.Pattern[str]:
    """`\\b(?:alternatives)\\b` (then `tail`) in a form the regex engine runs ~2x faster,
    to be searched in " " + text: the same matches, each with one more character in front.

    Why it is faster: a pattern that starts with `\\b` gives the engine nothing to skip
    ahead with, so it tries all ~50 alternatives at every character. Here the pattern starts
    with `\\W` (a non-word character, which the leading space supplies at the start), so it
    only tries at spaces and punctuation, and the alternatives are grouped by their first
    letter, so it tries one group there, not every alternative. The order of alternatives
    with the same first letter is kept, so each position matches the same alternative.
    `findall` finds as many matches: no alternative can match right where the previous
    match ended, since each ends on a letter and `\\b` then forbids a letter next."""
    groups: dict[str, list[str]] = {}
    for alt in alternatives:
        if not alt[:1].isalpha() or alt[1:2] in ("?", "*", "+", "{"):
            raise ValueError(f"{alt!r}: an alternative must start with a plain letter")
        groups.setdefault(alt[0], []).append(alt[1:])
    body = "|".join(f"{first}(?:{'|'.join(rest)})" for first, rest in groups.items())
    return re.compile(rf"\W(?:(?:{body})\b{tail})")


_PHRASES_SCAN = _word_scan(CARE_NEG_PHRASES)
# Nouns and verbs of a service relationship: who you talk to when something breaks, and the
# things they sell. Ordinary chatter rarely has them; "@friend I love you" has none.
SERVICE_WORDS = frozenset(
    [
        # travel
        "flight", "flights", "flt", "gate", "boarding", "baggage", "luggage", "bag", "bags",
        "suitcase", "suitcases",
        "seat", "seats", "booking", "booked", "reservation", "ticket", "tickets", "itinerary",
        "airport", "crew", "pilot", "plane", "aircraft", "connection", "upgrade",
        # retail / delivery
        "order", "orders", "ordered", "delivery", "delivered", "package", "parcel",
        "shipment", "shipping", "shipped", "tracking", "courier", "driver", "item", "items",
        "store", "stock", "replacement", "exchange", "warranty", "receipt", "return",
        "returned",
        # money
        "account", "bill", "billing", "invoice", "payment", "payments", "card", "transaction",
        "bank", "branch", "loan", "mortgage", "atm", "deposit", "balance", "fee", "fees",
        "refund", "refunds", "credit", "debit", "transfer",
        # telecoms / tech
        "app", "website", "login", "password", "signal", "wifi", "internet", "broadband",
        "network", "coverage", "router", "subscription", "contract", "plan", "service",
        "support", "update",
        # people and channels
        "customer", "customers", "agent", "agents", "representative", "rep", "staff",
        "manager", "supervisor", "dm", "hotline", "helpline", "voucher", "vouchers",
        "points", "miles", "claim", "compensation", "policy",
        # talking to a service: "I was told", "no one answered", "how do I talk to a person"
        "told", "asked", "response", "respond", "responded", "answer", "answered", "email",
        "emailed", "phone", "call", "called", "calling", "person", "human", "help", "helped",
        "assist", "assistance", "info", "information", "status", "process", "communication",
        "waited", "wait", "follow", "reply", "replied", "contact", "contacted",
    ]
)
THANKS_WORDS = frozenset(
    ["thanks", "thank", "thx", "ty", "appreciate", "appreciated", "kudos", "props"]
)
SARCASM_PHRASES = (
    "thanks? (?:a lot )?for nothing", "thanks a lot(?! for)", "great job", "nice job",
    "good job",
    "way to go", "love (?:how|that|it when|being|waiting|sitting)", "so helpful",
    "very helpful", "yeah right", "just what i needed", "how nice", "what a (?:great|joke)",
    "real(?:ly)? great",
    # thanking for the failure itself; "thanks for the ..." is sarcasm only when what is
    # thanked for names a failure (`thanks_for_failure`)
    "thanks for (?:losing|ruining|cancell?ing|delaying|leaving|nothing|wasting)",
    "awesome job", "brilliant",
)
SARCASM_RE = re.compile(r"\b(?:" + "|".join(SARCASM_PHRASES) + r")\b|#(?:not|sarcasm)\b")
# Thanks for something ("thanks for the quick refund", "thank you for keeping me updated")
# is sincere unless the thing thanked for is a failure ("thanks for the 3 hour delay",
# "thank you for making me wait 2 hours"): the object, up to the end of its clause, is read
# by `thanks_for_failure`. The object runs to the first punctuation mark (a lookahead, so
# a second thanks in it is read too: "thanks for answering and thanks for keeping me on
# hold").
THANKS_FOR_RE = re.compile(
    r"\b(?:thanks|thank (?:you|u)|thx|ty)(?: (?:so|very) much| a lot)? for (?=([^,.;:!?]*))")
# A noun-phrase object ("the delay", "your help") ends at its first preposition: "the update
# on my delayed flight" thanks for the update, not for the delay.
_DETERMINERS = frozenset(["the", "your", "ur", "a", "an", "this", "that", "all", "such",
                          "my", "our", "those", "these"])
_OBJECT_END = frozenset(["on", "about", "with", "after", "during", "regarding", "re", "in",
                         "at", "for", "to", "from", "but", "while", "when", "despite", "as",
                         "because", "bc", "since", "then", "and"])
# A verb-phrase object ("compensating us for our lost bags", "keeping me on hold") ends at
# its first preposition too, but for "on" ("on hold") and with "of" ("out of the mess").
_VERB_OBJECT_END = (_OBJECT_END - {"on"}) | {"of"}
# Failure words that are no care word: the object's verb names the harm.
_FAILURE_VERBS = frozenset(["ruining", "ruined", "ruin", "wasting", "wasted", "waste",
                            "ignoring", "nothing", "stranding", "losing", "breaking",
                            "damaging", "overcharging", "causing", "miss", "wait", "screwing",
                            "messing", "effing"])
# Care words that name the remedy, not the failure: thanks for a refund is sincere.
_REMEDY_PREFIXES = ("refund", "reimburs", "rebook")
# What is thanked for is the remedy when it comes before the failure: "thank you for fixing
# my 5 hour delay", "thanks for your help resolving my problem".
_REMEDY_WORDS = frozenset(["help", "helping", "fixing", "fixed", "resolving", "resolved",
                           "sorting", "sorted", "solving", "solved", "handling", "compensating",
                           "compensation", "getting", "finding", "found", "replacing",
                           "addressing", "apology", "apologizing", "apologising"])


# Thanks for no remedy at all is sarcasm: "thanks for nothing", "thanks for not helping".
_NOTHING = frozenset(["nothing", "nada", "zilch"])
_OBJECT_NEGATIONS = frozenset(["not", "never", "no", "zero"])


def _failure_word(word: str) -> bool:
    """Whether `word` names a service failure (a care word or a failure verb)."""
    return (word in CARE_NEG_WORDS or word.startswith(CARE_NEG_PREFIXES)
            or word in _FAILURE_VERBS)


def thanks_for_failure(masked: str) -> bool:
    """Whether `masked` text thanks for a failure ("thanks for the 3 hour delay", "thank you
    for keeping me on hold"): sarcasm. Thanks for a good or neutral thing ("thanks for the
    quick refund", "thanks for the help") or for the remedy of a failure ("thanks for fixing
    my 5 hour delay") is sincere even in a complaint."""
    return _thanked_for(masked, failures=True)


def thanks_for_no_remedy(masked: str) -> bool:
    """Whether `masked` text thanks for nothing, or for a remedy denied ("thanks for
    nothing", "thanks for not helping", "thank you for never refunding me"): sarcasm, even
    without a care word (`cues` runs it for texts without one)."""
    return _thanked_for(masked, failures=False)


def _thanked_for(masked: str, *, failures: bool) -> bool:
    """`thanks_for_failure` (`failures`: a failure thanked for counts too) or
    `thanks_for_no_remedy`. A failure denied ("thanks for not losing my bag this time") is
    sincere."""
    for m in THANKS_FOR_RE.finditer(masked):
        words = TOKEN_RE.findall(m.group(1))
        if words and words[0] in _NOTHING:  # "thanks for nothing"
            return True
        end = _OBJECT_END if words and words[0] in _DETERMINERS else _VERB_OBJECT_END
        negated = False
        for word in words:
            remedy = word in _REMEDY_WORDS or word.startswith(_REMEDY_PREFIXES)
            if remedy and negated:  # "thanks for not helping", "for never refunding me"
                return True
            if word in end or remedy:
                break
            if _failure_word(word):
                if failures and not negated:
                    return True
                break
            negated = negated or word in _OBJECT_NEGATIONS
    return False


# `SARCASM_RE` as `_word_scan` runs it; "#" is a non-word character, so "#not" is one more
# branch after the leading `\W`.
_SARCASM_SCAN = _word_scan(SARCASM_PHRASES, r"|(?<=#)(?:not|sarcasm)\b")
NEGATION_WORDS = frozenset(
    [
        "not", "no", "never", "dont", "don't", "didnt", "didn't", "doesnt", "doesn't", "isnt",
        "isn't", "wasnt", "wasn't", "cant", "can't", "won't", "wont", "couldn't", "couldnt",
        "haven't", "havent", "hasn't", "hasnt", "cannot",
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
# Handles that look like a company's care account rather than a person: "@AmazonHelp",
# "@comcastcares", "@Uber_Support", "@AskPayPal", "@SouthwestAir", or a known brand name.
BRAND_HANDLE_RE = re.compile(
    r"@(?:ask[a-z0-9_]+|[a-z0-9_]*(?:support|help|helps|helpers|care|cares|service|services|"
    r"assist|official|air|airways|airlines|bank|_uk|_us|_cs|hq)|"
    r"(?:united|americanair|southwestair|usairways|jetblue|virginamerica|delta)[a-z]*)\b",
    re.IGNORECASE,
)
# The same pattern, case-sensitive, for lower-cased ASCII text: IGNORECASE makes the regex
# engine fold every character it tries, ~2.5x slower on a tweet. For ASCII text the two
# find the same handles (no ASCII letter has another case-folding than its pair).
_BRAND_HANDLE_LOWER_RE = re.compile(BRAND_HANDLE_RE.pattern)
_PHRASE_GATE = frozenset(
    [
        "hold", "waiting", "no", "never", "not", "missed", "charged", "hung", "can't", "cant",
        "cannot", "still", "again", "fix", "doesn't", "doesnt", "working", "won't", "wont",
        "keep", "keeps", "down", "call", "called", "dm'd", "dmd", "unable", "locked", "where",
        "where's", "haven't", "hasn't", "didn't", "havent", "hasnt", "didnt", "wrong",
        "money", "days", "weeks", "hours", "customer", "nobody", "lose", "losing", "lost",
        "double", "stopped", "missing", "stolen", "misplaced",
    ]
)
# Every SARCASM_RE match starts a token holding one of these words (a token glued on by an
# apostrophe, "o'great", is the exception: texts with an apostrophe always run the regex).
_SARCASM_GATE = frozenset(
    ["thank", "thanks", "thx", "ty", "great", "nice", "good", "way", "love", "so", "very",
     "yeah", "just", "how", "what", "real", "really", "awesome", "brilliant", "not", "sarcasm"]
)
# Every `THANKS_FOR_RE` match starts with one of these tokens (all in `_SARCASM_GATE`).
_THANKS_GATE = frozenset(["thanks", "thank", "thx", "ty"])
_UPPER_DROP_RE = re.compile(r"[^A-Z]+")
_LOWER_DROP_RE = re.compile(r"[^a-z]+")


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
    strong: int = 0
    service: int = 0
    handle: bool = False
    brand: bool = False

    @property
    def care(self) -> bool:
        """Whether the text carries any care cue: a service failure named (strong word or
        phrase), a service word (order, account, flight, signal...), sarcasm around a failure,
        or a company's care account (`BRAND_HANDLE_RE`). A model feature (`care_context`),
        kept as the model was trained on it; whether the care layer may speak at all is the
        stricter `context`."""
        return self.brand or self.strong > 0 or self.service > 0 or self.sarcasm

    @property
    def context(self) -> bool:
        """Whether the text is in a real customer-care context, so that the care layer (model,
        sarcasm, emoji and risk shaping) may change VADER's reading: addressed to a company's
        care account, or naming a service failure ("never arrived", "cancelled", "on hold")
        together with a service word or an addressed @handle ("@jo my order never arrived").

        Service words, failure words, sarcasm or an @friend alone are not enough: ordinary
        posts say "waited 2 hours to get in", "the update is great", "@tommy worst day ever"
        and must read exactly as VADER reads them (benchmarks/_general_proxy.py measures it)."""
        return self.brand or (self.strong > 0 and (self.service > 0 or self.handle))


# Token classes of the care rules, one dict lookup per token instead of a chain of set
# tests: the low bits are the first matching class in the order the rules check them
# (weak > strong > thanks > negation > contrast > handle), `_SERVICE` is added on top.
_WEAK, _STRONG, _THANKS, _NEGATION, _CONTRAST, _HANDLE, _SERVICE = 1, 2, 3, 4, 5, 6, 8
_CARE_CODES = frozenset([_WEAK, _STRONG, _WEAK | _SERVICE, _STRONG | _SERVICE])
_CODE: dict[str, int] = {}
_SERVICE_CODES = bytes(range(_SERVICE, 2 * _SERVICE))
_CODE_MAX = 300_000


def _code(tok: str) -> int:
    """Token class of `tok` (memoised: tweets repeat the same few thousand words)."""
    if tok in CARE_WEAK_WORDS:
        code = _WEAK
    elif tok in CARE_STRONG_WORDS or tok.startswith(CARE_NEG_PREFIXES):
        code = _STRONG
    elif tok in THANKS_WORDS:
        code = _THANKS
    elif tok in NEGATION_WORDS:
        code = _NEGATION
    elif tok in CONTRAST_WORDS:
        code = _CONTRAST
    elif tok == "usertoken":
        code = _HANDLE
    else:
        code = 0
    if tok in SERVICE_WORDS:
        code |= _SERVICE
    if len(_CODE) >= _CODE_MAX:
        _CODE.clear()
    _CODE[tok] = code
    return code


_UPPER_BYTES = bytes(range(65, 91))
_LOWER_BYTES = bytes(range(97, 123))


def _caps(raw: str) -> float:
    """Share of upper-case letters among the ASCII letters of `raw` (0 for short text)."""
    if len(raw) <= 12:
        return 0.0
    if raw.isascii():  # bytes.translate deletes in C, ~20x faster than two regex passes
        data = raw.encode("ascii")
        n = len(data)
        upper = n - len(data.translate(None, _UPPER_BYTES))
        lower = n - len(data.translate(None, _LOWER_BYTES))
    else:
        upper = len(_UPPER_DROP_RE.sub("", raw))
        lower = len(_LOWER_DROP_RE.sub("", raw))
    return upper / (upper + lower) if upper + lower > 8 else 0.0


def _brand_handle(raw: str) -> bool:
    """Whether `raw` addresses a company's care account (`BRAND_HANDLE_RE`)."""
    if raw.isascii():
        return _BRAND_HANDLE_LOWER_RE.search(raw.lower()) is not None
    return BRAND_HANDLE_RE.search(raw) is not None


def cues(masked: str, raw: str, toks: list[str]) -> Cues:
    """Rule cues of a text (`masked` from `mask`, `raw` as written, `toks` from `tokens`).

    Each token is classified by one memoised dict lookup (`_code`) and the classes are
    counted in C (`Counter`); only texts holding one of the phrase gate words run the phrase
    regex, and only texts with a care word run the sarcasm regex."""
    get = _CODE.get
    codes = list(map(get, toks))
    if None in codes:
        codes = [c if c is not None else _code(t) for c, t in zip(codes, toks, strict=True)]
    # The classes are small ints: as bytes they are counted by C `bytes.count`, cheaper than
    # building a Counter for every text.
    packed = bytes(codes)
    weak = packed.count(_WEAK) + packed.count(_WEAK | _SERVICE)
    strong = packed.count(_STRONG) + packed.count(_STRONG | _SERVICE)
    care_neg = weak + strong
    service = len(packed) - len(packed.translate(None, _SERVICE_CODES))
    thanks = _THANKS in packed or _THANKS | _SERVICE in packed
    negation = _NEGATION in packed or _NEGATION | _SERVICE in packed
    handle = _HANDLE in packed or _HANDLE | _SERVICE in packed
    contrast_neg = False
    if care_neg and _CONTRAST in packed:  # a care word after the first "but"/"however"
        contrast_neg = not _CARE_CODES.isdisjoint(codes[codes.index(_CONTRAST) + 1:])
    # Every phrase holds one of the gate words, so most texts skip the regex.
    phrases = 0 if _PHRASE_GATE.isdisjoint(toks) else len(_PHRASES_SCAN.findall(" " + masked))
    care_neg += phrases
    strong += phrases
    first = toks[1] if toks and toks[0] == "usertoken" and len(toks) > 1 else (
        toks[0] if toks else "")
    question = "?" in toks or first in QUESTION_WORDS
    thanked = not _THANKS_GATE.isdisjoint(toks) and "for" in toks
    sarcasm = (care_neg > 0 and (not _SARCASM_GATE.isdisjoint(toks) or "'" in masked) and (
        _SARCASM_SCAN.search(" " + masked) is not None
        or (thanked and thanks_for_failure(masked)))) or (
        care_neg == 0 and thanked and thanks_for_no_remedy(masked))
    # Positional, in the order of the fields (care_neg, thanks, sarcasm, question, negation,
    # contrast_neg, exclaim, caps, n_tokens, strong, service, handle, brand): keyword
    # arguments made the dataclass call ~0.6 µs slower, for every text.
    return Cues(care_neg, thanks, sarcasm, question, negation, contrast_neg,
                min(toks.count("!"), 3), _caps(raw), len(toks), strong, service, handle,
                handle and _brand_handle(raw))


# --- features --------------------------------------------------------------------------------

DENSE_NAMES = (
    "vader_compound", "vader_pos", "vader_neg", "vader_neu", "care_neg", "thanks", "sarcasm",
    "question", "negation", "contrast_neg", "exclaim", "caps", "length", "thanks_no_neg",
    "compound_x_care", "care_context", "service",
)


def dense(vader: dict[str, float], c: Cues) -> list[float]:
    """Dense features in the order of DENSE_NAMES, each roughly within [-1, 1]."""
    care = math.log1p(c.care_neg)
    return [
        vader["compound"], vader["pos"], vader["neg"], vader["neu"] - 0.5, care,
        float(c.thanks), float(c.sarcasm), float(c.question), float(c.negation),
        float(c.contrast_neg), c.exclaim / 3.0, c.caps, math.log1p(c.n_tokens) / 4.0,
        float(c.thanks and c.care_neg == 0), vader["compound"] * min(care, 1.0),
        float(c.care), math.log1p(c.service),
    ]


_BUCKET: dict[int, dict[str, int]] = {}  # buckets -> n-gram -> bucket index
_BUCKET_MAX = 300_000


def hashed(toks: list[str], buckets: int) -> list[int]:
    """Bucket indices of word unigrams and bigrams (with sentence boundaries). Bucket
    indices are memoised per n-gram and looked up with one C-level `map`: tweets repeat the
    same few thousand words, and encode+crc per n-gram was a tenth of the per-text cost."""
    cache = _BUCKET.get(buckets)
    if cache is None:
        cache = _BUCKET.setdefault(buckets, {})
    keys = [*toks, *map(" ".join, zip(["<s>", *toks], [*toks, "</s>"], strict=True))]
    out = list(map(cache.get, keys))
    if None in out:  # new n-grams (most bigrams of unseen text): hashed in one pass
        if len(cache) >= _BUCKET_MAX:
            cache.clear()  # bounded memory; the values are pure functions of the key
            missing = keys
        else:
            missing = [k for v, k in zip(out, keys, strict=True) if v is None]
        cache.update(zip(missing, [zlib.crc32(k.encode()) % buckets for k in missing],
                         strict=True))
        out = list(map(cache.__getitem__, keys))
    return out


class BatchHasher:
    """`hashed` for a whole chunk of texts at once, with numpy: the very same bucket indices.

    Why: on large inputs `hashed` was the largest step after VADER: each text builds ~20
    bigram strings and looks each one up in a cache of ~100k n-grams, which misses the CPU
    caches. CRC32 lets a bigram's CRC be computed from its words' CRCs instead:
    crc32(a + b) = shift_n(crc32(a)) ^ crc32(b), where shift_n, the effect of n more bytes
    on the register, is linear over GF(2), so it is four table look-ups (one per byte of the
    CRC). Each distinct token gets an id and three numbers once (crc32(tok),
    crc32(" " + tok) and the byte length of " " + tok); a chunk's bigram indices are then a
    few numpy operations over all its tokens. Tokens longer than `NMAX` bytes (rare) are
    hashed by `zlib` directly. Training and the per-text path keep `hashed`;
    tests/scoring/test_batch_model.py checks that both give the same indices."""

    NMAX = 64

    def __init__(self, np: Any, buckets: int) -> None:
        self.np = np
        self.buckets = buckets
        one = np.array([[zlib.crc32(b"\0", v << (8 * k)) ^ zlib.crc32(b"\0", 0)
                         for v in range(256)] for k in range(4)], dtype=np.uint32)
        tables = np.zeros((self.NMAX + 1, 4, 256), dtype=np.uint32)
        tables[0] = np.arange(256, dtype=np.uint32)[None, :] << (
            8 * np.arange(4, dtype=np.uint32))[:, None]
        for n in range(1, self.NMAX + 1):  # shift by n bytes = shift by 1 byte, n times
            tables[n] = self._shift(one, tables[n - 1].ravel()).reshape(4, 256)
        self.tables = tables
        self._reset()

    def _reset(self) -> None:
        np = self.np
        self.ids: dict[str, int] = {}
        self.tokens: list[str] = []
        self._new: list[tuple[int, int, int]] = []
        self.crc = np.zeros(0, dtype=np.int64)  # crc32(tok)
        self.kspace = np.zeros(0, dtype=np.int64)  # crc32(" " + tok)
        self.nspace = np.zeros(0, dtype=np.intp)  # len((" " + tok).encode())
        self.start, self.end = self._add("<s>"), self._add("</s>")
        self._sync()

    def _shift(self, tables: Any, crc: Any) -> Any:
        c = crc.astype(self.np.uint32)
        return (tables[0][c & 255] ^ tables[1][(c >> 8) & 255]
                ^ tables[2][(c >> 16) & 255] ^ tables[3][c >> 24])

    def _add(self, tok: str) -> int:
        i = len(self.tokens)
        self.ids[tok] = i
        self.tokens.append(tok)
        spaced = (" " + tok).encode()
        self._new.append((zlib.crc32(tok.encode()), zlib.crc32(spaced), len(spaced)))
        return i

    def _sync(self) -> None:
        """Append the new tokens' numbers to the numpy arrays."""
        if self._new:
            np = self.np
            crc, kspace, nspace = zip(*self._new, strict=True)
            self.crc = np.concatenate([self.crc, np.array(crc, dtype=np.int64)])
            self.kspace = np.concatenate([self.kspace, np.array(kspace, dtype=np.int64)])
            self.nspace = np.concatenate([self.nspace, np.array(nspace, dtype=np.intp)])
            self._new = []

    def flat(self, tok_lists: list[list[str]]) -> tuple[Any, Any]:
        """(indices, lengths): `hashed(toks, buckets)` of every text, concatenated in order,
        and each text's count (2 * len(toks) + 1)."""
        np = self.np
        if len(self.ids) >= _BUCKET_MAX:
            self._reset()  # bounded memory; between chunks, so no id of this chunk is stale
        ids = self.ids
        tokens = list(chain.from_iterable(tok_lists))
        try:  # every token known (nearly every chunk once warm): straight into numpy
            tok = np.fromiter(map(ids.__getitem__, tokens), dtype=np.intp, count=len(tokens))
        except KeyError:
            tok = np.array(self._ids(tokens), dtype=np.intp)
        n = len(tok_lists)
        m = np.fromiter(map(len, tok_lists), dtype=np.intp, count=n)
        # the texts' tokens with <s> and </s> around each text
        ext = np.empty(len(tokens) + 2 * n, dtype=np.intp)
        first = np.cumsum(m + 2) - (m + 2)
        inner = np.ones(len(ext), dtype=bool)
        inner[first] = inner[first + m + 1] = False
        ext[first], ext[first + m + 1] = self.start, self.end
        ext[inner] = tok
        pair = ext[:-1] != self.end  # pairs inside a text (none starts at a text's </s>)
        left, right = ext[:-1][pair], ext[1:][pair]
        nright = self.nspace[right]
        crc = self._bigram_crc(left, right, nright, nright > self.NMAX)
        uni = self.crc[tok] % self.buckets
        bi = crc % self.buckets
        # lay out each text as `hashed` does: its unigrams, then its bigrams
        lens = 2 * m + 1
        out = np.empty(int(lens.sum()), dtype=np.intp)
        start = np.cumsum(lens) - lens
        within = np.arange(len(tokens)) - np.repeat(np.cumsum(m) - m, m)
        out[np.repeat(start, m) + within] = uni
        within = np.arange(len(bi)) - np.repeat(np.cumsum(m + 1) - (m + 1), m + 1)
        out[np.repeat(start + m, m + 1) + within] = bi
        return out, lens

    def _ids(self, tokens: list[str]) -> list[int]:
        """Each token's id, new tokens added (`_add`) and synced."""
        ids = self.ids
        found = list(map(ids.get, tokens))
        for k, tok_id in enumerate(found):
            if tok_id is None:
                known = ids.get(tokens[k])  # a new token seen earlier in this chunk
                found[k] = known if known is not None else self._add(tokens[k])
        self._sync()
        return found  # type: ignore[return-value]  # no None left

    def _bigram_crc(self, left: Any, right: Any, nright: Any, long: Any) -> Any:
        """crc32(left + " " + right) for arrays of token ids."""
        np = self.np
        n = np.minimum(nright, self.NMAX)
        c = self.crc[left].astype(np.uint32)
        # t[n, k, byte] as one `take` from the flattened tables each: numpy's indexing with
        # three arrays cost several times as many instructions
        t = self.tables.ravel()
        at = n * 1024
        crc = (t.take(at + (c & 255)) ^ t.take(at + (256 + ((c >> 8) & 255)))
               ^ t.take(at + (512 + ((c >> 16) & 255))) ^ t.take(at + (768 + (c >> 24)))
               ).astype(np.int64) ^ self.kspace[right]
        if long.any():  # right token over NMAX bytes: zlib on the bigram itself
            tokens = self.tokens
            for k in np.flatnonzero(long).tolist():
                crc[k] = zlib.crc32(
                    f"{tokens[int(left[k])]} {tokens[int(right[k])]}".encode())
        return crc


# --- Korean ----------------------------------------------------------------------------------

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
