"""The Meta webhook receiver in-process (Starlette's test client, real ingestor, real
database): challenge, signatures, limits, malformed bodies, and what a delivery stores."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from carewatch.domain import conversation_key
from carewatch.log import configure_logging, register_secrets
from carewatch.settings import Settings, SourceConfig
from listener.ingest import Ingestor
from listener.webhooks.app import MAX_BODY_BYTES, PATH, create_app
from storage.db import Database, open_database
from storage.inbox import inbox
from storage.models import Mention
from tests.listener.helpers import BRAND_IG, BRAND_PAGE
from tests.listener.webhook_helpers import APP_SECRET, VERIFY_TOKEN, messaging_body, signed

CUSTOMER = "7200000000000042"
NOW_MS = int(time.time() * 1000)


def webhook_settings(**extra: Any) -> Settings:
    return Settings(meta_app_secret=APP_SECRET, meta_verify_token=VERIFY_TOKEN,
                    sources=[SourceConfig(platform="facebook", page_id=BRAND_PAGE),
                             SourceConfig(platform="instagram", ig_user_id=BRAND_IG)],
                    **extra)


@pytest.fixture
def db(migrated_db: Database) -> Database:
    return migrated_db


@pytest.fixture
def hooked() -> list[list[int]]:
    return []


@pytest.fixture
def client(db: Database, hooked: list[list[int]]) -> Iterator[TestClient]:
    settings = webhook_settings()
    register_secrets(settings.platform_secrets())
    ingestor = Ingestor(db, settings, on_new_mentions=hooked.append)
    with TestClient(create_app(ingestor, settings)) as test_client:
        yield test_client


def rows(db: Database) -> list[Mention]:
    with db.session() as session:
        found = session.scalars(select(Mention).order_by(Mention.id)).all()
        for row in found:
            _ = row.author  # loaded before the session closes
        return list(found)


def deliver(client: TestClient, body: dict[str, Any] | bytes, **kwargs: Any) -> int:
    raw, headers = signed(body, **kwargs)
    return client.post(PATH, content=raw, headers=headers).status_code


# ------------------------------------------------------------------ subscription
def test_challenge_answered_only_for_the_verify_token(client: TestClient) -> None:
    ok = client.get(PATH, params={"hub.mode": "subscribe", "hub.challenge": "1158201444",
                                  "hub.verify_token": VERIFY_TOKEN})
    assert ok.status_code == 200
    assert ok.text == "1158201444"
    assert ok.headers["content-type"].startswith("text/plain")
    for params in ({"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "no"},
                   {"hub.mode": "unsubscribe", "hub.challenge": "1",
                    "hub.verify_token": VERIFY_TOKEN},
                   {"hub.challenge": "1"}):
        assert client.get(PATH, params=params).status_code == 403


# ------------------------------------------------------------------ refusals
def test_forged_and_missing_signatures_store_nothing(client: TestClient, db: Database) -> None:
    body = messaging_body("m_forged", "hello", sender=CUSTOMER, recipient=BRAND_PAGE,
                          ms=NOW_MS)
    raw, headers = signed(body)
    assert client.post(PATH, content=raw).status_code == 403
    assert client.post(PATH, content=raw, headers={
        "X-Hub-Signature-256": "sha256=" + "0" * 64}).status_code == 403
    assert deliver(client, body, secret="someone-elses-secret") == 403
    tampered = raw.replace(b"hello", b"HELLO")
    assert client.post(PATH, content=tampered, headers=headers).status_code == 403
    assert rows(db) == []


def test_bodies_over_one_mib_are_refused(client: TestClient, db: Database) -> None:
    big = b" " * (MAX_BODY_BYTES + 1)
    raw, headers = signed(big)
    assert client.post(PATH, content=raw, headers=headers).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        for _ in range(MAX_BODY_BYTES // 65536 + 1):
            yield b" " * 65536

    assert client.post(PATH, content=chunks(), headers=headers).status_code == 413
    at_limit = b" " * (MAX_BODY_BYTES - 2) + b"{}"
    assert deliver(client, at_limit) == 422  # read in full, then refused for its object
    assert rows(db) == []


def test_malformed_json_and_unknown_objects_store_nothing(client: TestClient,
                                                          db: Database) -> None:
    assert deliver(client, b"{not json") == 400
    assert deliver(client, b"[1, 2]") == 400
    assert deliver(client, {"object": "whatsapp_business_account", "entry": []}) == 422
    assert deliver(client, {"object": "page", "entry": [{"id": BRAND_PAGE,
                                                          "messaging": [{"message": {
                                                              "mid": "m_1"}}]}]}) == 400
    assert rows(db) == []


def test_other_fields_and_events_are_acknowledged_and_ignored(client: TestClient,
                                                              db: Database) -> None:
    reaction = {"object": "page", "entry": [{"id": BRAND_PAGE, "time": 1, "changes": [
        {"field": "feed", "value": {"item": "reaction", "verb": "add", "post_id": "1_2"}},
        {"field": "feed", "value": {"item": "comment", "verb": "remove", "post_id": "1_2",
                                    "comment_id": "1_3"}},
        {"field": "mention", "value": {"media_id": "9"}}]}]}
    read = {"object": "page", "entry": [{"id": BRAND_PAGE, "time": NOW_MS, "messaging": [
        {"sender": {"id": CUSTOMER}, "recipient": {"id": BRAND_PAGE}, "timestamp": NOW_MS,
         "read": {"watermark": NOW_MS}}]}]}
    assert deliver(client, reaction) == 200
    assert deliver(client, read) == 200
    assert rows(db) == []


# ------------------------------------------------------------------ storing
def test_a_messenger_message_is_a_private_mention_in_its_conversation(
        client: TestClient, db: Database, hooked: list[list[int]]) -> None:
    text = "Hi, my bag never arrived on flight AC 812, can you help?"
    body = messaging_body("m_AbC123", text, sender=CUSTOMER, recipient=BRAND_PAGE, ms=NOW_MS)
    assert deliver(client, body) == 200
    [row] = rows(db)
    assert (row.platform, row.external_id, row.text) == ("facebook", "m_AbC123", text)
    assert row.visibility == "private"
    assert row.thread_id == conversation_key(BRAND_PAGE, CUSTOMER)
    assert row.parent_id is None
    assert row.author.external_id == CUSTOMER
    assert not row.is_own
    assert not row.is_echo
    assert row.status == "new"
    assert row.sentiment is not None
    assert row.urgency is not None
    assert abs(row.created_at.timestamp() * 1000 - NOW_MS) < 2
    assert row.source_key == "webhooks:page"  # no messenger source configured
    assert hooked == [[row.id]]  # routing and alerts run as after a polled page
    with db.session() as session:
        assert [r.external_id for r in inbox(session).rows] == ["m_AbC123"]


def test_an_echo_is_stored_as_the_brands_own_and_not_listed(client: TestClient,
                                                            db: Database) -> None:
    ask = messaging_body("m_ask", "Where is my refund?", sender=CUSTOMER,
                         recipient=BRAND_PAGE, ms=NOW_MS - 60_000)
    echo = messaging_body("m_echo", "We're on it, sorry for the wait.", sender=BRAND_PAGE,
                          recipient=CUSTOMER, ms=NOW_MS, echo=True)
    assert deliver(client, ask) == 200
    assert deliver(client, echo) == 200
    stored = {r.external_id: r for r in rows(db)}
    own = stored["m_echo"]
    assert own.is_own
    assert own.status == "closed"
    assert own.sentiment is None
    assert own.author.external_id == BRAND_PAGE
    assert own.author.is_brand
    assert own.thread_id == stored["m_ask"].thread_id == conversation_key(BRAND_PAGE, CUSTOMER)
    with db.session() as session:
        assert [r.external_id for r in inbox(session).rows] == ["m_ask"]


def test_an_instagram_direct_message_uses_the_account_and_the_igsid(client: TestClient,
                                                                     db: Database) -> None:
    igsid = "6400000000000077"
    body = messaging_body("m_ig1", "do you fly to Lisbon?", sender=igsid, recipient=BRAND_IG,
                          ms=NOW_MS, obj="instagram")
    assert deliver(client, body) == 200
    [row] = rows(db)
    assert row.platform == "instagram"
    assert row.visibility == "private"
    assert row.thread_id == conversation_key(BRAND_IG, igsid)
    assert row.source_key == "webhooks:instagram"


def test_a_duplicate_delivery_is_one_row(client: TestClient, db: Database,
                                         hooked: list[list[int]]) -> None:
    body = messaging_body("m_twice", "hello?", sender=CUSTOMER, recipient=BRAND_PAGE,
                          ms=NOW_MS)
    assert deliver(client, body) == 200
    assert deliver(client, body) == 200
    assert [r.external_id for r in rows(db)] == ["m_twice"]
    assert len(hooked) == 1  # the repeat is not new: no second routing or alert


def test_feed_and_instagram_comments_go_to_their_configured_sources(client: TestClient,
                                                                    db: Database) -> None:
    post_id = f"{BRAND_PAGE}_5000"
    feed = {"object": "page", "entry": [{"id": BRAND_PAGE, "time": NOW_MS // 1000, "changes": [
        {"field": "feed", "value": {
            "item": "comment", "verb": "add", "comment_id": f"{post_id}_1", "post_id": post_id,
            "parent_id": post_id, "from": {"id": "555", "name": "Ana Lima"},
            "message": "Still waiting for my refund", "created_time": NOW_MS // 1000}},
        {"field": "feed", "value": {
            "item": "comment", "verb": "add", "comment_id": f"{post_id}_2", "post_id": post_id,
            "parent_id": f"{post_id}_1", "from": {"id": BRAND_PAGE, "name": "Acme Air"},
            "message": "Sorry Ana, we've sent you a message.",
            "created_time": NOW_MS // 1000}}]}]}
    ig = {"object": "instagram", "entry": [{"id": BRAND_IG, "time": NOW_MS // 1000, "changes": [
        {"field": "comments", "value": {"from": {"id": "881", "username": "joao.p"},
                                        "media": {"id": "17900000000000009"},
                                        "id": "17800000000000001", "text": "lost my bag"}}]}]}
    assert deliver(client, feed) == 200
    assert deliver(client, ig) == 200
    stored = {r.external_id: r for r in rows(db)}
    top, reply, comment = (stored[f"{post_id}_1"], stored[f"{post_id}_2"],
                           stored["17800000000000001"])
    assert (top.thread_id, top.parent_id, top.is_own) == (post_id, post_id, False)
    assert (reply.parent_id, reply.is_own, reply.status) == (f"{post_id}_1", True, "closed")
    assert top.source_key == reply.source_key == f"facebook:page:{BRAND_PAGE}"
    assert top.author.name == "Ana Lima"
    assert top.visibility == "public"
    assert (comment.thread_id, comment.parent_id) == ("17900000000000009",
                                                      "17900000000000009")
    assert comment.author.handle == "joao.p"
    assert comment.source_key == f"instagram:media:{BRAND_IG}"


def test_a_delivery_that_cannot_be_stored_answers_500(database_url: str) -> None:
    settings = webhook_settings()
    bare = open_database(database_url)  # no schema: every write fails
    try:
        with TestClient(create_app(Ingestor(bare, settings), settings)) as test_client:
            body = messaging_body("m_retry", "hello", sender=CUSTOMER, recipient=BRAND_PAGE,
                                  ms=NOW_MS)
            assert deliver(test_client, body) == 500
    finally:
        bare.dispose()


def test_without_an_app_secret_there_is_no_receiver(db: Database) -> None:
    settings = Settings(meta_verify_token=VERIFY_TOKEN)
    with pytest.raises(ValueError, match="CAREWATCH_META_APP_SECRET"):
        create_app(Ingestor(db, settings), settings)


def test_logs_never_carry_secrets_or_text(client: TestClient, db: Database,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("DEBUG")
    try:
        capsys.readouterr()
        text = "my passport number is X1234567, please delete"
        body = messaging_body("m_log", text, sender=CUSTOMER, recipient=BRAND_PAGE, ms=NOW_MS)
        assert deliver(client, body) == 200
        assert deliver(client, body, secret="forged-secret-value") == 403
        assert deliver(client, b'{"object": "page", "entry": "' + text.encode() + b'"}') == 400
        assert deliver(client, json.dumps({"object": text}).encode()) == 422
        assert client.get(PATH, params={"hub.mode": "subscribe", "hub.challenge": "5",
                                        "hub.verify_token": VERIFY_TOKEN}).status_code == 200
        assert client.get(PATH, params={"hub.mode": "subscribe",
                                        "hub.verify_token": "a-wrong-token"}).status_code == 403
        logged = capsys.readouterr().err
    finally:
        configure_logging("WARNING")
    for event in ("webhook_stored", "webhook_refused", "webhook_rejected",
                  "webhook_subscription_verified", "webhook_verification_refused"):
        assert event in logged
    for leak in (APP_SECRET, VERIFY_TOKEN, "X1234567", "forged-secret-value", "a-wrong-token"):
        assert leak not in logged


# ------------------------------------------------------------------ contract edges
def test_the_challenge_is_answered_when_only_the_token_is_given(client: TestClient) -> None:
    """The contract answers the challenge "when hub.verify_token matches": a check that
    leaves out `hub.mode` still gets its challenge; a wrong token still does not."""
    ok = client.get(PATH, params={"hub.challenge": "42", "hub.verify_token": VERIFY_TOKEN})
    assert (ok.status_code, ok.text) == (200, "42")
    assert client.get(PATH, params={"hub.challenge": "42",
                                    "hub.verify_token": "wrong"}).status_code == 403


def test_a_visitor_post_in_the_feed_is_a_mention(client: TestClient, db: Database) -> None:
    """Page feed deliveries carry new posts too (`item` status/photo/..., verb `add`): a
    visitor's post is stored as the page source stores it when polled, the page's own post as
    context."""
    now = NOW_MS // 1000
    body = {"object": "page", "entry": [{"id": BRAND_PAGE, "time": now, "changes": [
        {"field": "feed", "value": {
            "item": "status", "verb": "add", "post_id": f"{BRAND_PAGE}_7001", "published": 1,
            "from": {"id": "556", "name": "Bo Visitor"}, "message": "Where is my refund?",
            "created_time": now}},
        {"field": "feed", "value": {
            "item": "photo", "verb": "add", "post_id": f"{BRAND_PAGE}_7002",
            "from": {"id": BRAND_PAGE, "name": "Acme Air"}, "message": "New route!",
            "created_time": now}}]}]}
    assert deliver(client, body) == 200
    stored = {r.external_id: r for r in rows(db)}
    visitor, own = stored[f"{BRAND_PAGE}_7001"], stored[f"{BRAND_PAGE}_7002"]
    assert (visitor.text, visitor.is_own, visitor.thread_id) == (
        "Where is my refund?", False, f"{BRAND_PAGE}_7001")
    assert visitor.source_key == f"facebook:page:{BRAND_PAGE}"
    assert (own.is_own, own.status) == (True, "closed")


def test_events_without_their_own_time_are_stored(client: TestClient, db: Database) -> None:
    """An Instagram comment has no time of its own; with no entry time either it is still
    stored (at its arrival), not refused as malformed."""
    body = {"object": "instagram", "entry": [{"id": BRAND_IG, "changes": [
        {"field": "comments", "value": {"from": {"id": "882", "username": "joa"},
                                        "media": {"id": "17900000000000009"},
                                        "id": "17800000000000077", "text": "no time"}}]}]}
    before = time.time()
    assert deliver(client, body) == 200
    (row,) = rows(db)
    assert row.external_id == "17800000000000077"
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    assert created.timestamp() >= before - 5


def _message(**changes: Any) -> dict[str, Any]:
    body = messaging_body("m_edge", "hello", sender=CUSTOMER, recipient=BRAND_PAGE, ms=NOW_MS)
    event = body["entry"][0]["messaging"][0]
    event.update(changes.get("event", {}))
    event["message"].update(changes.get("message", {}))
    return body


@pytest.mark.parametrize("body", [
    _message(event={"timestamp": 10**20}),   # no datetime holds it (OverflowError)
    _message(event={"timestamp": -10**18}),
    _message(message={"text": 123}),          # not a string: no row the scorer chokes on
    _message(message={"text": {"a": 1}}),
    b"[" * 100_000 + b"]" * 100_000,          # deeper than the parser's stack
    b'{"object": "page", "entry": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
], ids=["huge-time", "negative-time", "int-text", "dict-text", "deep-list", "deep-entry"])
def test_signed_but_malformed_bodies_answer_400_and_store_nothing(
        client: TestClient, db: Database, body: dict[str, Any] | bytes) -> None:
    """A correctly signed body carewatch cannot read is answered 400 (no 500, no traceback:
    the test client re-raises any exception the app lets escape), and nothing is stored."""
    assert deliver(client, body) == 400
    assert rows(db) == []
