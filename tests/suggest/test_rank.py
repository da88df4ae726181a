"""Ranking suggestions, fitting them to the platform's limits, and reading the knowledge
base: pure functions, no database."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from carewatch.platforms.x import x_weighted_length
from responders.suggest.fit import ELLIPSIS, fit_answer, fits
from responders.suggest.knowledge import KnowledgeError, load_articles, parse_article
from responders.suggest.rank import (
    Canned,
    Item,
    Origin,
    PastReply,
    Suggestion,
    best,
    rank_canned,
    rank_knowledge,
    rank_past,
)
from responders.suggest.textsim import TextIndex, tokens
from responders.suggest.tone import Shape, clash, shape

BAG = Canned("Bag trace", "Hi {first_name}, sorry your bag is late. DM us the file ref.",
             "Hi Ann, sorry your bag is late. DM us the file ref.", ("Lost Luggage",))
REBOOK = Canned("Rebook", "Sorry your flight was cancelled, we'll rebook you.",
                "Sorry your flight was cancelled, we'll rebook you.", ("Cancelled Flight",))
LATE = Canned("Delay", "Sorry for the delay today.", "Sorry for the delay today.",
              ("Late Flight",))
GENERIC = Canned("Apology + DM", "Sorry about this, please DM us your booking.",
                 "Sorry about this, please DM us your booking.")


def _item(text: str, topics: tuple[tuple[str, float], ...] = (), *, platform: str = "x",
          kind: str = "public", lang: str | None = "en") -> Item:
    return Item(text, platform, kind, lang, topics)


def test_tokens_drop_handles_links_stop_words_and_meet_plurals() -> None:
    assert tokens("@united My bags were DELAYED https://t.co/x #fail") == ["bag", "delay"]
    index = TextIndex(["the bag was delayed", "a cancelled flight"])
    [match] = index.query("my bags are delayed")
    assert match.index == 0
    assert sorted(match.terms) == ["bags", "delayed"]  # as the query wrote them
    assert match.score == pytest.approx(1.0)
    assert index.similarities("nothing shared here") == [0.0, 0.0]


def test_right_canned_reply_surfaces_when_the_top_topic_is_wrong() -> None:
    """The model's second topic is the true one: its canned reply is still offered, second."""
    item = _item("@acme my bag never came off flight 12",
                 (("Late Flight", 0.48), ("Lost Luggage", 0.41), ("Cancelled Flight", 0.05)))
    ranked = best(rank_canned(item, [BAG, REBOOK, LATE, GENERIC]), 3)
    assert [s.text for s in ranked][:2] == [LATE.text, BAG.text]
    assert ranked[1].why == "canned 'Bag trace' for topic Lost Luggage (0.41)"
    assert ranked[1].source is Origin.CANNED
    assert all(a.score >= b.score for a, b in itertools.pairwise(ranked))


def test_untagged_canned_reply_ranks_by_words_and_says_which() -> None:
    item = _item("please help with my booking, sorry to bother")
    [only] = best(rank_canned(item, [GENERIC, BAG]), 3)
    assert only.text == GENERIC.text
    assert only.why.startswith("canned 'Apology + DM' matches '")
    assert "booking" in only.why


def test_language_and_limits_filter_canned_replies() -> None:
    spanish = Canned("Reembolso", "Hola, te ayudamos.", "Hola, te ayudamos.",
                     ("Lost Luggage",), "es")
    too_long = Canned("Long", "x", "字" * 141, ("Lost Luggage",))
    topics = (("Lost Luggage", 0.9),)
    assert x_weighted_length(too_long.text) > 280
    names = [s.text for s in rank_canned(_item("bag lost", topics), [spanish, too_long, BAG])]
    assert names == [BAG.text]
    spanish_item = _item("perdieron mi maleta", topics, lang="es")
    assert [s.text for s in rank_canned(spanish_item, [spanish, BAG])] == [
        spanish.text, BAG.text]  # "" = any language
    unknown = _item("bag", topics, lang=None)
    assert len(rank_canned(unknown, [spanish, BAG])) == 2
    # A Facebook comment allows 8000 characters: the long one fits there.
    assert len(rank_canned(_item("bag", topics, platform="facebook"), [too_long])) == 1


