"""Private conversations as sources, through the real CLI, real clients and the sandbox: X
direct messages, Messenger and Instagram Direct are stored once each as private mentions in
their conversation, incrementally, through 429s, 5xx and revoked tokens, on SQLite and
PostgreSQL; and the documented configuration loads with the keys and checks it promises."""

from __future__ import annotations

import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from carewatch.domain import conversation_key
from carewatch.platforms import spec_for
from carewatch.settings import load_settings
from listener import ingest
from listener.ingest import Ingestor
from sandbox.control import SandboxControl
from sandbox.server import SandboxServer
from sandbox.world import BRAND_X_ID, World
from storage.db import Database, open_database
from tests.listener.conftest import CliRunner, carewatch_env
from tests.listener.helpers import (
    BRAND_IG,
    BRAND_PAGE,
    CLI,
    DIRECT_KEY,
    DMS_KEY,
    MESSENGER_KEY,
    PRIVATE_TOML,
    X_USER_CONTEXT,
    listen_then_kill_9,
    source_by_prefix,
    sources,
    stored,
    stored_pairs,
    subprocess_env,
)

DM_PATH = "/2/dm_events"
CONVERSATIONS_PATH = f"/v21.0/{BRAND_PAGE}/conversations"


def expected_dms(world: World) -> dict[str, str]:
    return {str(e.id): e.text for e in world.dm_events_of(BRAND_X_ID)}


def expected_conversations(world: World, channel: str) -> dict[str, str]:
    return {m.id: m.text for c in world.conversations.values() if c.platform == channel
            for m in c.messages}


def populate_private(world: World) -> dict[str, str]:
    """A few conversations of each kind, with the brand's answers, one of them long enough
    to page its messages; returns the customer ids by name."""
    now = world.now()
    made: dict[str, str] = {}
    for i in range(3):
        customer = world.ensure_x_user({"username": f"dmer{i}", "followers": 10 + i})
        made[f"x{i}"] = customer.id
        world.add_dm(customer.id, BRAND_X_ID, f"@acmeair my bag {i} is lost",
                     created_at=now - 3000 + i)
        world.add_dm(BRAND_X_ID, customer.id, f"Sorry! Which flight, {i}?",
                     created_at=now - 2900 + i)
        world.add_dm(customer.id, BRAND_X_ID, f"AA{i}12", created_at=now - 2800 + i)
    for i in range(205):  # three pages of DM events
        world.add_dm(made["x0"], BRAND_X_ID, f"more detail {i}", created_at=now - 2000 + i)
    messenger = world.open_conversation("messenger", {"name": "Dana Visitor"})
    made["psid"] = messenger.customer_id
    for i in range(40):  # more than one nested page
        world.add_graph_message(messenger.id, f"stroller detail {i}",
                                created_at=now - 2500 + i)
    world.add_graph_message(messenger.id, "We found it!", from_brand=True,
                            created_at=now - 2000)
    for i in range(30):
        other = world.open_conversation("messenger", {"name": f"Fan {i}"})
        world.add_graph_message(other.id, f"hello {i}", created_at=now - 1500 + i)
    direct = world.open_conversation("instagram", {"username": "wanderer"})
    made["igsid"] = direct.customer_id
    world.add_graph_message(direct.id, "Is my seat upgraded?", created_at=now - 1200)
    world.add_graph_message(direct.id, "Yes, 2A.", from_brand=True, created_at=now - 1100)
    return made


@pytest.fixture
def private_env(make_env: Callable[..., dict], monkeypatch: pytest.MonkeyPatch
                ) -> Callable[[str], dict[str, str]]:
    def apply(database_url: str) -> dict[str, str]:
        env = make_env(database_url, toml=PRIVATE_TOML)
        for key, value in X_USER_CONTEXT.items():
            monkeypatch.setenv(key, value)
        return {**env, **X_USER_CONTEXT}

    return apply


def _assert_complete(db: Database, world: World) -> None:
    for platform, expected in (("x", expected_dms(world)),
                               ("facebook", expected_conversations(world, "messenger")),
                               ("instagram", expected_conversations(world, "instagram"))):
        rows = stored(db, platform)
        assert {k: v.text for k, v in rows.items()} == expected, platform
        assert {r.visibility for r in rows.values()} == {"private"}


def test_documented_private_sources_load(tmp_path: Path) -> None:
    path = tmp_path / "carewatch.toml"
    path.write_text(PRIVATE_TOML, encoding="utf-8")
    settings = load_settings(path)
    assert [s.key for s in settings.sources] == [DMS_KEY, MESSENGER_KEY, DIRECT_KEY]
    assert [s.human_agent for s in settings.sources] == [False, False, False]
    for source in settings.sources:
        assert spec_for(source.platform).source_kind(source.kind or "").private
    bad = tmp_path / "bad.toml"
    bad.write_text(PRIVATE_TOML.replace(f'page_id = "{BRAND_PAGE}"\nig_user_id', "ig_user_id"),
                   encoding="utf-8")
    with pytest.raises(Exception, match="instagram direct source needs 'page_id'"):
        load_settings(bad)


