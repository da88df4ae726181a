"""`carewatch suggest` against a store filled as the listener fills it, with a reply really
sent through the sandbox by `carewatch respond`: canned, knowledge and past-reply
suggestions, `--json`'s shape, bad input (exit 2, one line), and nothing ever queued. On
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from carewatch.cli import main
from responders.teamwork import save_canned
from storage.models import Mention, Reply

from .conftest import Stand
from .test_rules_cli import _refused

SUGGEST_CONFIG = """
[knowledge]
paths = ["kb/*.md"]

[[canned_replies]]
name = "Bag trace"
text = "Hi {first_name}, sorry your bag hasn't arrived. DM us the file reference. ^{agent}"
topics = ["Lost Luggage"]

[[canned_replies]]
name = "Rebook"
text = "Hi {first_name}, sorry your flight was cancelled. DM us to rebook. ^{agent}"
topics = ["Cancelled Flight"]
"""
ARTICLE = """---
title: Delayed baggage
url: https://help.acme.example/bags
topics: [Lost Luggage]
---
# Delayed baggage

Most delayed bags reach their owner within 48 hours, delivered to your door for free.
"""
PAST_TEXT = "Hi Jane, so sorry! Our baggage team is tracing it, DM us the file ref. ^alice"


def _configure(stand: Stand) -> Path:
    config = Path(stand.env["CAREWATCH_CONFIG"])
    config.write_text(config.read_text() + SUGGEST_CONFIG)
    (config.parent / "kb").mkdir()
    (config.parent / "kb" / "bags.md").write_text(ARTICLE, encoding="utf-8")
    return config


def _set_topic(stand: Stand, external_id: str, topic: str, confidence: float) -> None:
    with stand.db.write() as session:
        session.execute(update(Mention).where(Mention.external_id == external_id)
                        .values(topic=topic, topic_confidence=confidence))


def _replies(stand: Stand) -> int:
    with stand.db.session() as session:
        return int(session.execute(select(func.count(Reply.id))).scalar_one())


def _suggest_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["suggest", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_suggestions_from_canned_knowledge_and_past_replies(
        any_stand: Stand, capsys: pytest.CaptureFixture[str]) -> None:
    stand = any_stand
    _configure(stand)
    assert main(["init"]) == 0
    first = stand.tweet("@acmeair my bag is lost, flight AC12 landed hours ago",
                        username="jane", name="Jane Doe")
    _set_topic(stand, first.external_id, "Lost Luggage", 0.8)
    assert main(["reply", f"x:{first.external_id}", "--text", PAST_TEXT]) == 0
    assert main(["respond", "--once"]) == 0
    assert [m["text"] for m in stand.ctl.sent()] == [PAST_TEXT]

    second = stand.tweet("@acmeair lost my bag at the airport, my bag never arrived",
                         username="kim", name="Kim Park")
    _set_topic(stand, second.external_id, "Lost Luggage", 0.7)
    ref = f"x:{second.external_id}"
    before = _replies(stand)
    found = _suggest_json([ref, "--as", "maria"], capsys)
    assert [set(s) for s in found] == [{"text", "source", "score", "why"}] * 3
    assert sorted(s["source"] for s in found) == ["canned", "knowledge", "past_reply"]
    scores = [float(s["score"]) for s in found]  # type: ignore[arg-type]
    assert scores == sorted(scores, reverse=True)
    assert all(0 < s <= 1 for s in scores)
    by_source = {s["source"]: s for s in found}
    assert by_source["canned"]["text"] == (
        "Hi Kim, sorry your bag hasn't arrived. DM us the file reference. ^maria")
    assert by_source["canned"]["why"] == "canned 'Bag trace' for topic Lost Luggage (0.70)"
    assert by_source["knowledge"]["text"] == (
        "Most delayed bags reach their owner within 48 hours, delivered to your door for "
        "free. https://help.acme.example/bags")
    assert by_source["past_reply"]["text"] == PAST_TEXT.replace("Jane", "Kim")
    assert str(by_source["past_reply"]["why"]).startswith(
        f"alice's reply to a similar item on x:{first.external_id} (similarity ")
    assert "Rebook" not in json.dumps(found)
    assert _replies(stand) == before  # suggesting queues nothing

    capsys.readouterr()
    assert main(["suggest", ref]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Suggestions for {ref} (public reply; topics: Lost Luggage 0.70)")
    assert "1. [" in out
    assert "   Hi Kim, sorry your bag hasn't arrived." in out


def test_private_message_gets_suggestions_within_its_channel(
        stand: Stand, capsys: pytest.CaptureFixture[str]) -> None:
    # Stored before its topics were written in carewatch.toml: the file's topics count.
    save_canned(stand.db, "Bag trace", "Hi {first_name}, sorry your bag is late. ^{agent}",
                "alice")
    _configure(stand)
    dm = stand.dm("my bag is still missing after two days", username="lee")
    _set_topic(stand, dm.external_id, "Lost Luggage", 0.9)
    found = _suggest_json([f"x:{dm.external_id}"], capsys)
    assert found[0] == {"text": "Hi Lee, sorry your bag is late. ^alice", "source": "canned",
                        "score": found[0]["score"],
                        "why": "canned 'Bag trace' for topic Lost Luggage (0.90)"}


def test_bad_input_exits_2_with_one_line(stand: Stand,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    config = _configure(stand)
    tweet = stand.tweet()
    ref = f"x:{tweet.external_id}"
    _refused(["suggest", "x:1699999999999999999"], capsys, "unknown mention")
    _refused(["suggest", "nonsense", "--json"], capsys, "malformed mention")
    _refused(["suggest", "myspace:1"], capsys, "unknown platform")
    own = stand.tweet("Our summer schedule is out", own=True)
    _refused(["suggest", f"x:{own.external_id}"], capsys, "brand's own post")
    (config.parent / "kb" / "broken.md").write_bytes(b"\xff\xfe bad")
    _refused(["suggest", ref], capsys, "broken.md: not UTF-8 text")
    (config.parent / "kb" / "broken.md").unlink()
    config.write_text(config.read_text().replace('paths = ["kb/*.md"]',
                                                 'paths = ["kb/*.md", "faq/*.md"]'))
    _refused(["suggest", ref, "--json"], capsys,
             "knowledge.paths[1]: 'faq/*.md' matches no file")
    assert _replies(stand) == 0


def test_stored_topic_model_ranks_canned_replies_beyond_the_top_topic(
        any_stand: Stand, capsys: pytest.CaptureFixture[str]) -> None:
    """With a learned model in the database, an item with no stored topic still gets the
    canned replies of its likeliest topics, the second one included."""
    from carewatch.topics import train
    from storage.topics import save_topic_model
    from tests.topics.examples import labelled

    stand = any_stand
    config = _configure(stand)
    config.write_text(config.read_text() + '''
[[canned_replies]]
name = "Delay apology"
text = "Hi {first_name}, sorry for the delay. DM us your flight if you'll miss a connection."
topics = ["Late Flight"]
''')
    with stand.db.write() as session:
        save_topic_model(session, train(labelled()), actor="test")
    tweet = stand.tweet("@acmeair flight delayed 3 hours and my bag never arrived",
                        username="ola", name="Ola Nordmann")
    with stand.db.write() as session:  # as if no topic was confident at ingest
        session.execute(update(Mention).where(Mention.external_id == tweet.external_id)
                        .values(topic=None, topic_confidence=None))
    found = _suggest_json([f"x:{tweet.external_id}", "--as", "maria"], capsys)
    whys = [str(s["why"]) for s in found if s["source"] == "canned"]
    assert {w.split(" for topic ")[0] for w in whys} == {"canned 'Bag trace'",
                                                         "canned 'Delay apology'"}, whys
    assert all(" for topic " in w for w in whys)


TONE_CONFIG = """
[[canned_replies]]
name = "Thanks"
text = "Thank you {handle}, we're glad you flew with us! ^{agent}"

