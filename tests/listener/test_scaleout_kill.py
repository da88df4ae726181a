"""A listener killed with -9 mid-poll keeps its sources only until its lease runs out: another
listener then takes them over, resumes from the stored cursor, and nothing is lost or stored
twice (real processes, on SQLite and PostgreSQL)."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from sandbox.control import SandboxControl
from sandbox.server import SandboxServer
from storage.db import Database, open_database
from storage.sources import lease_holder, source_health
from tests.listener.conftest import carewatch_env
from tests.listener.helpers import (
    CLI,
    expected_facebook,
    expected_instagram,
    expected_x,
    listen_then_kill_9,
    stored,
    stored_pairs,
    subprocess_env,
)

SEARCH_PATH = "/2/tweets/search/recent"


@pytest.mark.slow
def test_killed_listener_is_taken_over_after_its_lease_runs_out(
        tmp_path: Path, database_url: str, sandbox: SandboxServer,
        control: SandboxControl) -> None:
    for i in range(450):  # five pages of search results, five of mentions
        sandbox.world.add_tweet(f"@acmeair takeover test {i}", {"username": f"t{i % 40}"},
                                created_at=sandbox.world.now() - 4000 + i)
    sandbox.world.seed(60, seed=6, days=1.0)
    env = subprocess_env(carewatch_env(tmp_path, sandbox.base_url, database_url),
                         short_lease=True)
    assert subprocess.run([*CLI, "init"], env=env, capture_output=True,
                          timeout=120).returncode == 0
    control.add_fault("/2/", "slow", delay=0.4, count=-1)
    listen_then_kill_9(env, control, SEARCH_PATH, served=3)
    killed_at = time.time()
    db = open_database(database_url)
    try:
        [search] = [h for h in _health(db) if h["source"].startswith("x:search")]
        # The dead process still holds the search source, until its lease runs out.
        assert search["lease_holder"] is not None
        dead_until = search["lease_until"]
        partial = len(stored(db, "x"))
        assert 0 < partial < len(expected_x(sandbox.world)), "the kill was not mid-poll"
        control.clear_faults()
        control.clear_requests()
        survivor = subprocess.run([*CLI, "listen", "--once"], env=env, capture_output=True,
                                  text=True, timeout=120)
        assert survivor.returncode == 0, survivor.stderr
        assert "being polled by" not in survivor.stderr  # it took the source over
        # (A page the dead process asked for just before dying may still be logged.)
        searches = [r for r in control.requests(path=SEARCH_PATH) if r["time"] >= killed_at]
        # Not one call before the dead process's lease had run out (same machine clock).
        assert min(r["time"] for r in searches) >= dead_until.timestamp() - 0.05
        # It resumed the interrupted run (until_id) rather than starting over.
        assert any("until_id" in r["query"] for r in searches)
        assert max(Counter(stored_pairs(db)).values()) == 1
        assert {k: v.text for k, v in stored(db, "x").items()} == expected_x(sandbox.world)
        assert set(stored(db, "facebook")) == set(expected_facebook(sandbox.world))
        assert set(stored(db, "instagram")) == set(expected_instagram(sandbox.world))
        with db.session() as session:
            assert all(lease_holder(session, h["source"]) is None for h in _health(db))
    finally:
        db.dispose()


def _health(db: Database) -> list[dict[str, Any]]:
    with db.session() as session:
        return source_health(session)
