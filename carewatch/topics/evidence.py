"""Evidence for topics learned from few examples: the words that tell a topic apart.

Why: a model learned from three to five examples a topic has almost nothing that teaches
"no topic", so any word or character n-gram it shares with a topic's examples ("time",
"flight", "-ing") tips an ordinary question into that topic at a high confidence. Such a
topic (fewer than `EVIDENCE_BELOW` examples) is therefore named only when the text also
carries evidence for it: words seen in that topic's examples and in no other topic's nor in
the "no topic" examples (common words left out, word endings folded), weighing at least
`MIN_EVIDENCE` (each word by how many of the topic's examples use it), or one of its
configured keywords. Topics learned from enough
examples are left to the model's own confidence.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from carewatch.topics.features import normalize, tokens

#: A topic learned from fewer examples than this needs evidence in the text (see module).
EVIDENCE_BELOW = 30
#: The evidence weight a text needs: two words one example each used, or one word two
#: examples used (a word one example used is too easily a coincidence).
MIN_EVIDENCE = 2
_STEM = 5

# Words too common in care messages to say what the problem is (English: the model's
# word features are Latin-script words only).
STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before
being below between both but by can cannot could did do does doing done down during each
even ever every few for from further get gets getting got had has have having he her here
hers him his how i if in into is it its just know like made make many me more most much my
need no nor not now of off on once one only or other our ours out over own please really
right same say see she should so some still such than thank thanks that the their them then
there these they this those through time to today tomorrow too under until up us very want
was way we well were what when where which while who whom why will with would yes yesterday
yet you your yours
""".split())


def stem(word: str) -> str:
    """A crude, language-light stem: a plural `s` dropped, then the first letters kept, so
    "refund", "refunds" and "refunded", or "delay" and "delayed", are one word."""
    word = word[:-1] if len(word) > 3 and word.endswith("s") else word
    return word[:_STEM]


def text_stems(text: str, mask_words: Sequence[str] = ()) -> set[str]:
    """The stems of a text's telling words (no stopword, mask, number or punctuation)."""
    return {stem(w) for w in tokens(normalize(text, mask_words))
            if len(w) > 2 and w[0] != "_" and w not in STOPWORDS}


def topic_evidence(rows: Iterable[tuple[str, str]], mask_words: Sequence[str] = (),
                   below: int = EVIDENCE_BELOW) -> dict[str, dict[str, int]]:
    """For each topic with fewer than `below` examples: its evidence, {stem: how many of its
    examples have it}, for the stems that no other topic's and no "no topic" example has."""
    counts: dict[str, int] = defaultdict(int)
    used: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))  # stem: label: n
    for text, label in rows:
        counts[label] += 1
        for s in text_stems(text, mask_words):
            used[s][label] += 1
    small = {label for label, n in counts.items() if label and n < below}
    out: dict[str, dict[str, int]] = {label: {} for label in small}
    for s, labels in sorted(used.items()):
        if len(labels) == 1:
            ((label, n),) = labels.items()
            if label in out:
                out[label][s] = n
    return out


def has_evidence(stems: set[str], evidence: Mapping[str, int]) -> bool:
    """Whether a text's stems weigh at least `MIN_EVIDENCE` in a topic's evidence: a word
    several of its examples use counts for that many, so "refund" alone names a refund
    topic whose examples keep saying it, while a word one example used needs another."""
    return sum(evidence.get(s, 0) for s in stems) >= MIN_EVIDENCE
