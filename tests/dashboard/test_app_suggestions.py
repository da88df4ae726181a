"""The suggestions panel beside the reply box (AppTest): the opened item's best replies with
why, one click fills the reply box, and nothing is queued until the agent queues it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from storage.models import Mention, Reply
from tests.dashboard.seed import TOP_REF
from tests.dashboard.test_app import login

CONFIG = """
[knowledge]
paths = ["kb/*.md"]

[[canned_replies]]
name = "Safety follow-up"
text = "Hi {first_name}, thank you for telling us. Our safety team is looking into flight \
AC 812 now. ^{agent}"
topics = ["Safety"]
"""


def _configure(store: Any) -> None:
    config = Path(os.environ["CAREWATCH_CONFIG"])
    config.write_text(config.read_text(encoding="utf-8") + CONFIG, encoding="utf-8")
    (config.parent / "kb").mkdir()
    (config.parent / "kb" / "smoke.md").write_text(
        "# Smoke or fumes on board\n\nTell the crew at once; every report is investigated "
        "by our safety team.\n", encoding="utf-8")
    with store.write() as session:
        session.execute(update(Mention).where(Mention.external_id == TOP_REF.split(":")[1])
                        .values(topic="Safety", topic_confidence=0.9))


def test_click_fills_the_reply_box_and_queues_nothing(store: Any) -> None:
    _configure(store)
    at = login("agent1")
    reply_key = next(t for t in at.text_area if t.label == "Reply").key
    assert at.text_area(key=reply_key).value == ""
    captions = [c.value.replace("\\", "").replace("\u200b", "") for c in at.caption]
    assert any(c.startswith("Canned reply · 0.8") and "canned 'Safety follow-up' for topic Safety "
               "(0.90)" in c for c in captions), captions
    assert any("Knowledge base" in c and "knowledge article 'Smoke or fumes on board' "
               "matches" in c for c in captions), captions
    canned = ("Hi Jdoe, thank you for telling us. Our safety team is looking into flight "
              "AC 812 now. ^agent1")
    assert canned in [str(t.value) for t in at.text]
    uses = [b for b in at.button if b.label == "Use this reply"]
    assert len(uses) >= 2
    uses[0].click().run()
    assert not at.exception, at.exception
    assert at.text_area(key=reply_key).value == canned
    with store.session() as session:
        assert session.execute(select(Reply)).first() is None  # filled, never sent
    next(b for b in at.button if b.label == "Queue reply").click().run()
    with store.session() as session:
        assert [(r.text, r.agent) for r in session.execute(select(Reply)).scalars()] == [
            (canned, "agent1")]


def test_bad_knowledge_path_is_said_in_the_panel(store: Any) -> None:
    config = Path(os.environ["CAREWATCH_CONFIG"])
    config.write_text(config.read_text(encoding="utf-8") + '\n[knowledge]\npaths = '
                      '["missing/*.md"]\n', encoding="utf-8")
    at = login("agent1")
    assert not at.exception, at.exception
    warnings = [w.value.replace("\\", "").replace("\u200b", "") for w in at.warning]
    assert any("No suggestions: knowledge.paths[0]: 'missing/*.md' matches no file" in w
               for w in warnings), warnings
    assert any(t.label == "Reply" for t in at.text_area)  # the reply box still works


def test_private_message_panel_fills_the_message_box(private_store: Any) -> None:
    from tests.dashboard.private_seed import ANSWER_REF

    config = Path(os.environ["CAREWATCH_CONFIG"])
    config.write_text(config.read_text(encoding="utf-8") + """
[[canned_replies]]
name = "Refund check"
text = "Thanks {first_name}, I'm checking your refund now. ^{agent}"
topics = ["Refund"]
""", encoding="utf-8")
    with private_store.write() as session:
        session.execute(update(Mention).where(Mention.external_id == ANSWER_REF.split(":")[1])
                        .values(topic="Refund", topic_confidence=0.8))
        before = len(session.execute(select(Reply.id)).all())
    at = login("agent1")
    at.selectbox(key="cw_open").set_value(ANSWER_REF).run()
    message_key = next(t for t in at.text_area if t.label == "Message").key
    use = next(b for b in at.button if b.label == "Use this reply")
    use.click().run()
    assert not at.exception, at.exception
    filled = at.text_area(key=message_key).value
    assert filled.startswith("Thanks ")
    assert filled.endswith("I'm checking your refund now. ^agent1")
    with private_store.session() as session:
        assert len(session.execute(select(Reply.id)).all()) == before
