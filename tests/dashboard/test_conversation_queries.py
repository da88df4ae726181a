"""Private conversations in the dashboard's queries, on SQLite and PostgreSQL: one timeline
of a case's public thread and private conversation(s), the visibility filter and mark in the
inbox, and a customer's history across public and private channels."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from carewatch import domain
from storage.customers import customer_history
from storage.inbox import InboxFilters, conversation, inbox, mention_row
from storage.mentions import mention_by_ref, upsert_mentions
from tests.dashboard.private_seed import (
    AGENT_ANSWER_TEXT,
    ANSWER_REF,
    ANSWER_TEXT,
    COMPLAINT_REF,
    COMPLAINT_TEXT,
    IG_DM_REF,
    IG_DM_TEXT,
    MOVE_TEXT,
    NOTE_TEXT,
    PAGE_MESSAGE_ID,
    POST_ID,
    POST_TEXT,
    PRIVATE_REFS,
    X_DM_REF,
    X_DM_TEXT,
    seed_private,
)
from tests.dashboard.seed import HOSTILE_REF, TOP_REF, seed

CASE_TIMELINE = [
    ("Maria Ramos", COMPLAINT_TEXT, "public", "mention"),
    ("Acme Air (brand)", MOVE_TEXT, "private", "mention"),
    ("Acme Air (brand)", NOTE_TEXT, "public", "reply"),
    ("Maria Ramos", ANSWER_TEXT, "private", "mention"),
    ("Acme Air (brand)", AGENT_ANSWER_TEXT, "private", "reply"),
]


@pytest.fixture
def seeded(migrated_db: Any) -> Any:
    seed(migrated_db)
    seed_private(migrated_db)
    return migrated_db


def _timeline(db: Any, ref: str) -> Any:
    with db.session() as session:
        mention = mention_by_ref(session, ref)
        assert mention is not None
        return conversation(session, mention.id, brand="Acme Air")


def _shape(view: Any) -> list[tuple[str, str, str, str]]:
    return [(i.author, i.text, i.visibility, i.kind) for i in view.items]


@pytest.mark.parametrize(("ref", "selected"), [(COMPLAINT_REF, COMPLAINT_TEXT),
                                               (ANSWER_REF, ANSWER_TEXT)])
def test_a_case_is_one_timeline_from_either_side(seeded: Any, ref: str, selected: str) -> None:
    """The public complaint brings the Messenger conversation it was moved into; the
    customer's private answer brings the public thread of its case. Same timeline."""
    view = _timeline(seeded, ref)
    assert view is not None
    timeline = [(a, t, v, k) for a, t, v, k in _shape(view)
                if t in {row[1] for row in CASE_TIMELINE}]
    assert timeline == CASE_TIMELINE
    # The page's private reply, read back from the platform, is shown once, not twice.
    assert [i.text for i in view.items].count(MOVE_TEXT) == 1
    assert [i.ref for i in view.items if i.text == MOVE_TEXT] == [f"facebook:{PAGE_MESSAGE_ID}"]
    assert {i.platform for i in view.items} == {"facebook"}
    assert [i.text for i in view.items if i.is_selected] == [selected]
    # The public post the case started under is the root, oldest to newest below it.
    assert view.root_text == POST_TEXT
    assert view.root_platform == "facebook"
    stamps = [i.created_at for i in view.items]
    assert stamps == sorted(stamps)


def test_unlinked_private_conversation_has_no_public_root(seeded: Any) -> None:
    view = _timeline(seeded, IG_DM_REF)
    assert view is not None
    assert view.root_text is None
    assert view.root_platform is None
    assert [(i.text, i.visibility, i.platform) for i in view.items] == [
        (IG_DM_TEXT, "private", "instagram")]


def test_another_case_in_the_same_public_thread_stays_private(seeded: Any) -> None:
    """Someone else's comment under the same post shows the public thread, with the brand's
    public note, but none of Maria's private conversation."""
    other = domain.Mention(
        platform=domain.Platform.FACEBOOK, external_id="100000000000001_503",
        text="Same for me, booking ZK9.", created_at=datetime.now(UTC),
        author=domain.Author(domain.Platform.FACEBOOK, "u-kofi", None, "Kofi Tan"),
        thread_id=POST_ID, parent_id=POST_ID)
    with seeded.write() as session:
        upsert_mentions(session, [other], source_key="facebook:page:100000000000001")
    view = _timeline(seeded, "facebook:100000000000001_503")
    assert view is not None
    assert [(i.text, i.visibility) for i in view.items] == [
        (COMPLAINT_TEXT, "public"), (NOTE_TEXT, "public"), ("Same for me, booking ZK9.",
                                                            "public")]
    hostile = _timeline(seeded, HOSTILE_REF)
    assert {i.visibility for i in hostile.items} == {"public"}


@pytest.mark.parametrize(("visibility", "expected"), [
    ("private", {ANSWER_REF, IG_DM_REF, X_DM_REF}),
    ("public", {TOP_REF, HOSTILE_REF}),
    (None, {ANSWER_REF, TOP_REF}),
])
def test_inbox_filters_on_visibility(seeded: Any, visibility: str | None,
                                     expected: set[str]) -> None:
    with seeded.session() as session:
        page = inbox(session, InboxFilters(visibility=visibility,
                                           statuses=["new", "assigned"]))
    refs = {r.ref for r in page.rows}
    assert expected <= refs
    if visibility is not None:
        assert {r.visibility for r in page.rows} == {visibility}
        assert page.total == len(page.rows)
    assert not any(r.ref == f"facebook:{PAGE_MESSAGE_ID}" for r in page.rows)  # brand's own
    if visibility == "private":
        assert refs == set(PRIVATE_REFS)


def test_customer_history_spans_public_and_private_channels(seeded: Any) -> None:
    with seeded.session() as session:
        top = mention_row(session, mention_by_ref(session, TOP_REF).id)
        maria = mention_row(session, mention_by_ref(session, ANSWER_REF).id)
        jdoe = customer_history(session, top.customer_id)
        case = customer_history(session, maria.customer_id)
    assert {(m.ref, m.visibility) for m in jdoe.mentions} == {
        (TOP_REF, "public"), ("instagram:17890000000000001", "public"),
        (X_DM_REF, "private")}
    assert X_DM_TEXT in [m.text for m in jdoe.mentions]  # whole text, as stored
    assert {(m.ref, m.visibility) for m in case.mentions} == {
        (COMPLAINT_REF, "public"), (ANSWER_REF, "private")}
    assert sorted(r["kind"] for r in case.replies) == ["message", "private", "public_note"]
