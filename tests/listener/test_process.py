"""Processes: `kill -9` in the middle of a poll loses and duplicates nothing; the scheduler
polls on its own and stops cleanly on a stop event and on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from carewatch.settings import load_settings
from listener.schedule import run_forever
from sandbox.control import SandboxControl
from sandbox.server import SandboxServer
from storage.db import Database, open_database
from storage.migrate import upgrade
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
def test_kill_9_mid_poll_then_rerun_loses_and_duplicates_nothing(
        tmp_path: Path, sqlite_url: str, sandbox: SandboxServer,
        control: SandboxControl) -> None:
    for i in range(450):  # five pages of search results, five of mentions
        sandbox.world.add_tweet(f"@acmeair kill test {i} \u26a0\ufe0f",
                                {"username": f"k{i % 40}"},
                                created_at=sandbox.world.now() - 4000 + i)
    sandbox.world.seed(60, seed=3, days=1.0)
    env = subprocess_env(carewatch_env(tmp_path, sandbox.base_url, sqlite_url),
                         short_lease=True)
    assert subprocess.run([*CLI, "init"], env=env, capture_output=True,
                          timeout=120).returncode == 0
    # Every X page answers slowly, so the process is surely mid-run when it dies.
    control.add_fault("/2/", "slow", delay=0.4, count=-1)
    listen_then_kill_9(env, control, SEARCH_PATH, served=3)
    db = open_database(sqlite_url)
    try:
        partial = len(stored(db, "x"))
        assert 0 < partial < len(expected_x(sandbox.world)), "the kill was not mid-poll"
        control.clear_faults()
        control.clear_requests()
        rerun = subprocess.run([*CLI, "listen", "--once"], env=env, capture_output=True,
                               text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        counts = Counter(stored_pairs(db))
        assert max(counts.values()) == 1
        xs = stored(db, "x")
        assert {k: v.text for k, v in xs.items()} == expected_x(sandbox.world)
        assert set(stored(db, "facebook")) == set(expected_facebook(sandbox.world))
        assert set(stored(db, "instagram")) == set(expected_instagram(sandbox.world))
        # The re-run resumed the interrupted search run (until_id) instead of starting over.
        assert any("until_id" in r["query"] for r in control.requests(path=SEARCH_PATH))
    finally:
        db.dispose()


def test_run_forever_polls_on_schedule_and_stops_promptly(
        tmp_path: Path, sqlite_url: str, sandbox: SandboxServer,
        make_env: Callable[..., dict]) -> None:
    sandbox.world.seed(40, seed=9, days=1.0)
    env = make_env(sqlite_url)
    settings = load_settings(env["CAREWATCH_CONFIG"])
    settings.sources[0].every = 0.5
    db: Database = open_database(sqlite_url)
    upgrade(db.engine)
    stop = threading.Event()
    ticks: list[float] = []
    thread = threading.Thread(target=run_forever, args=(db, settings,
                              [("tick", lambda: ticks.append(time.time()), 0.3)], stop))
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (len(ticks) < 2 or not stored(db, "instagram")):
            time.sleep(0.1)
        assert len(ticks) >= 2
        assert stored(db, "x")
        assert stored(db, "instagram")
    finally:
        stop.set()
        thread.join(timeout=15)
        db.dispose()
    assert not thread.is_alive()


@pytest.mark.slow
def test_listen_foreground_stops_cleanly_on_sigterm(tmp_path: Path, sqlite_url: str,
                                                    sandbox: SandboxServer) -> None:
    sandbox.world.seed(40, seed=4, days=1.0)
    env = subprocess_env(carewatch_env(tmp_path, sandbox.base_url, sqlite_url))
    assert subprocess.run([*CLI, "init"], env=env, capture_output=True,
                          timeout=120).returncode == 0
    proc = subprocess.Popen([*CLI, "listen"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    db = open_database(sqlite_url)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not stored(db, "facebook"):
            time.sleep(0.2)
        assert stored(db, "facebook"), "the foreground listener stored nothing"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        assert "stopped" in err
    finally:
        if proc.poll() is None:
            proc.kill()
        db.dispose()
