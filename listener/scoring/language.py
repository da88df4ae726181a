"""Language of a mention: English and Korean are scored, anything else is `lang_unsupported`.

Why this shape: py3langid (offline, well kept) costs ~100 µs a tweet, four times VADER, and it
misreads short English tweets ("@united thx!!" → Zulu). Most care traffic is plainly English,
so a cheap script check and an English function-word check decide first; the detector only
runs on Latin-script text those checks cannot place, and only overrides English when it is
confident. lingua-language-detector is more accurate on very short text but ~10x slower and
not a project dependency; the function-word gate removes the short-text cases where it wins.
Text that names no language (empty, emoji, punctuation, numbers, links or @handles only, or a
few letters with no English word: "Hola!") is "und" (`UNKNOWN`): it claims no language, yet
is scored like English text, so VADER's emoji lexicon still reads "😡" (`scored_as_english`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

from carewatch.domain import UNDETERMINED_LANG
from listener.scoring.features import memoised

SUPPORTED = frozenset({"en", "ko"})
UNKNOWN = UNDETERMINED_LANG

_STRIP_RE = re.compile(r"https?://\S+|www\.\S+|@\w+|#", re.IGNORECASE)
# `_STRIP_RE` for ASCII text with the cases spelt out: IGNORECASE folds every character the
# engine tries; on ASCII text the two find the same (tests/scoring/test_fast_paths.py).
_ASCII_STRIP_RE = re.compile(r"[hH][tT][tT][pP][sS]?://\S+|[wW][wW][wW]\.\S+|@\w+|#")
_WORD_RE = re.compile(r"[^\W\d_]+")
# `_WORD_RE` on lower-cased ASCII text: the same words (letters only), found ~1.5x faster
# than by the Unicode class, which the engine tests character by character.
_ASCII_WORD_RE = re.compile(r"[a-z]+")
_HANGUL_RE = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_LATIN_RE = re.compile(r"[A-Za-z\u00c0-\u024f]")
# Common English words that are rare as whole words in other Latin-script languages.
_EN_WORDS = frozenset(
    [
        "the", "to", "and", "my", "i", "you", "for", "is", "on", "it", "of", "me", "your",
        "this", "that", "with", "was", "be", "have", "not", "just", "can", "get", "what", "when",
        "will", "are", "do", "im", "i'm", "dont", "don't", "no", "we", "our", "at", "they",
        "been", "from", "but", "all", "so", "how", "why", "flight", "thanks", "thank", "please",
        "help", "customer", "service", "still", "again", "now", "today", "hours", "hour",
        "waiting", "bag", "us", "an", "if", "or", "would", "there", "about", "out", "up", "one",
        "time", "trying", "check", "need", "good", "like", "new", "did", "back", "right",
        "found", "people", "these", "find", "book", "love", "got", "going", "know", "think",
        "want", "make", "take", "give", "day", "way", "any", "more", "some", "than", "then",
        "them", "their", "which", "who", "because", "should", "could", "after", "before",
        "over", "into", "only", "really", "very", "being", "has", "had", "were", "here",
        "yes", "yeah", "guys", "week", "last", "next", "never", "ever", "every", "another",
        "other", "where", "let", "let's", "doesn't", "didn't", "can't", "won't", "isn't",
        "wasn't", "it's", "that's", "i've", "you're", "we're", "they're", "thats", "whats",
        "hey", "said", "says", "tell", "told", "ask", "asked", "work", "working", "gone",
        "came", "home", "even", "well", "much", "many", "most", "look", "looking", "sure",
        "since", "while", "around", "through", "without", "thing", "things", "nothing",
        "anything", "someone", "anyone", "everyone", "great", "bad", "best", "better",
        "year", "years", "minutes", "night", "morning", "tomorrow", "yesterday", "tonight",
        "weekend", "got", "getting", "still", "my", "your", "please",
    ]
) - {"no", "a"}
# Function words of the Latin-script languages most often seen next to English in care
# traffic (Spanish, Portuguese, French, Italian, German, Dutch, Indonesian/Malay, Tagalog,
# Turkish). Text whose letters are plain ASCII with fewer than two of them goes no further
# than English: py3langid was asked about ~1 % of English care tweets ("PTY to PIT via
# IAH", "no wheelchairs") and, on every one of them in the dev set, either answered English
# or guessed below its confidence bar, while loading it costs ~0.45 s per process, more than
# scoring 5,000 tweets. The price: a short accent-free foreign phrase with at most one
# function word ("vuelo cancelado otra vez") is read as English.
_FOREIGN_WORDS = frozenset(
    """de la que el en los las del se por un una con para es mi muy pero nadie gracias
    esta este estoy hola porque nos su sus al lo le les des du et je pas est une pour dans
    ce qui sur avec nous vous mais merci tres der die das und ist nicht ich mit sie auf ein
    eine zu den dem von mein mir bitte danke het een van ik niet wij naar om os nao com um
    uma voce obrigado il che non per sono della di ho yang dan ini itu tidak saya ng sa ang
    mga ako ka hindi po bir ve icin cok""".split()
)
_MIN_CONFIDENCE = 0.9
# Content words that also say "English" (VADER's lexicon, the care and service vocabulary),
# added by `extend_english` once VADER is loaded. Short tweets such as "crashed trying to
# check in." or "literally sucks" carry one function word at most; without this ~3 % of
# care tweets went to py3langid, whose model alone takes ~0.8 s to load in every process.
_en_extra: frozenset[str] = frozenset()
# Shorter ones (2-3 letters: "ok", "thx", "lol", "bad"): too ambiguous to outvote another
# language, but enough to call a text too short for the detector English rather than "und".
_en_short: frozenset[str] = frozenset()


def extend_english(words: Iterable[str]) -> None:
    """Add English content words (letters only) to the English evidence: 4+ letters to
    `_en_extra`, 2-3 letters to the weaker `_en_short`."""
    global _en_extra, _en_short
    plain = [w for w in words if w.isalpha() and w.isascii()]
    _en_extra = _en_extra | frozenset(w for w in plain if len(w) >= 4)
    _en_short = _en_short | frozenset(w for w in plain if 2 <= len(w) <= 3)

# How many `_EN_WORDS` each whitespace-separated piece of ASCII text holds, memoised per
# piece: one table for text that `detect` strips of URLs, @handles and "#", one for text it
# does not. Most English text is decided by these counts alone (two English words or more),
# without the strip, the word regex and the set lookups over the whole text (~9 µs a tweet).
_EN_COUNTS: tuple[dict[str, int], dict[str, int]] = ({}, {})


def _english_in(piece: str, strip: bool) -> int:
    """`_EN_WORDS` among the words `detect` reads in one piece of a text whose letters are
    all ASCII (ASCII text, or `_letters_all_ascii`: emoji and symbols besides).

    The sum over a text's pieces is the count over the whole text: the strip pattern and the
    word pattern never match whitespace, so no match spans two pieces (the strip puts a
    space where it removes something, which only separates words further).

    An ASCII piece without a letter ("#299", "12", "?!": `islower` of its lower case is
    False) holds no word: 0 without the two regex passes, which cost ~1.5 us for every
    piece not yet memoised (a text's numbers and tags). Only ASCII: beyond it a cased
    character may have no lower case ("\U0001f130"), so `islower` says nothing of the
    ASCII letters."""
    ascii_piece = piece.isascii()
    if ascii_piece and not piece.lower().islower():
        return 0
    pattern = _ASCII_STRIP_RE if ascii_piece else _STRIP_RE
    body = pattern.sub(" ", piece) if strip else piece
    return sum(map(_EN_WORDS.__contains__, _ASCII_WORD_RE.findall(body.lower())))


def _english_stripped(piece: str) -> int:
    return _english_in(piece, True)


def _english_plain(piece: str) -> int:
    return _english_in(piece, False)


_identifier: Any = None
_lock = threading.Lock()


def _langid() -> Any:
    """The py3langid identifier, loaded once per process on first need (it takes ~0.3 s)."""
    global _identifier
    if _identifier is None:
        with _lock:
            if _identifier is None:
                from py3langid import langid

                _identifier = langid.LanguageIdentifier.from_modelpath(
                    langid.MODEL_DIR / langid.MODEL_FILE, norm_probs=True
                )
    return _identifier


def detect(text: str, hint: str | None = None, pieces: list[str] | None = None) -> str:
    """ISO 639-1 code of `text` ("en", "ko", "es", ...), biased towards English on doubt.

    `hint` is the platform's own guess (X's `lang`); it is used only when the text itself is
    undecided, because platforms tag many short English replies as "und" or "in".
    `pieces` is `text.split()` when the caller has it (the batch path shares one split).
    """
    strip = "@" in text or "http" in text or "www" in text or "#" in text
    ascii_text = text.isascii()
    # Every letter ASCII: ASCII text, or ASCII text with emoji and symbols (then so is the
    # body, which only loses characters to the strip).
    plain = ascii_text or _letters_all_ascii(text)
    if plain:  # two English words decide, counted piece by piece (`_english_in`)
        english = sum(memoised(_EN_COUNTS[strip], text.split() if pieces is None else pieces,
                               _english_stripped if strip else _english_plain))
        if english >= 2:
            return "en"
    body = (_ASCII_STRIP_RE if ascii_text else _STRIP_RE).sub(" ", text) if strip else text
    # The common case, decided without counting characters one by one: the body's letters
    # all ASCII (`_letters_all_ascii`).
    if plain or body.isascii() or _letters_all_ascii(body):
        words = _ASCII_WORD_RE.findall(body.lower())
        return _latin(body, words, -1, hint)
    letters = sum(map(str.isalpha, body))
    if letters == 0:
        return UNKNOWN
    hangul = len(_HANGUL_RE.findall(body))
    if hangul and hangul * 3 >= letters:
        return "ko"
    latin = len(_LATIN_RE.findall(body))
    if latin * 2 >= letters:
        words = [w.lower() for w in _WORD_RE.findall(body)]
        # Only punctuation, emoji or symbols outside ASCII ("it’s", "…", "😡"): the
        # letters are plain ASCII, so the function-word gate applies as to ASCII text.
        return _latin(body, words, -1 if all(map(str.isascii, words)) else letters, hint)
    # Mostly a non-Latin script (Cyrillic, Arabic, CJK, ...): the detector is reliable there.
    lang, _prob = _langid().classify(body)
    return str(lang)


_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]+")


def _letters_all_ascii(text: str) -> bool:
    """Whether no character of `text` beyond ASCII is a letter, a digit or a number (`\\w`
    but `_`: `str.isalnum`) or in `_HANGUL_RE`'s ranges: emoji, symbols, punctuation,
    variation selectors. Why: then `detect` reads it exactly as ASCII text, by the English
    words of its pieces and its ASCII branch, without the character-by-character passes
    (the letter count, `_HANGUL_RE`, `_LATIN_RE`, the Unicode `_WORD_RE`): ~25 us of a
    tweet with an emoji, as much as the rest of its scoring. The same answer, because such
    characters are no letters (`letters` counts the ASCII ones), no Hangul, leave `latin *
    2 >= letters` true (every ASCII letter is Latin), and are no word characters, whose
    lower case is never an ASCII letter nor depends on its neighbours (checked over all of
    Unicode: tests/scoring/test_fast_paths.py): `_WORD_RE`'s lower-cased words are
    `_ASCII_WORD_RE`'s on the lower-cased text, piece by piece as on the whole, all ASCII
    (`_latin`'s -1); with no letter at all both ways answer "en"."""
    for run in _NON_ASCII_RE.findall(text):
        for c in run:
            if c.isalnum() or "\u1100" <= c <= "\u11ff" or "\u3130" <= c <= "\u318f" or (
                    "\uac00" <= c <= "\ud7a3"):
                return False
    return True


def _latin(body: str, words: list[str], letters: int, hint: str | None) -> str:
    """Latin-script text: English unless clearly something else."""
    english = sum(map(_EN_WORDS.__contains__, words))  # counted in C
    if english >= 2 or (english and english * 4 >= len(words)):
        return "en"
    # Content words are weaker evidence ("super", "terrible" and "horror" are also Spanish or
    # French): they decide only when at least half the words are English.
    content = sum(map(_en_extra.__contains__, words))
    if content and (english + content) * 2 >= len(words):
        return "en"
    ascii_only = letters < 0  # the callers' way of saying "all letters are ASCII"
    if ascii_only:
        letters = sum(map(len, words))
    if letters < 12:  # too short for the detector: English on any English word (or the
        # platform's word for it), else no language
        if english or content or not _en_short.isdisjoint(words) or (
                hint is not None and hint.lower().startswith("en")):
            return "en"
        return UNKNOWN
    if hint and hint.lower() not in ("und", "zxx", "qme", "qht", "art", ""):
        return hint.lower().split("-")[0]
    if ascii_only and sum(map(_FOREIGN_WORDS.__contains__, words)) < 2:
        return "en"  # one stray "el" (El Paso) or "um" is no evidence of another language
    lang, prob = _langid().classify(body)
    if lang != "en" and prob >= _MIN_CONFIDENCE and len(words) >= 3:
        return str(lang)
    return "en"


def supported(lang: str | None) -> bool:
    """Whether carewatch can score sentiment in `lang`; text in no language (`UNKNOWN`)
    is scored as English (`scored_as_english`), so it is no unsupported language."""
    return lang in SUPPORTED or lang == UNKNOWN


def scored_as_english(lang: str | None) -> bool:
    """Whether text `detect` placed in `lang` goes through the English scorer: English,
    and text in no language (emoji, symbols, a few letters), which VADER's emoji and
    slang lexicon still reads."""
    return lang == "en" or lang == UNKNOWN