[[canned_replies]]
name = "Apology + DM"
text = "Hi {first_name}, I'm sorry about this. DM us your booking and we'll sort it. ^{agent}"
"""


def test_reply_tone_follows_the_items_tone(any_stand: Stand,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A thank-you reply whose words match an angry complaint best is held back, saying
    so; for praise the apology is."""
    stand = any_stand
    config = Path(stand.env["CAREWATCH_CONFIG"])
    config.write_text(config.read_text() + TONE_CONFIG)
    angry = stand.tweet("@acmeair thank you for nothing, flew with you and you lost my "
                        "booking", username="rob", name="Rob Roe")
    happy = stand.tweet("@acmeair thank you, flew with you today, sorry to bother, "
                        "the booking was easy", username="sue", name="Sue Lee")
    with stand.db.write() as session:
        for mention, label, reasons in ((angry, "negative", "negative;complaint"),
                                        (happy, "positive", "")):
            session.execute(update(Mention).where(Mention.external_id == mention.external_id)
                            .values(sentiment_label=label, urgency_reasons=reasons))
    found = _suggest_json([f"x:{angry.external_id}", "--as", "ana"], capsys)
    assert found[0]["text"] == ("Hi Rob, I'm sorry about this. DM us your booking and "
                                "we'll sort it. ^ana")
    thanks = [s for s in found if str(s["text"]).startswith("Thank you")]
    assert [str(s["why"]).endswith("; held back: a thank-you reply to a complaint")
            for s in thanks] == [True]
    found = _suggest_json([f"x:{happy.external_id}", "--as", "ana"], capsys)
    assert found[0]["text"] == "Thank you @sue, we're glad you flew with us! ^ana"
    assert str(found[1]["why"]).endswith("; held back: an apology to praise")
