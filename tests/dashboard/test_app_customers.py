"""The customer panel links people only on evidence: it offers likely matches with their
reason, merges on one "Same person" click and splits on "Not the same person", both
audited with the agent, both refused to a session that went bad; an author the platform did
not identify is shown as unknown, with no history or notes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from carewatch import domain
from storage.mentions import upsert_mentions
from storage.models import AuditEntry, Author, CustomerMerge
from tests.dashboard.seed import JDOE_REASON
from tests.dashboard.test_app import login, texts
from tests.dashboard.test_app_authz import CHANGES

IG_TEXT = "Flight AC 812 smelled of smoke yesterday too"
SAME = "Same person"
SPLIT = "Not the same person (split)"


def _shown(values: Any) -> list[str]:
    """Element values as read: `plain()`'s markdown escapes removed."""
    return [v.value.replace("\\", "").replace("\u200b", "") for v in values]


def _captions(at: AppTest) -> list[str]:
    return _shown(at.caption)


def _button(at: AppTest, label: str) -> Any:
    return next(b for b in at.button if b.label == label)


def _labels(at: AppTest) -> list[str]:
    return [b.label for b in at.button]


def _customers(store: Any) -> dict[str, int | None]:
    with store.session() as session:
        return dict(session.execute(select(Author.platform, Author.customer_id)
                                    .where(Author.external_id == "u-jdoe")).all())


def _audit(store: Any, action: str) -> list[AuditEntry]:
    with store.session() as session:
        return list(session.execute(select(AuditEntry).where(AuditEntry.action == action))
                    .scalars())


def test_split_then_same_person_through_the_panel(store: Any) -> None:
    at = login("agent1")  # opens the top mention: @jdoe on X, merged with @jdoe on Instagram
    assert IG_TEXT in texts(at)
    assert any(c.startswith("Merged by agent1") and JDOE_REASON in c for c in _captions(at))
    assert SAME not in _labels(at)

    _button(at, SPLIT).click().run()
    assert not at.exception
    customers = _customers(store)
    assert customers["x"] != customers["instagram"]
    assert IG_TEXT not in texts(at)  # the other account's history is gone from the panel
    assert "Split: those accounts are a customer of their own again." in _shown(at.success)
    [split] = _audit(store, "customer_split")
    assert split.actor == "agent1"
    # An agent said they are two people: the pair is not offered again.
    assert SAME not in _labels(at)
    with store.session() as session:
        assert session.execute(select(CustomerMerge.split_by)).scalar_one() == "agent1"


def test_a_likely_match_is_offered_with_its_reason_and_merged_on_one_click(
        store: Any) -> None:
    with store.write() as session:
        session.execute(CustomerMerge.__table__.delete())
        ig = session.execute(select(Author).where(Author.platform == "instagram",
                                                  Author.external_id == "u-jdoe")).scalar_one()
        from storage.models import Customer

        ig.customer_id = session.execute(  # as a new author gets one: a customer of its own
            Customer.__table__.insert().values(display_name="jdoe", notes="", tags=[])
        ).inserted_primary_key[0]
    at = login("agent1")
    assert IG_TEXT not in texts(at)
    assert "same handle @jdoe on Instagram and X" in _captions(at)
    assert "Instagram @jdoe" in texts(at)  # the match's account, not its history

    _button(at, SAME).click().run()
    assert not at.exception
    customers = _customers(store)
    assert customers["x"] == customers["instagram"]
    assert IG_TEXT in texts(at)
    _, merged = _audit(store, "customer_merged")  # the seed's merge, then this one
    assert merged.actor == "agent1"
    assert merged.details["reason"] == "confirmed by agent1: same handle @jdoe on Instagram and X"
    assert SPLIT in _labels(at)


@pytest.mark.parametrize("change", ["forged", "expired", "deleted", "demoted", "locked"])
def test_merge_and_split_need_a_live_session(store: Any, change: str) -> None:
    at = login("agent1")
    split = _button(at, SPLIT)
    before = _customers(store)
    CHANGES[change](at, store)
    split.click().run()
    assert not at.exception
    assert _customers(store) == before
    assert _audit(store, "customer_split") == []
    assert IG_TEXT not in texts(at)  # the page is gone too: login or refusal


@pytest.mark.parametrize("change", ["forged", "expired", "demoted"])
def test_the_merge_callback_refuses_a_bad_session(store: Any, change: str) -> None:
    """The "Same person" callback itself, run for a forged, expired or demoted session:
    nothing merges."""
    with store.write() as session:
        merge = session.execute(select(CustomerMerge)).scalar_one()
        keep, other = merge.customer_id, merge.merged_id
        session.delete(merge)
        session.execute(Author.__table__.update().where(Author.platform == "instagram",
                                                        Author.external_id == "u-jdoe")
                        .values(customer_id=other))
    at = login("agent1")
    same = _button(at, SAME)
    CHANGES[change](at, store)
    same.click().run()
    assert not at.exception
    assert _customers(store) == {"x": keep, "instagram": other}
    assert len(_audit(store, "customer_merged")) == 1  # the seed's merge, no other
    with store.session() as session:
        assert session.execute(select(CustomerMerge)).first() is None


def test_an_unknown_author_has_no_customer(store: Any) -> None:
    fb = domain.Platform.FACEBOOK
    now = datetime.now(UTC)
    hidden = [domain.Mention(
        platform=fb, external_id=f"100000000000001_9{i}", text=text,
        created_at=now - timedelta(minutes=5 + i),
        author=domain.Author(fb, domain.UNKNOWN_AUTHOR_ID), thread_id=post,
        parent_id=post, lang="en",
        score=domain.Score(-0.8, domain.SentimentLabel.NEGATIVE, 0.2, ["negative"], "en"))
        for i, (text, post) in enumerate([("Who wrote me? Nobody knows.", "100000000000001_100"),
                                          ("A stranger, also hidden.", "100000000000001_7")])]
    with store.write() as session:
        upsert_mentions(session, hidden, source_key="facebook:page:100000000000001")
        assert session.execute(select(Author.customer_id).where(
            Author.external_id == domain.UNKNOWN_AUTHOR_ID)).scalar_one() is None
    at = login("agent1")
    at.selectbox(key="cw_open").set_value("facebook:100000000000001_90").run()
    assert not at.exception
    from dashboard.customer import UNKNOWN_AUTHOR

    assert UNKNOWN_AUTHOR in _captions(at)
    assert "A stranger, also hidden." not in texts(at)  # no shared "unknown" history
    assert "Save notes and tags" not in _labels(at)
    assert not [t for t in at.text_area if t.label == "Notes"]
