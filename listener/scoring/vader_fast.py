"""VADER's `polarity_scores`, same rules and same floating-point operations, about twice as fast.

Why: VADER is the largest single cost of scoring a mention, and most of its time goes to
bookkeeping, not to its rules: every word is lower-cased up to a dozen times (each
negation and idiom check rebuilds a lower-cased copy of the whole sentence), the emoji pass
rebuilds the text one character at a time, and every word, sentiment-laden or not, goes
through a method call. `FastVader` lower-cases the words once, skips the emoji pass for
ASCII text (no VADER emoji key is ASCII), gives words outside the lexicon their 0 without a
call, and applies the rules to lexicon words in the same order and with the same arithmetic
as vaderSentiment 3.3.2, so every score is bit-for-bit identical (tests/scoring/test_vader_fast.py
compares it with the original on the dev tweets and on a seeded fuzz of rule-heavy sentences).
Where the original has a quirk (`_but_check` finds sentiments by value with `list.index`), the
original code is called, so the quirk is kept too.
"""

from __future__ import annotations

import math
import string
from collections.abc import Iterator
from itertools import compress

from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    C_INCR,
    N_SCALAR,
    NEGATE,
    SPECIAL_CASES,
    SentimentIntensityAnalyzer,
)

from listener.scoring.features import MEMO_MAX
from listener.scoring.rounding import round3, round4

_PUNCT = string.punctuation
_NEGATE = frozenset(NEGATE)
_NEVER_SO = ("so", "this")
# The second words of VADER's multi-word idioms and boosters ("kiss of death", "kind of"):
# every n-gram `_special_idioms_check` looks up starts with a pair of adjacent words, the
# second of which is one of these, so a word with none of them around it skips the check.
_IDIOM_SECOND = frozenset(k.split()[1] for k in (*SPECIAL_CASES, *BOOSTER_DICT) if " " in k)
# Words that change a lexicon word's valence when they precede it within three words
# (boosters, negations, "never so", "without doubt", "no", "at least") or can start an idiom:
# a lexicon word with none of them before it (and no word with "n't") keeps its valence.
_BEFORE = frozenset({*BOOSTER_DICT, *_NEGATE, *_IDIOM_SECOND,
                     "never", "without", "so", "this", "no", "least"})


def _negated(word: str) -> bool:
    """vaderSentiment.negated([word]) for an already lower-cased word."""
    return word in _NEGATE or "n't" in word


# VADER's word for each whitespace token (punctuation stripped unless that leaves <= 2
# characters), memoised: tweets repeat the same few thousand tokens. Every token in `_LOWER`
# is in `_WORDS`.
_WORDS: dict[str, str] = {}
_WORDS_MAX = MEMO_MAX


_LOWER: dict[str, str] = {}  # the same, lower-cased


def _lower(tok: str) -> str:
    """VADER's lower-cased word for `tok` (vaderSentiment's `_strip_punc_if_word`), memoised
    with the word itself (`_WORDS`, for the original's `_but_check`)."""
    stripped = tok.strip(_PUNCT)
    word = tok if len(stripped) <= 2 else stripped
    if len(_WORDS) >= _WORDS_MAX:
        _WORDS.clear()  # bounded memory; the values are pure functions of the token
        _LOWER.clear()
    _WORDS[tok] = word
    lower = _LOWER[tok] = word.lower()
    return lower


def _words(toks: list[str]) -> list[str]:
    """VADER's words for `toks` (a bounded memo may have been cleared since they were
    lower-cased: then they are stripped again)."""
    words = list(map(_WORDS.get, toks))
    if None in words:
        strip = _PUNCT
        words = [w if w is not None else t if len(t.strip(strip)) <= 2 else t.strip(strip)
                 for w, t in zip(words, toks, strict=True)]
    return words


def _scalar(word: str, lower: str, valence: float, is_cap_diff: bool) -> float:
    """vaderSentiment.scalar_inc_dec with the lower-cased word passed in."""
    scalar = 0.0
    if lower in BOOSTER_DICT:
        scalar = BOOSTER_DICT[lower]
        if valence < 0:
            scalar *= -1
        if word.isupper() and is_cap_diff:
            if valence > 0:
                scalar += C_INCR
            else:
                scalar -= C_INCR
    return scalar


def _capitals(valence: float) -> float:
    """VADER's emphasis of a lexicon word written in capitals in mixed-case text: `C_INCR`
    further from zero (the original's `valence += C_INCR` / `-= C_INCR`, same floats)."""
    return valence + C_INCR if valence > 0 else valence - C_INCR