def test_dms_need_user_context_and_listen_names_the_variables(
        sqlite_url: str, make_env: Callable[..., dict], cli: CliRunner) -> None:
    make_env(sqlite_url, toml=PRIVATE_TOML)  # a bearer token only
    assert cli("init")[0] == 0
    code, err = cli("listen", "--once")
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    for variable in X_USER_CONTEXT:
        assert variable in err


def test_private_conversations_end_to_end(database_url: str, sandbox: SandboxServer,
                                          control: SandboxControl, private_env: Callable,
                                          cli: CliRunner,
                                          open_db: Callable[[str], Database]) -> None:
    made = populate_private(sandbox.world)
    private_env(database_url)
    assert cli("init")[0] == 0
    code, err = cli("listen", "--once")
    assert code == 0, err
    db = open_db(database_url)
    _assert_complete(db, sandbox.world)

    dms = stored(db, "x")
    customer_dm = next(r for r in dms.values() if r.text == "@acmeair my bag 1 is lost")
    brand_dm = next(r for r in dms.values() if r.text == "Sorry! Which flight, 1?")
    key = conversation_key(BRAND_X_ID, made["x1"])
    assert customer_dm.thread_id == brand_dm.thread_id == key
    assert customer_dm.raw["dm_conversation_id"] == key
    assert not customer_dm.is_own
    assert customer_dm.author is not None
    assert customer_dm.author.handle == "dmer1"
    assert brand_dm.is_own
    assert brand_dm.status == "closed"
    assert customer_dm.status == "new"
    assert customer_dm.sentiment is not None
    fb = stored(db, "facebook")
    stroller = next(r for r in fb.values() if r.text == "stroller detail 0")
    assert stroller.thread_id == conversation_key(BRAND_PAGE, made["psid"])
    assert stroller.raw["conversation_id"].startswith("t_")
    assert stroller.author is not None
    assert stroller.author.name == "Dana Visitor"
    assert next(r for r in fb.values() if r.text == "We found it!").is_own
    ig = stored(db, "instagram")
    question = next(r for r in ig.values() if r.text == "Is my seat upgraded?")
    assert question.thread_id == conversation_key(BRAND_IG, made["igsid"])
    assert question.author is not None
    assert question.author.handle == "wanderer"
    assert next(r for r in ig.values() if r.text == "Yes, 2A.").is_own
    # The long conversation was paged through its own messages edge.
    assert control.requests(path=f"/v21.0/{stroller.raw['conversation_id']}/messages")
    assert sources(db)[DMS_KEY].cursor == {"newest_id": max(dms, key=int)}

    # Incremental: a second poll stores only what is new, reading little.
    control.clear_requests()
    world = sandbox.world
    world.add_dm(made["x2"], BRAND_X_ID, "still waiting")
    world.add_graph_message(world.find_conversation(made["psid"]).id, "thanks!")
    code, err = cli("listen", "--once")
    assert code == 0, err
    assert f"{DMS_KEY}: 1 new" in err
    assert f"{MESSENGER_KEY}: 1 new" in err
    assert f"{DIRECT_KEY}: 0 new" in err
    _assert_complete(db, world)
    assert len(control.requests(path=DM_PATH)) == 1
    # Instagram: one page. Messenger: the 31 conversations updated within the 5-minute
    # overlap before the cursor fill two pages of 25.
    assert len(control.requests(path=CONVERSATIONS_PATH)) == 3
    assert not control.requests(path="/v21.0/t_")  # no long conversation to page this time


def test_private_sources_through_faults(database_url: str, sandbox: SandboxServer,
                                        control: SandboxControl, private_env: Callable,
                                        cli: CliRunner,
                                        open_db: Callable[[str], Database]) -> None:
    populate_private(sandbox.world)
    private_env(database_url)
    assert cli("init")[0] == 0
    control.add_fault(DM_PATH, "429", reset_after=1.0)
    control.add_fault(CONVERSATIONS_PATH, "503", count=2)
    control.add_fault("/v21.0/t_", "500")
    code, err = cli("listen", "--once")
    assert code == 0, err
    assert 429 in [c["status"] for c in control.requests(path=DM_PATH)]
    db = open_db(database_url)
    _assert_complete(db, sandbox.world)
    assert all(s.healthy for s in sources(db).values())
    # Revoked tokens stop their sources with the next step, and nothing else.
    control.revoke("x")
    sandbox.world.add_graph_message(
        next(iter(sandbox.world.conversations.values())).id, "one more")
    code, err = cli("listen", "--once")
    assert code == 1
    dms = source_by_prefix(db, DMS_KEY)
    assert dms.token_state == "revoked"
    assert "reconnect" in (dms.health_message or "")
    assert "CAREWATCH_X_ACCESS_TOKEN_SECRET" in (dms.health_message or "")
    assert "sandbox-access" not in err
    assert source_by_prefix(db, MESSENGER_KEY).healthy
    control.restore()
    control.revoke("graph")
    code, err = cli("listen", "--once")
    assert code == 1
    assert source_by_prefix(db, DIRECT_KEY).token_state == "revoked"
    assert "CAREWATCH_FB_PAGE_TOKEN" in (source_by_prefix(db, MESSENGER_KEY).health_message
                                         or "")
    control.restore()
    code, err = cli("listen", "--once")
    assert code == 0, err
    _assert_complete(db, sandbox.world)


