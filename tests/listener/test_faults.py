"""Faults through the real sandbox: 429 waited out until its reset (never earlier), 5xx
retried, slow answers tolerated, malformed JSON and revoked tokens confined to their source."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sandbox.control import SandboxControl
from sandbox.server import SandboxServer
from storage.db import Database
from tests.listener.conftest import CliRunner
from tests.listener.helpers import (
    FACEBOOK_KEY,
    INSTAGRAM_KEY,
    MENTIONS_KEY,
    expected_facebook,
    expected_instagram,
    expected_x,
    populate,
    source_by_prefix,
    sources,
    stored,
)

SEARCH_PATH = "/2/tweets/search/recent"


@pytest.fixture
def ready(sqlite_url: str, sandbox: SandboxServer, make_env: Callable[..., dict],
          cli: CliRunner, open_db: Callable[[str], Database]) -> Database:
    """A seeded sandbox and an initialised SQLite store, nothing polled yet."""
    sandbox.world.seed(150, seed=5, days=2.0)
    populate(sandbox.world)
    make_env(sqlite_url)
    assert cli("init")[0] == 0
    return open_db(sqlite_url)


def test_429_waited_until_reset_never_earlier(ready: Database, control: SandboxControl,
                                              cli: CliRunner, sandbox: SandboxServer) -> None:
    control.add_fault(SEARCH_PATH, "429", reset_after=2.0)
    code, err = cli("listen", "--once")
    assert code == 0, err
    calls = control.requests(path=SEARCH_PATH)
    limited = [c for c in calls if c["status"] == 429]
    assert len(limited) == 1
    after = [c for c in calls if c["time"] > limited[0]["time"]]
    assert after, "the poll never came back after the rate limit"
    # The sandbox blocked the window for 2 s from the 429; nothing may arrive before that.
    assert min(c["time"] for c in after) >= limited[0]["time"] + 2.0
    assert set(stored(ready, "x")) == set(expected_x(sandbox.world))


def test_5xx_retried_and_slow_answer_tolerated(ready: Database, control: SandboxControl,
                                               cli: CliRunner, sandbox: SandboxServer) -> None:
    control.add_fault("/2/users/", "503", count=2)
    control.add_fault("/v21.0/17841400000000001/media", "slow", delay=1.5)
    control.add_fault("/v21.0/100000000000001/feed", "500")
    code, err = cli("listen", "--once")
    assert code == 0, err
    statuses = [c["status"] for c in control.requests(path="/2/users/")]
    assert statuses[:3] == [503, 503, 200]
    assert set(stored(ready, "x")) == set(expected_x(sandbox.world))
    assert set(stored(ready, "facebook")) == set(expected_facebook(sandbox.world))
    assert set(stored(ready, "instagram")) == set(expected_instagram(sandbox.world))
    assert all(s.healthy for s in sources(ready).values())


def test_malformed_json_marks_only_that_source_unhealthy(
        ready: Database, control: SandboxControl, cli: CliRunner,
        sandbox: SandboxServer) -> None:
    control.add_fault("/v21.0/100000000000001/feed", "malformed", count=-1)
    code, err = cli("listen", "--once")
    assert code == 1
    assert f"{FACEBOOK_KEY}: failed" in err
    assert "malformed" in err
    assert "Traceback" not in err
    fb = source_by_prefix(ready, FACEBOOK_KEY)
    assert not fb.healthy
    assert "malformed" in (fb.health_message or "")
    for key in ("x:search:", MENTIONS_KEY, INSTAGRAM_KEY):
        assert source_by_prefix(ready, key).healthy
    assert set(stored(ready, "x")) == set(expected_x(sandbox.world))
    assert set(stored(ready, "instagram")) == set(expected_instagram(sandbox.world))
    assert stored(ready, "facebook") == {}
    # The next poll retries and catches up once the platform answers properly.
    control.clear_faults()
    code, err = cli("listen", "--once")
    assert code == 0, err
    assert source_by_prefix(ready, FACEBOOK_KEY).healthy
    assert set(stored(ready, "facebook")) == set(expected_facebook(sandbox.world))


def test_revoked_token_stops_its_sources_with_next_step(
        ready: Database, control: SandboxControl, cli: CliRunner,
        sandbox: SandboxServer) -> None:
    control.revoke("graph")
    code, err = cli("listen", "--once")
    assert code == 1
    for key in (FACEBOOK_KEY, INSTAGRAM_KEY):
        source = source_by_prefix(ready, key)
        assert not source.healthy
        assert source.token_state == "revoked"
        message = source.health_message or ""
        assert key in message
        assert "CAREWATCH_FB_PAGE_TOKEN" in message
        assert "reconnect" in message
        assert "sandbox-page-token" not in message
    assert "CAREWATCH_FB_PAGE_TOKEN" in err
    assert "sandbox-page-token" not in err
    assert source_by_prefix(ready, "x:search:").healthy
    assert set(stored(ready, "x")) == set(expected_x(sandbox.world))
    # X revoked too: its message says how to reconnect X.
    control.restore()
    control.revoke("x")
    code, err = cli("listen", "--once")
    assert code == 1
    search = source_by_prefix(ready, "x:search:")
    assert search.token_state == "revoked"
    assert "CAREWATCH_X_BEARER_TOKEN" in (search.health_message or "")
    assert source_by_prefix(ready, FACEBOOK_KEY).healthy