class FastVader(SentimentIntensityAnalyzer):
    """A drop-in `SentimentIntensityAnalyzer` whose `polarity_scores` is faster and returns
    exactly the same dictionaries."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # Lexicon words that are not boosters: the only words that can get a valence.
        self._scored = frozenset(self.lexicon.keys() - BOOSTER_DICT.keys())

    def polarity_scores(self, text: str,  # type: ignore[override]
                        pieces: list[str] | None = None,
                        mute: frozenset[str] | None = None) -> dict[str, float]:
        """VADER's scores of `text`; `pieces` is `text.split()` when the caller has it.
        `mute`: lower-cased words whose positive valence (after every rule) counts as
        neutral, for words that are no praise where they stand ("help" in "can you help
        me?", see `sentiment.request_mute`); a negated one ("can't get any help") keeps
        its negative valence."""
        if not text.isascii():  # no emoji key is ASCII: only non-ASCII text needs the pass
            emojis = self.emojis
            if not emojis.keys().isdisjoint(text):
                out = []
                prev_space = True
                for ch in text:
                    if ch in emojis:
                        if not prev_space:
                            out.append(" ")
                        out.append(emojis[ch])
                        prev_space = False
                    else:
                        out.append(ch)
                        prev_space = ch == " "
                text = "".join(out)
                pieces = None  # the emoji pass changed the text
        # (the original strips the text first: no count below changes)
        toks = text.split() if pieces is None else pieces
        lower = list(map(_LOWER.get, toks))  # one memoised look-up a token
        if None in lower:
            lower = [w if w is not None else _lower(t) for w, t in zip(lower, toks, strict=True)]
        n = len(toks)
        # A token is upper-case exactly when its word is (stripping punctuation, which has no
        # case, changes neither), so the tokens stand in for VADER's words in every
        # `isupper` test below.
        # Words outside the lexicon, boosters and "kind" before "of" all score 0 (the int,
        # as in the original): start from zeros and visit only the words that can score.
        sentiments: list[float] = [0] * n
        scored = self._scored
        if not scored.isdisjoint(lower):
            lexicon = self.lexicon
            # The positions of the words that can score, found by C-level scans.
            positions = compress(range(n), map(scored.__contains__, lower))
            apostrophe = "'" in text  # "n't" words negate: without an apostrophe there are none
            if _BEFORE.isdisjoint(lower) and not (apostrophe and any("n't" in w for w in lower)):
                # No word of the text can change another's valence: each keeps its own,
                # but for the capitals rule (the common case, decided once for the text).
                for i in positions:
                    valence = lexicon[lower[i]]
                    # (whether the text mixes cases is counted only for a word in capitals)
                    if toks[i].isupper() and 0 < n - sum(map(str.isupper, toks)) < n:
                        valence = _capitals(valence)
                    sentiments[i] = valence
            else:
                is_cap_diff = 0 < n - sum(map(str.isupper, toks)) < n
                self._rules(toks, lower, sentiments, positions, is_cap_diff, apostrophe)
        if "but" in lower:
            sentiments = self._but_check(_words(toks), sentiments)
        if mute is not None:
            sentiments = [0 if s > 0 and w in mute else s
                          for s, w in zip(sentiments, lower, strict=True)]
        return self.score_valence(sentiments, text)

    def _rules(self, toks: list[str], lower: list[str], sentiments: list[float],
               positions: Iterator[int], is_cap_diff: bool, apostrophe: bool) -> None:
        """Each lexicon word's valence into `sentiments`, for a text where some word may
        change another's (a booster, a negation, "no", "least", an idiom's word)."""
        lexicon = self.lexicon
        before = _BEFORE.isdisjoint
        second = _IDIOM_SECOND
        last = len(lower) - 1
        for i in positions:
            lw = lower[i]
            if i < last and lw == "kind" and lower[i + 1] == "of":
                continue
            prev = lower[i - 3:i] if i >= 3 else lower[:i]
            if (lw == "no" or lw in second or (i < last and lower[i + 1] in second)
                    or not before(prev)
                    or (apostrophe and any("n't" in w for w in prev))):
                sentiments[i] = self._valence(toks, lower, i, lw, is_cap_diff)
                continue
            # No rule applies to this word: every step of `_valence` would leave its
            # valence as it is, but the capitals one.
            valence = lexicon[lw]
            if is_cap_diff and toks[i].isupper():
                valence = _capitals(valence)
            sentiments[i] = valence

    def _valence(self, words: list[str], lower: list[str], i: int, lw: str,
                 is_cap_diff: bool) -> float:
        """sentiment_valence for a word that is in the lexicon. `words` may be the tokens:
        only their `isupper` is read, the same for a token and its word."""
        lexicon = self.lexicon
        valence = lexicon[lw]
        if lw == "no" and i != len(words) - 1 and lower[i + 1] in lexicon:
            valence = 0.0
        if (i > 0 and lower[i - 1] == "no") or (i > 1 and lower[i - 2] == "no") or (
                i > 2 and lower[i - 3] == "no" and lower[i - 1] in ("or", "nor")):
            valence = lexicon[lw] * N_SCALAR
        if is_cap_diff and words[i].isupper():
            valence = _capitals(valence)
        for start_i in range(3):
            j = i - (start_i + 1)
            if i > start_i and lower[j] not in lexicon:
                s = _scalar(words[j], lower[j], valence, is_cap_diff)
                if start_i == 1 and s != 0:
                    s = s * 0.95
                if start_i == 2 and s != 0:
                    s = s * 0.9
                valence = valence + s
                valence = self._negation(valence, lower, start_i, i)
                if start_i == 2:
                    valence = self._idioms(valence, lower, i)
        # _least_check
        if i > 1 and lower[i - 1] not in lexicon and lower[i - 1] == "least":
            if lower[i - 2] != "at" and lower[i - 2] != "very":
                valence = valence * N_SCALAR
        elif i > 0 and lower[i - 1] not in lexicon and lower[i - 1] == "least":
            valence = valence * N_SCALAR
        return valence

    @staticmethod
    def _negation(valence: float, lower: list[str], start_i: int, i: int) -> float:
        """_negation_check on the lower-cased words."""
        if start_i == 0:
            if _negated(lower[i - 1]):
                valence = valence * N_SCALAR
        elif start_i == 1:
            if lower[i - 2] == "never" and lower[i - 1] in _NEVER_SO:
                valence = valence * 1.25
            elif lower[i - 2] == "without" and lower[i - 1] == "doubt":
                pass
            elif _negated(lower[i - 2]):
                valence = valence * N_SCALAR
        else:
            if (lower[i - 3] == "never" and lower[i - 2] in _NEVER_SO) or (
                    lower[i - 1] in _NEVER_SO):
                valence = valence * 1.25
            elif lower[i - 3] == "without" and (lower[i - 2] == "doubt"
                                                or lower[i - 1] == "doubt"):
                pass
            elif _negated(lower[i - 3]):
                valence = valence * N_SCALAR
        return valence

    @staticmethod
    def _idioms(valence: float, lower: list[str], i: int) -> float:
        """_special_idioms_check on the lower-cased words."""
        w3, w2, w1, w0 = lower[i - 3], lower[i - 2], lower[i - 1], lower[i]
        onezero = f"{w1} {w0}"
        twoonezero = f"{w2} {w1} {w0}"
        twoone = f"{w2} {w1}"
        threetwoone = f"{w3} {w2} {w1}"
        threetwo = f"{w3} {w2}"
        for seq in (onezero, twoonezero, twoone, threetwoone, threetwo):
            if seq in SPECIAL_CASES:
                valence = SPECIAL_CASES[seq]
                break
        n = len(lower)
        if n - 1 > i:
            zeroone = f"{w0} {lower[i + 1]}"
            if zeroone in SPECIAL_CASES:
                valence = SPECIAL_CASES[zeroone]
        if n - 1 > i + 1:
            zeroonetwo = f"{w0} {lower[i + 1]} {lower[i + 2]}"
            if zeroonetwo in SPECIAL_CASES:
                valence = SPECIAL_CASES[zeroonetwo]
        for n_gram in (threetwoone, threetwo, twoone):
            if n_gram in BOOSTER_DICT:
                valence = valence + BOOSTER_DICT[n_gram]
        return valence

    def score_valence(self, sentiments: list[float], text: str) -> dict[str, float]:
        """The original's arithmetic, inlined (same order of float operations) and run on
        the non-zero sentiments only: zeros add nothing to the sums (skipping them leaves
        every partial sum as it was) and count as neutral words."""
        if not sentiments:
            return {"neg": 0.0, "neu": 0.0, "pos": 0.0, "compound": 0.0}
        valenced = list(filter(None, sentiments))  # == 0 (0.0 included) is neutral
        if not valenced:  # what the arithmetic below gives for neutral words only
            return {"neg": 0.0, "neu": 1.0, "pos": 0.0, "compound": 0.0}
        sum_s = float(sum(valenced))
        ep = text.count("!")
        if ep > 4:
            ep = 4
        amp = ep * 0.292
        qm = text.count("?")
        qm_amp: float = 0
        if qm > 1:
            qm_amp = qm * 0.18 if qm <= 3 else 0.96
        amp = amp + qm_amp
        if sum_s > 0:
            sum_s += amp
        elif sum_s < 0:
            sum_s -= amp
        compound = sum_s / math.sqrt((sum_s * sum_s) + 15)
        if compound < -1.0:
            compound = -1.0
        elif compound > 1.0:
            compound = 1.0
        pos_sum = 0.0
        neg_sum = 0.0
        neu_count = len(sentiments) - len(valenced)
        for s in valenced:
            if s > 0:
                pos_sum += (float(s) + 1)
            else:
                neg_sum += (float(s) - 1)
        fabs_neg = math.fabs(neg_sum)
        if pos_sum > fabs_neg:
            pos_sum += amp
        elif pos_sum < fabs_neg:
            neg_sum -= amp
        total = pos_sum + math.fabs(neg_sum) + neu_count
        # `round3` / `round4`: `round`'s very floats without its decimal round trip
        return {"neg": round3(math.fabs(neg_sum / total)),
                "neu": round3(math.fabs(neu_count / total)),
                "pos": round3(math.fabs(pos_sum / total)),
                "compound": round4(compound)}