@pytest.mark.slow
def test_kill_9_mid_poll_loses_and_duplicates_no_private_message(
        database_url: str, tmp_path: Path, sandbox: SandboxServer,
        control: SandboxControl) -> None:
    made = populate_private(sandbox.world)
    now = sandbox.world.now()
    for i in range(400):  # four more pages of DM events: the kill after page 3 leaves some
        sandbox.world.add_dm(made["x0"], BRAND_X_ID, f"kill detail {i}",
                             created_at=now - 1500 + i)
    for i in range(60):  # three pages of conversations
        conversation = sandbox.world.open_conversation("messenger", {"name": f"Kill {i}"})
        sandbox.world.add_graph_message(conversation.id, f"kill test {i}")
    env = subprocess_env({**carewatch_env(tmp_path, sandbox.base_url, database_url,
                                          PRIVATE_TOML), **X_USER_CONTEXT}, short_lease=True)
    assert subprocess.run([*CLI, "init"], env=env, capture_output=True,
                          timeout=120).returncode == 0
    # Every page answers slowly, so the process is surely mid-run when it dies.
    control.add_fault(DM_PATH, "slow", delay=0.5, count=-1)
    control.add_fault(CONVERSATIONS_PATH, "slow", delay=0.5, count=-1)
    # Page 3 is fetched only once page 2 is taken, after page 1 was stored (the next page
    # is read ahead while one is stored).
    listen_then_kill_9(env, control, DM_PATH, served=3)
    db = open_database(database_url)
    try:
        partial = len(stored(db, "x"))
        assert 0 < partial < len(expected_dms(sandbox.world)), "the kill was not mid-poll"
        assert sources(db)[DMS_KEY].cursor.get("pending_newest")
        control.clear_faults()
        sandbox.world.add_dm(made["x1"], BRAND_X_ID, "after the crash")
        rerun = subprocess.run([*CLI, "listen", "--once"], env=env, capture_output=True,
                               text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        assert max(Counter(stored_pairs(db)).values()) == 1
        _assert_complete(db, sandbox.world)
        assert sources(db)[DMS_KEY].cursor == {
            "newest_id": max(expected_dms(sandbox.world), key=int)}
    finally:
        db.dispose()


def test_interrupted_dm_run_resumes_without_writing_its_pages_again(
        sqlite_url: str, sandbox: SandboxServer, private_env: Callable, cli: CliRunner,
        open_db: Callable[[str], Database], monkeypatch: pytest.MonkeyPatch) -> None:
    # A page a transaction, each followed by its hooks, as on PostgreSQL: the hook below
    # then stops the run after exactly one page (on SQLite pages that are ready together
    # would otherwise share a transaction, test_fetch_worker covers that).
    monkeypatch.setattr(ingest, "PAGES_PER_COMMIT", 1)
    populate_private(sandbox.world)
    env = private_env(sqlite_url)
    assert cli("init")[0] == 0
    db = open_db(sqlite_url)
    settings = load_settings(env["CAREWATCH_CONFIG"])
    dms = settings.sources[0]
    stop = threading.Event()
    first = Ingestor(db, settings, scorer=None, should_stop=stop.is_set,
                     on_new_mentions=lambda _ids: stop.set()).poll_source(dms)
    assert (first.pages, first.new) == (1, 100)
    cursor = sources(db)[DMS_KEY].cursor
    # Behind the data: no newest id yet, the run's range marked as pending.
    assert cursor["newest_id"] is None
    assert int(cursor["until_id"]) <= int(cursor["pending_newest"])
    rest = Ingestor(db, settings, scorer=None).poll_source(dms)
    assert rest.new == len(expected_dms(sandbox.world)) - 100
    assert rest.seen == 0  # the stored range was passed over, not written again
    assert {k: v.text for k, v in stored(db, "x").items()} == expected_dms(sandbox.world)
    assert sources(db)[DMS_KEY].cursor == {
        "newest_id": max(expected_dms(sandbox.world), key=int)}
