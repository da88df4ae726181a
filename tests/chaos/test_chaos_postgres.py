"""Several processes, one PostgreSQL database, kill -9 at random moments: nothing lost,
nothing twice, no source polled by two processes at once.

Three `carewatch listen`, three `carewatch respond` and one `carewatch webhooks` run as real
processes against one fresh PostgreSQL database and the sandbox, which keeps generating
public and private traffic on X, Facebook and Instagram (all seven source kinds) and
delivers Meta webhooks to the receiver. Meanwhile the test queues replies and moves to
private, the sandbox answers some writes and reads with faults (5xx, answers lost after the
write, answers later than the client waits), and a chaos thread kills a random process with
-9 every few seconds and starts it again. At the end traffic stops, every process is asked
to stop, and the work left is drained (`respond` with the leases of the dead expired, then
`listen --once`). Then:

- every item the sandbox holds is stored exactly once, by (platform, external_id);
- every queued message reached the sandbox exactly once, or was failed with a reason (and
  reached it not at all, or once where it could not be checked and the reason says where
  to look); nothing is left queued or claimed;
- no two processes polled one source at the same time (`tests/chaos/evidence.py`: the
  listeners' poll spans, checked against the sandbox's per-process request log).

The random choices come from one seed, printed at the start; `CAREWATCH_CHAOS_SEED=N`
replays a run's choices (process timing still varies).
"""

from __future__ import annotations

import os
import random
import re
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import false, func, select

from carewatch.settings import Settings, load_settings
from responders.outbox import lease_for, run_due
from responders.queue import queue_move_private, queue_reply
from responders.rules import RuleViolation
from sandbox.control import SandboxControl
from sandbox.server import SandboxServer
from storage.db import Database, open_database
from storage.models import Mention, Reply, utcnow
from tests.chaos.cluster import Cluster, Spawn
from tests.chaos.evidence import misplaced_requests, overlaps, poll_spans
from tests.listener.conftest import carewatch_env
from tests.listener.helpers import (
    CLI,
    CONTRACT_TOML,
    PRIVATE_SOURCES_TOML,
    X_USER_CONTEXT,
    expected_facebook,
    expected_instagram,
    expected_x,
    stored_pairs,
    subprocess_env,
)
from tests.listener.webhook_helpers import APP_SECRET, VERIFY_TOKEN
from tests.receivers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CHAOS_SECONDS = 40.0
EVERY = "2s"
LEASE_SECONDS = "3"
HTTP_TIMEOUT = 2.0
LIVE_PER_MINUTE = 60
MIN_UP = 2.0
ROLES = {"listen": 3, "respond": 3, "webhooks": 1}
MARKER = re.compile(r"\(case (cw\d+[mpn])\)")
TWEETS = r"^/2/tweets$"
DM_POST = r"^/2/dm_conversations/with/\d+/messages$"
GRAPH_WRITE = r"^/v\d+\.\d+/\d+(_\d+)?/(comments|replies|messages)$"
#: (path, kind, method, delay): what the sandbox does wrong now and then. Writes fail before
#: (5xx) or after they happen (`drop_response`: stored, then 503), or X takes a reply after
#: the client stopped waiting (`slow`); reads fail and are retried.
FAULTS = [
    (TWEETS, "504", "POST", 0.0),
    (TWEETS, "drop_response", "POST", 0.0),
    (TWEETS, "slow", "POST", HTTP_TIMEOUT + 0.5),
    (DM_POST, "502", "POST", 0.0),
    (DM_POST, "drop_response", "POST", 0.0),
    (GRAPH_WRITE, "500", "POST", 0.0),
    (GRAPH_WRITE, "504", "POST", 0.0),
    (GRAPH_WRITE, "drop_response", "POST", 0.0),
    ("/2/tweets/search/recent", "500", "GET", 0.0),
    (r"^/2/users/\d+/mentions$", "503", "GET", 0.0),
    (r"^/v\d+\.\d+/\d+/conversations$", "502", "GET", 0.0),
    ("/2/tweets/search/recent", "slow", "GET", 1.5),  # long polls, to be killed in
    (r"^/v\d+\.\d+/\d+/(feed|conversations)$", "slow", "GET", 1.5),
    ("/2/dm_events", "slow", "GET", 1.5),
]


