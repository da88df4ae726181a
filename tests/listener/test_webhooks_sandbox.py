"""The receiver subscribed in the sandbox, which signs and delivers Meta webhooks as Meta does
(verification first, retries, duplicates): messages, echoes and comments stored once, in the
conversation a poll derives, and deliveries under a wrong secret stored never."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select

from carewatch.domain import conversation_key
from carewatch.settings import load_settings
from listener.ingest import Ingestor
from listener.webhooks.app import create_app
from listener.webhooks.server import ReceiverServer
from sandbox.control import SandboxControl, SandboxError
from sandbox.server import SandboxServer
from storage.db import Database
from storage.models import Mention
from tests.listener.conftest import CliRunner
from tests.listener.helpers import BRAND_IG, BRAND_PAGE, PRIVATE_TOML, X_USER_CONTEXT
from tests.listener.webhook_helpers import APP_SECRET, VERIFY_TOKEN

Env = Callable[..., dict[str, str]]


@pytest.fixture
def db(make_env: Env, database_url: str, cli: CliRunner, monkeypatch: pytest.MonkeyPatch,
       open_db: Callable[[str], Database]) -> Database:
    make_env(database_url)
    monkeypatch.setenv("CAREWATCH_META_APP_SECRET", APP_SECRET)
    monkeypatch.setenv("CAREWATCH_META_VERIFY_TOKEN", VERIFY_TOKEN)
    assert cli("init")[0] == 0
    return open_db(database_url)


@pytest.fixture
def receiver(db: Database) -> Iterator[ReceiverServer]:
    settings = load_settings(None)
    with ReceiverServer(create_app(Ingestor(db, settings), settings)) as server:
        yield server


def stored(db: Database) -> dict[str, Mention]:
    with db.session() as session:
        rows = session.scalars(select(Mention)).all()
        for row in rows:
            _ = row.author
        return {r.external_id: r for r in rows}


def test_sandbox_messages_are_stored_once_in_their_conversation(
        receiver: ReceiverServer, control: SandboxControl, db: Database) -> None:
    control.subscribe_webhooks(receiver.url, APP_SECRET, verify_token=VERIFY_TOKEN,
                               duplicates=-1)  # every event delivered twice
    asked = control.add_message("messenger", "My bag is still missing, file AC123",
                                {"id": "7300000000000001", "name": "Rita Sousa"})
    answered = control.add_message("messenger", "Sorry Rita, checking now.", "page",
                                   to="7300000000000001")
    ig = control.add_message("instagram", "is the lounge open?",
                             {"id": "6300000000000001", "username": "joao.p"})
    status = control.webhooks(idle_within=15)
    assert status["failed"] == 0
    assert status["delivered"] == 6
    rows = stored(db)
    assert set(rows) == {asked["id"], answered["id"], ig["id"]}
    customer, echo, direct = rows[asked["id"]], rows[answered["id"]], rows[ig["id"]]
    key = conversation_key(BRAND_PAGE, "7300000000000001")
    assert customer.thread_id == echo.thread_id == key == asked["thread_key"]
    assert customer.visibility == echo.visibility == "private"
    assert not customer.is_own
    assert customer.status == "new"
    assert echo.is_own
    assert echo.status == "closed"
    assert echo.author.external_id == BRAND_PAGE
    assert direct.platform == "instagram"
    assert direct.thread_id == conversation_key(BRAND_IG, "6300000000000001")


def test_a_sandbox_comment_delivered_then_polled_is_one_row(
        receiver: ReceiverServer, control: SandboxControl, sandbox: SandboxServer,
        db: Database, cli: CliRunner) -> None:
    post = sandbox.world.add_fb_post("Boarding starts at gate 12", created_at=sandbox.world.now()
                                     - 300)
    control.subscribe_webhooks(receiver.url, APP_SECRET, verify_token=VERIFY_TOKEN)
    comment = control.add_fb_comment("The gate changed and nobody told us!", post_id=post.id,
                                     author={"id": "830000000000001", "name": "Ana Lima"})
    assert control.webhooks(idle_within=15)["delivered"] == 1
    delivered = stored(db)[comment["id"]]
    assert (delivered.thread_id, delivered.parent_id) == (post.id, post.id)
    assert cli("listen", "--once")[0] == 0
    after = [r for r in stored(db).values() if r.external_id == comment["id"]]
    assert len(after) == 1
    assert (after[0].id, after[0].thread_id, after[0].parent_id, after[0].text) == (
        delivered.id, delivered.thread_id, delivered.parent_id, delivered.text)


def test_private_messages_delivered_then_polled_are_one_row_each(
        make_env: Env, database_url: str, control: SandboxControl, db: Database,
        cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """Messenger and Instagram Direct: what a webhook stored, the next poll of the
    conversations finds again and leaves as it was (same row, conversation and case state)."""
    make_env(database_url, PRIVATE_TOML)
    monkeypatch.setenv("CAREWATCH_META_APP_SECRET", APP_SECRET)
    monkeypatch.setenv("CAREWATCH_META_VERIFY_TOKEN", VERIFY_TOKEN)
    for key, value in X_USER_CONTEXT.items():  # the X `dms` source reads as the brand
        monkeypatch.setenv(key, value)
    settings = load_settings(None)
    with ReceiverServer(create_app(Ingestor(db, settings), settings)) as receiver:
        control.subscribe_webhooks(receiver.url, APP_SECRET, verify_token=VERIFY_TOKEN)
        asked = control.add_message("messenger", "Where is my refund? Booking QX7",
                                    {"id": "7300000000000009", "name": "Rita Sousa"})
        answered = control.add_message("messenger", "Checking it now, Rita.", "page",
                                       to="7300000000000009")
        direct = control.add_message("instagram", "Can I bring my surfboard?",
                                     {"id": "6300000000000009", "username": "joao.p"})
        assert control.webhooks(idle_within=15)["delivered"] == 3
    delivered = stored(db)
    code, err = cli("listen", "--once")
    assert code == 0, err
    polled = stored(db)
    for message in (asked, answered, direct):
        before, after = delivered[message["id"]], polled[message["id"]]
        assert (after.id, after.thread_id, after.visibility, after.is_own, after.text) == (
            before.id, before.thread_id, before.visibility, before.is_own, before.text)
    with db.session() as session:
        ids = session.scalars(select(Mention.external_id)).all()
    assert len(ids) == len(set(ids))  # one row per message, whichever path stored it first


def test_deliveries_under_a_wrong_secret_or_token_are_refused(
        receiver: ReceiverServer, control: SandboxControl, db: Database) -> None:
    with pytest.raises(SandboxError, match="did not echo"):
        control.subscribe_webhooks(receiver.url, APP_SECRET, verify_token="not-the-token")
    control.subscribe_webhooks(receiver.url, "not-the-app-secret", max_attempts=2)
    control.add_message("messenger", "hello?", "7300000000000002")
    status = control.webhooks(idle_within=15)
    assert status["failed"] == 1
    assert status["delivered"] == 0
    assert stored(db) == {}
