"""Topics in the dashboard through AppTest: the chip in the queue, the topic filter, an
agent's correction (stored, audited, counted, a training example) and the Trends series."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from carewatch.topics import train
from storage.inbox import NO_TOPIC
from storage.models import AuditEntry, HourlyTopicStat, Mention, TopicCorrection
from storage.topics import corrections_as_examples, retopic_open, save_topic_model
from tests.dashboard.seed import ASSIGNED_REF
from tests.dashboard.test_app import goto, login
from tests.topics.examples import labelled

BAG_REF = "x:1600000000000000002"


@pytest.fixture
def topic_store(store: Any) -> Any:
    model = train(labelled())
    with store.write() as session:
        save_topic_model(session, model, actor="test", examples=labelled())
        retopic_open(session, model)
    return store


def _topics_by_ref(at: Any) -> dict[str, list[str]]:
    table = at.dataframe[0].value
    return {ref: list(chips) for ref, chips in zip(table["mention"], table["topic"],
                                                    strict=True)}


def test_queue_shows_topic_chips_and_filters_by_topic(topic_store: Any) -> None:
    at = login("agent1")
    chips = _topics_by_ref(at)
    assert chips[BAG_REF] == ["Lost Luggage"]
    assert chips[ASSIGNED_REF] == ["Refund"]
    assert chips["x:1600000000000000004"] == []  # praise: no topic
    topic_filter = at.multiselect(key="cw_f_topic")
    assert topic_filter.options[:3] == ["Late Flight", "Lost Luggage", "Refund"]
    assert topic_filter.options[-1] == NO_TOPIC
    topic_filter.set_value(["Lost Luggage"]).run()
    assert not at.exception
    assert list(_topics_by_ref(at)) == [BAG_REF]
    at.multiselect(key="cw_f_topic").set_value([NO_TOPIC]).run()
    assert BAG_REF not in _topics_by_ref(at)
    assert all(chips == [] for chips in _topics_by_ref(at).values())


def test_agent_corrects_a_topic(topic_store: Any) -> None:
    at = login("agent1")
    at.selectbox(key="cw_open").set_value(ASSIGNED_REF).run()
    with topic_store.session() as session:
        mention = session.execute(select(Mention).where(
            Mention.external_id == ASSIGNED_REF.split(":")[1])).scalar_one()
        mid, text = mention.id, mention.text
    box = at.selectbox(key=f"cw_topic_{mid}")
    assert box.value == "Refund"
    box.set_value("Late Flight").run()
    next(b for b in at.button if b.label == "Set topic").click().run()
    assert not at.exception
    assert any("Topic set to Late Flight" in s.value for s in at.success)
    assert _topics_by_ref(at)[ASSIGNED_REF] == ["Late Flight"]
    with topic_store.session() as session:
        assert session.get(Mention, mid).topic == "Late Flight"
        correction = session.execute(select(TopicCorrection)).scalar_one()
        assert (correction.topic, correction.previous, correction.actor) == (
            "Late Flight", "Refund", "agent1")
        assert session.execute(select(AuditEntry.actor).where(
            AuditEntry.action == "topic_corrected")).scalars().all() == ["agent1"]
        assert corrections_as_examples(session) == [(text, "Late Flight")]
        counts = {t: c for t, c in session.execute(
            select(HourlyTopicStat.topic, HourlyTopicStat.count)).all()}
    assert counts["Refund"] == 0
    assert counts["Late Flight"] == 1


def test_trends_show_volume_and_negative_share_per_topic(topic_store: Any) -> None:
    at = login("manager1")
    goto(at, "Trends")
    assert "Topics" in [s.value for s in at.subheader]
    assert not at.exception
    table = next(d.value for d in at.dataframe if "negative_share" in d.value.columns)
    rows = {r["topic"]: (r["items"], r["negative_share"]) for _, r in table.iterrows()}
    assert rows["Lost Luggage"] == (1, 1.0)
    assert rows["Refund"] == (1, 1.0)