def _toml() -> str:
    body = CONTRACT_TOML + PRIVATE_SOURCES_TOML
    return re.sub(r'every = "\d+s"', f'every = "{EVERY}"', body)


@dataclass
class Run:
    """What the background threads did, for the report and the checks."""

    rng: random.Random
    stop: threading.Event = field(default_factory=threading.Event)
    queued: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    kills: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pick(self, items: list[Any]) -> Any:
        with self.lock:
            return self.rng.choice(items)

    def wait(self, low: float, high: float) -> bool:
        with self.lock:
            pause = self.rng.uniform(low, high)
        return self.stop.wait(pause)


def _queue_replies(run: Run, db: Database, settings: Settings) -> None:
    """Queue a reply, a message or a move to private to a random open item, every ~0.6 s."""
    while not run.wait(0.3, 0.9):
        with db.session() as session:
            candidates = session.execute(
                select(Mention.platform, Mention.external_id, Mention.visibility)
                .where(Mention.is_own.is_(False), Mention.is_echo.is_(false()),
                       Mention.status == "new")
                .order_by(func.random()).limit(5)).all()
        for platform, external_id, visibility in candidates:
            n = run.queued
            ref = f"{platform}:{external_id}"
            text = "Sorry for the trouble, we are on it"
            try:
                if visibility == "private" or run.pick([True, False]):
                    queue_reply(db, settings, ref, f"{text} (case cw{n}m)", agent="alice")
                else:
                    note = run.pick([None, f"We sent you a message (case cw{n}n)"])
                    queue_move_private(db, settings, ref, f"{text} (case cw{n}p)",
                                       public_note=note, agent="alice")
            except RuleViolation as exc:
                run.refused[str(exc)[:60]] += 1
                continue
            run.queued += 1
            break


def _faults(run: Run, control: SandboxControl) -> None:
    while not run.wait(0.8, 2.0):
        path, kind, method, delay = run.pick(FAULTS)
        control.add_fault(path, kind, method=method, delay=delay)
        run.faults[f"{method} {kind}"] += 1


def _chaos(run: Run, cluster: Cluster) -> None:
    """Every 1-3 s, kill -9 a process and start another in its place: the roles take turns
    in a shuffled order, the victim is a random one of its role that is up and working (so
    it dies mid-task rather than while importing). Notes any process that died on its own."""
    deck: list[str] = []
    while not run.wait(1.0, 3.0):
        for spawn in cluster.live():
            if spawn.proc.poll() is not None:
                spawn.died = time.time()
                run.problems.append(f"{spawn.name} exited by itself ({spawn.proc.returncode}):"
                                    f" {spawn.log_path.read_text()[-800:]}")
                cluster.start(spawn.role, spawn.slot)
        if not deck:
            deck = sorted(ROLES)
            with run.lock:
                run.rng.shuffle(deck)
        working = [s for s in cluster.live() if s.ready() and time.time() - s.started >= MIN_UP]
        turn = next((role for role in deck if any(s.role == role for s in working)), None)
        if turn is None:
            continue
        victim: Spawn = run.pick([s for s in working if s.role == turn])
        deck.remove(turn)
        cluster.restart(victim)
        run.kills[victim.role] += 1
        print(f"{time.strftime('%X')} kill -9 {victim.name}", flush=True)


def _wait_ready(cluster: Cluster, timeout: float = 180.0) -> None:
    """Until every process has started working (slow on a loaded machine)."""
    deadline = time.monotonic() + timeout
    while not all(s.ready() for s in cluster.live()):
        assert time.monotonic() < deadline, [s.name for s in cluster.live() if not s.ready()]
        time.sleep(0.2)


def _wait_listening(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"the webhook receiver did not listen on {port}")