def test_fit_answer_keeps_the_link_and_cuts_at_a_word() -> None:
    link = "https://help.acmeair.com/baggage"
    short = fit_answer("x", "public", "Bags arrive within 48 hours.", link)
    assert short == f"Bags arrive within 48 hours. {link}"
    long = fit_answer("x", "public", "word " * 200, link)
    assert long is not None
    assert long.endswith(f"{ELLIPSIS} {link}")
    assert fits("x", "public", long)
    assert not fits("x", "public", long + " more words" * 20)
    assert long.startswith("word word")
    assert fit_answer("x", "public", "a" * 400, "") is None
    assert not fits("x", "public", "   ")


def test_knowledge_by_topic_and_by_words() -> None:
    tagged = parse_article("---\ntitle: Baggage\nurl: https://acme.example/bags\n"
                           "topics: [Lost Luggage, Damaged Luggage]\n---\n# Bags\n\n"
                           "Most delayed bags arrive within **48 hours**.\n",
                           default_link="kb/bags.md", default_title="bags")
    untagged = parse_article("# Refunds\n\nA [refund](https://x.example) takes 7 days.\n",
                             default_link="kb/refunds.md", default_title="refunds")
    assert (tagged.title, tagged.summary, tagged.link, tagged.topics) == (
        "Baggage", "Most delayed bags arrive within 48 hours.", "https://acme.example/bags",
        ("Lost Luggage", "Damaged Luggage"))
    assert (untagged.title, untagged.summary, untagged.link) == (
        "Refunds", "A refund takes 7 days.", "kb/refunds.md")
    item = _item("where is my refund, 3 weeks now", (("Lost Luggage", 0.3),))
    found = {s.why: s for s in rank_knowledge(item, [tagged, untagged])}
    assert set(found) == {"knowledge article 'Baggage' for topic Lost Luggage (0.30)",
                          "knowledge article 'Refunds' matches 'refund'"}
    refund = found["knowledge article 'Refunds' matches 'refund'"]
    assert refund.text == "A refund takes 7 days. kb/refunds.md"
    assert refund.source is Origin.KNOWLEDGE


def test_past_replies_by_similarity_and_topic() -> None:
    past = [
        PastReply("x:1", "my bag is lost at JFK", "Hi Ann, DM us the file ref.",
                  "Lost Luggage", "maria"),
        PastReply("x:2", "flight cancelled again", "Sorry, we'll rebook you.",
                  "Cancelled Flight", "alice"),
        PastReply("x:3", "my bag is lost and nobody calls", "We'll trace your bag.", None,
                  None),
    ]
    item = _item("lost my bag at JFK today", (("Lost Luggage", 0.8),))
    ranked = rank_past(item, past, agent="maria")
    assert [s.text for s in ranked] == ["Hi Ann, DM us the file ref.", "We'll trace your bag."]
    assert ranked[0].why.startswith("your reply to a similar item on x:1 (similarity ")
    assert ranked[0].why.endswith(", same topic Lost Luggage)")
    assert ranked[1].why.startswith("the team's reply to a similar item on x:3")
    assert rank_past(item, past, agent="bob")[0].why.startswith("maria's reply")
    assert rank_past(_item("hello there"), past) == []


def test_best_keeps_three_distinct_above_the_floor() -> None:
    def s(text: str, score: float, source: Origin = Origin.CANNED) -> Suggestion:
        return Suggestion(text, source, score, "why")

    chosen = best([s("a", 0.5), s("A ", 0.9, Origin.PAST_REPLY), s("b", 0.5, Origin.KNOWLEDGE),
                   s("c", 0.5, Origin.PAST_REPLY), s("d", 0.005), s("e", 0.4)], 3)
    assert [(c.text, c.source) for c in chosen] == [
        ("A ", Origin.PAST_REPLY), ("b", Origin.KNOWLEDGE), ("c", Origin.PAST_REPLY)]
    assert chosen[0].as_json() == {"text": "A ", "source": "past_reply", "score": 0.9,
                                   "why": "why"}