@pytest.fixture
def chaos_seed() -> int:
    seed = int(os.environ.get("CAREWATCH_CHAOS_SEED") or random.SystemRandom().randrange(10**6))
    print(f"chaos seed: {seed} (CAREWATCH_CHAOS_SEED={seed} replays its choices)")
    return seed


@pytest.fixture
def cluster(tmp_path: Path, postgres_url: str) -> Iterator[tuple[Cluster, SandboxServer]]:
    with SandboxServer(extra_ports=120) as sandbox:
        env = subprocess_env({
            **carewatch_env(tmp_path, sandbox.base_url, postgres_url, _toml()),
            **X_USER_CONTEXT,
            "CAREWATCH_META_APP_SECRET": APP_SECRET, "CAREWATCH_META_VERIFY_TOKEN": VERIFY_TOKEN,
            "CAREWATCH_LEASE_SECONDS": LEASE_SECONDS,
            "CAREWATCH_HTTP_TIMEOUT": str(HTTP_TIMEOUT),
            "CAREWATCH_LOG_JSON": "1", "CAREWATCH_LOG_LEVEL": "INFO"})
        workdir = tmp_path / "logs"
        workdir.mkdir()
        running = Cluster(env, list(sandbox.extra_base_urls), workdir, free_port())
        try:
            yield running, sandbox
        finally:
            running.close()