def test_knowledge_files_and_their_errors(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "late-flights.md").write_text("Delays over 3 hours get a meal voucher.\n\nMore.",
                                        encoding="utf-8")
    (kb / "sub").mkdir()
    [article] = load_articles(["kb/*"], tmp_path)
    assert (article.title, article.link, article.summary) == (
        "late flights", "kb/late-flights.md", "Delays over 3 hours get a meal voucher.")
    assert load_articles([], tmp_path) == ()
    with pytest.raises(KnowledgeError, match=r"knowledge.paths\[1\]: 'faq/\*.md' matches no "
                                             "file"):
        load_articles(["kb/*.md", "faq/*.md"], tmp_path)
    (kb / "latin1.md").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(KnowledgeError, match=r"latin1\.md: not UTF-8 text"):
        load_articles(["kb/*.md"], tmp_path)
    (kb / "latin1.md").write_text("# Café\n\nOpen daily.", encoding="utf-8")
    titles = sorted(a.title for a in load_articles(["kb/*.md"], tmp_path))
    assert titles == ["Café", "late flights"]


def test_nothing_below_the_floor() -> None:
    weak = Suggestion("weak", Origin.CANNED, 0.005, "why")
    fair = Suggestion("fair", Origin.CANNED, 0.02, "why")
    assert best([weak, fair], 3) == [fair]


THANKS = Canned("Thanks", "Thank you {handle}, we're glad you flew with us! ^{agent}",
                "Thank you @ann, we're glad you flew with us! ^Ana")


def test_a_thank_you_reply_is_held_back_for_an_angry_complaint() -> None:
    """The words match the thank-you reply best; its tone does not."""
    text = "thank you for nothing, flew with you and you lost my booking"
    plain = best(rank_canned(_item(text), [THANKS, GENERIC]), 3)
    assert plain[0].text == THANKS.text  # tone unknown: words alone
    item = Item(text, "x", "public", "en", (), "negative", True)
    ranked = best(rank_canned(item, [THANKS, GENERIC]), 3)
    assert [s.text for s in ranked] == [GENERIC.text, THANKS.text]
    assert ranked[1].why.endswith("; held back: a thank-you reply to a complaint")
    assert ranked[1].score == pytest.approx(plain[0].score * 0.25)


def test_an_apology_is_held_back_for_praise_and_thanks_come_first() -> None:
    text = "thanks, flew with you today and the crew were lovely, sorry to bother, no issue"
    item = Item(text, "x", "public", "en", (), "positive", False)
    ranked = best(rank_canned(item, [GENERIC, THANKS]), 3)
    assert ranked[0].text == THANKS.text
    assert ranked[1].why.endswith("; held back: an apology to praise")


def test_past_thank_you_replies_are_held_back_for_negative_items() -> None:
    past = [PastReply("x:9", "my bag is lost at JFK", "Thanks, glad we could help!", None,
                      None)]
    item = Item("my bag is lost at JFK again", "x", "public", "en", (), "negative", False)
    [only] = rank_past(item, past)
    assert only.why.endswith("; held back: a thank-you reply to a negative item")


@pytest.mark.parametrize(("text", "expected"), [
    ("Thank you @ann, we're glad you flew with us!", Shape.GRATITUDE),
    ("Sorry about this, please DM us your booking.", Shape.APOLOGY),
    ("Thanks for reaching out, DM us your booking reference.", None),
    ("Thanks for flagging, we're sorry about the wait.", Shape.APOLOGY),
    ("That is not how our crew should treat you.", Shape.APOLOGY),
    ("DM us the file ref and we'll trace it.", None),
    ("Hi Jo, thank you for telling us. Our safety team is looking into it.", None),
    ("We appreciate your patience while we look into it. Cheers, Ana", None),
    ("Thanks so much for flying with us, enjoy Lisbon!", Shape.GRATITUDE),
    ("Thank you for the kind words, we'll pass them on.", Shape.GRATITUDE),
])
def test_reply_shapes(text: str, expected: Shape | None) -> None:
    assert shape(text) is expected


def test_mixed_or_unknown_items_hold_nothing_back() -> None:
    assert clash("positive", True, Shape.GRATITUDE) is None  # stale or mixed reasons
    assert clash("positive", True, Shape.APOLOGY) is None
    assert clash(None, False, Shape.GRATITUDE) is None
    assert clash("neutral", False, Shape.APOLOGY) is None
    assert clash("neutral", True, Shape.GRATITUDE) is not None