def _in_process_settings(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The configuration the processes have, for the test's own queueing and draining,
    on a sandbox port of its own."""
    for key in list(os.environ):
        if key.startswith("CAREWATCH_"):
            monkeypatch.delenv(key)
    base = cluster.base_urls.pop(0)
    for key, value in cluster.env.items():
        if key.startswith("CAREWATCH_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("CAREWATCH_X_API_URL", base)
    monkeypatch.setenv("CAREWATCH_GRAPH_API_URL", base)
    return load_settings(cluster.env["CAREWATCH_CONFIG"])


def _drain_replies(db: Database, settings: Settings) -> None:
    """Send what is left, as a responder would once the dead processes' leases ran out
    (the responder's documented clock shift stands in for waiting them out)."""
    for round_ in range(1, 8):
        later = utcnow() + lease_for(settings) * round_ + timedelta(seconds=5)
        if not run_due(db, settings, now=later, limit=10_000).outcomes:
            return


def _expected_items(sandbox: SandboxServer) -> set[tuple[str, str]]:
    """Everything the sandbox holds that the seven sources must have stored."""
    world = sandbox.world
    with world.lock:
        expected = {("x", i) for i in expected_x(world)}
        expected |= {("facebook", i) for i in expected_facebook(world)}
        expected |= {("instagram", i) for i in expected_instagram(world)}
        expected |= {("x", str(e.id)) for e in world.dm_events}
        expected |= {("facebook" if m.platform == "messenger" else "instagram", m.id)
                     for m in world.graph_messages.values()}
    return expected


def test_three_listeners_three_responders_and_the_receiver_survive_kill_9(
        cluster: tuple[Cluster, SandboxServer], postgres_url: str, chaos_seed: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    procs, sandbox = cluster
    run = Run(random.Random(chaos_seed))
    control = SandboxControl(sandbox.base_url)
    sandbox.world.seed(40, seed=chaos_seed % 1000, days=1.0)
    init = subprocess.run([*CLI, "init"], env=procs.env, capture_output=True, text=True,
                          timeout=120)
    assert init.returncode == 0, init.stderr
    settings = _in_process_settings(procs, monkeypatch)
    db = open_database(postgres_url)
    try:
        receiver = procs.start("webhooks", 0)
        _wait_listening(procs.webhook_port)
        control.subscribe_webhooks(f"http://127.0.0.1:{procs.webhook_port}/webhooks/meta",
                                   APP_SECRET, max_attempts=12)
        assert receiver.alive
        for role in ("listen", "respond"):
            for slot in range(ROLES[role]):
                procs.start(role, slot)
        _wait_ready(procs)
        sandbox.app.state.live.start(LIVE_PER_MINUTE, answer_after=3.0)
        threads = [threading.Thread(target=target, args=args, daemon=True) for target, args in (
            (_queue_replies, (run, db, settings)), (_faults, (run, control)),
            (_chaos, (run, procs)))]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        run.stop.wait(CHAOS_SECONDS)
        run.stop.set()
        for thread in threads:
            thread.join(timeout=60)
        sandbox.app.state.live.stop()
        sandbox.app.state.webhooks.wait_idle(15)
        control.unsubscribe_webhooks()
        control.clear_faults()
        procs.stop_all()
        chaos_for = time.monotonic() - started

        _drain_replies(db, settings)
        once = procs.start("listen", 9, "--once")
        once.proc.wait(timeout=120)
        once.died = time.time()
        assert once.proc.returncode == 0, once.log_path.read_text()[-3000:]

        # ---- every item once
        pairs = stored_pairs(db)
        assert max(Counter(pairs).values()) == 1
        expected = _expected_items(sandbox)
        assert sorted(expected - set(pairs)) == [], "items the sandbox holds were not stored"
        # ---- every message once
        sent = Counter(m.group(1) for entry in control.sent()
                       for m in [MARKER.search(str(entry.get("text") or ""))] if m)
        with db.session() as session:
            replies = list(session.execute(select(Reply)).scalars())
        markers = {MARKER.search(r.text).group(1): r for r in replies}  # type: ignore[union-attr]
        assert len(markers) == len(replies) == run.queued + sum(
            1 for r in replies if r.kind == "public_note")
        twice = {m: n for m, n in sent.items() if n > 1}
        assert twice == {}, "sent more than once"
        assert set(sent) <= set(markers), "the sandbox got messages nobody queued"
        states = Counter(r.state for r in replies)
        why_failed = Counter((r.last_error or "")[:90] for r in replies if r.state == "failed")
        for marker, reply in markers.items():
            if reply.state == "sent":
                assert sent[marker] == 1, f"reply {marker} is recorded sent but never arrived"
            else:
                assert reply.state == "failed", f"{marker} left {reply.state}"
                assert reply.last_error, f"{marker} failed without a reason"
                # Failed although it arrived: only where it could not be checked, and then
                # the reason says where to look (an agent must not simply queue it again).
                assert not sent[marker] or "look at" in reply.last_error, (
                    f"{marker} arrived but is recorded failed: {reply.last_error}")
        # ---- no overlapping polls
        spans = poll_spans(procs.spawns)
        search_key = next(s.key for s in settings.sources if s.key.startswith("x:search:"))
        # Both sides at once, so a failure shows what each saw.
        evidence = {"overlapping polls (listener logs)": overlaps(spans),
                    "requests outside their own poll (sandbox log)": misplaced_requests(
                        spans, control.requests(), procs.by_port(), search_key)}
        assert evidence == {key: [] for key in evidence}
        assert run.problems == []
        pollers = {src.key: Counter(s.spawn for s in spans if s.source == src.key)
                   for src in settings.sources}
        print(f"chaos {chaos_for:.0f}s: kills {dict(run.kills)}, faults {dict(run.faults)}, "
              f"queued {run.queued} (+notes), replies {dict(states)} {dict(why_failed)}, refused "
              f"{dict(run.refused)}, items {len(pairs)}, polls {len(spans)} "
              f"({sum(not s.ended for s in spans)} cut by kill -9), webhooks "
              f"{control.webhooks()}, pollers {pollers}")
        # The run did what it says: every kind of process was killed, every source polled
        # by several processes, replies on every platform sent.
        assert set(run.kills) == set(ROLES), run.kills
        assert all(len(by) >= 2 for by in pollers.values()), pollers
        with db.session() as session:
            answered = set(session.execute(
                select(Mention.platform).join(Reply, Reply.mention_pk == Mention.id)
                .where(Reply.state == "sent")).scalars())
        assert answered == {"x", "facebook", "instagram"}
    finally:
        db.dispose()

