"""`carewatch webhooks` as users run it, and a delivered item meeting the next poll: the real
sandbox, the real CLI (in-process and as a subprocess), a real database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from carewatch.domain import conversation_key
from carewatch.settings import load_settings
from listener.ingest import Ingestor
from listener.webhooks.app import PATH, create_app
from listener.webhooks.server import ReceiverServer
from sandbox.server import SandboxServer
from storage.db import Database
from storage.models import Mention
from tests.listener.conftest import CliRunner
from tests.listener.helpers import BRAND_IG, BRAND_PAGE
from tests.listener.webhook_helpers import APP_SECRET, VERIFY_TOKEN, messaging_body, signed
from tests.receivers import free_port

SECRETS = {"CAREWATCH_META_APP_SECRET": APP_SECRET, "CAREWATCH_META_VERIFY_TOKEN": VERIFY_TOKEN}
ROOT = Path(__file__).resolve().parents[2]


def _http() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def _shape(db: Database, external_id: str) -> list[tuple[Any, ...]]:
    with db.session() as session:
        return [(m.platform, m.external_id, m.text, m.thread_id, m.parent_id, m.is_own,
                 m.visibility, m.created_at.timestamp(), m.author.external_id)
                for m in session.scalars(select(Mention).where(
                    Mention.external_id == external_id))]


def test_without_the_app_secret_the_command_exits_2(make_env: Callable[..., dict[str, str]],
                                                    sqlite_url: str, cli: CliRunner) -> None:
    make_env(sqlite_url)
    code, err = cli("webhooks", "--port", "0")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert "CAREWATCH_META_APP_SECRET" in lines[0]


def test_a_taken_port_exits_2(make_env: Callable[..., dict[str, str]], sqlite_url: str,
                              cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    make_env(sqlite_url)
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    assert cli("init")[0] == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        code, err = cli("webhooks", "--port", str(taken.getsockname()[1]))
    assert code == 2
    assert "cannot receive webhooks" in err


def test_the_command_answers_within_a_second(make_env: Callable[..., dict[str, str]],
                                             database_url: str, cli: CliRunner,
                                             open_db: Callable[[str], Database]) -> None:
    env = make_env(database_url)
    assert cli("init")[0] == 0
    port = free_port()
    url = f"http://127.0.0.1:{port}{PATH}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "carewatch", "webhooks", "--port", str(port)],
        env={**os.environ, **env, **SECRETS, "CAREWATCH_LOG_LEVEL": "DEBUG"},
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    http = _http()
    text = "Flight AC 99 delayed again, my card ending 4242 was charged twice"
    try:
        deadline = time.monotonic() + 60
        challenge = {"hub.mode": "subscribe", "hub.challenge": "8123",
                     "hub.verify_token": VERIFY_TOKEN}
        while True:
            assert proc.poll() is None, proc.communicate()[1].decode()
            try:
                answer = http.get(url, params=challenge, timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the receiver did not start"
                time.sleep(0.2)
        assert (answer.status_code, answer.text) == (200, "8123")
        timings = []
        for i in range(3):
            raw, headers = signed(messaging_body(
                f"m_cli{i}", text, sender="7200000000000001", recipient=BRAND_PAGE,
                ms=int(time.time() * 1000)))
            started = time.perf_counter()
            assert http.post(url, data=raw, headers=headers, timeout=5).status_code == 200
            timings.append(time.perf_counter() - started)
        forged_raw, _ = signed(b"{}")
        assert http.post(url, data=forged_raw, headers={
            "X-Hub-Signature-256": "sha256=00"}, timeout=5).status_code == 403
    finally:
        proc.terminate()
        _out, err_bytes = proc.communicate(timeout=20)
    assert max(timings) < 1.0, timings
    db = open_db(database_url)
    shape = _shape(db, "m_cli0")
    assert len(shape) == 1
    assert shape[0][3] == conversation_key(BRAND_PAGE, "7200000000000001")
    assert shape[0][6] == "private"
    logged = err_bytes.decode()
    assert "webhook_stored" in logged
    assert "webhook_refused" in logged
    for leak in (APP_SECRET, VERIFY_TOKEN, "4242", "AC 99"):
        assert leak not in logged


def test_a_delivered_comment_and_the_next_poll_are_one_row(
        make_env: Callable[..., dict[str, str]], database_url: str, sqlite_url: str,
        sandbox: SandboxServer, cli: CliRunner, open_db: Callable[[str], Database],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    world = sandbox.world
    post = world.add_fb_post("Our new route to Lisbon starts Monday!", created_at=world.now() - 600)
    top = world.add_fb_comment("My booking for Monday vanished from the app", post_id=post.id,
                               author={"id": "810000000000001", "name": "Rita Sousa"})
    media = world.add_ig_media("Sunset over the wing", created_at=world.now() - 600)
    ig = world.add_ig_comment("Lost my stroller at the gate, help", media_id=media.id,
                              author={"id": "920000000000001", "username": "rita.s"})
    feed_body = {"object": "page", "entry": [{"id": BRAND_PAGE, "time": int(top.created),
                                              "changes": [{"field": "feed", "value": {
        "item": "comment", "verb": "add", "comment_id": top.id, "post_id": post.id,
        "parent_id": post.id, "from": {"id": top.from_id, "name": top.from_name},
        "message": top.message, "created_time": int(top.created)}}]}]}
    ig_body = {"object": "instagram", "entry": [{"id": BRAND_IG, "time": int(ig.created),
                                                 "changes": [{"field": "comments", "value": {
        "from": {"id": ig.from_id, "username": ig.username}, "media": {"id": media.id},
        "id": ig.id, "text": ig.text}}]}]}

    # Only polled, into a second store: the shape a poll gives.
    make_env(sqlite_url.replace("carewatch.db", "polled.db"))
    assert cli("init")[0] == 0
    assert cli("listen", "--once")[0] == 0
    polled = open_db(sqlite_url.replace("carewatch.db", "polled.db"))

    # Delivered first, then polled.
    make_env(database_url)
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    assert cli("init")[0] == 0
    db = open_db(database_url)
    settings = load_settings(None)
    with ReceiverServer(create_app(Ingestor(db, settings), settings)) as receiver:
        http = _http()
        for body in (feed_body, ig_body):
            raw, headers = signed(body)
            assert http.post(receiver.url, data=raw, headers=headers, timeout=5).status_code == 200
    delivered = {i: _shape(db, i) for i in (top.id, ig.id)}
    assert cli("listen", "--once")[0] == 0
    for item in (top.id, ig.id):
        after = _shape(db, item)
        assert len(after) == 1
        assert after == delivered[item]
        # Same text, thread, parent, author and visibility as a poll alone stores (a comment
        # webhook carries its time in whole seconds, as Graph does).
        [(*fields, at, author)] = after
        [(*poll_fields, poll_at, poll_author)] = _shape(polled, item)
        assert (fields, author) == (poll_fields, poll_author)
        assert abs(at - poll_at) < 1.0


def test_an_alert_a_delivery_raises_is_notified_without_a_listener(
        make_env: Callable[..., dict[str, str]], database_url: str, cli: CliRunner) -> None:
    """`carewatch webhooks` alone (no `listen` running): a delivered message about smoke in
    the cabin raises a risk_words alert, and the [[notify]] webhook gets it, once."""
    from tests.listener.helpers import CONTRACT_TOML
    from tests.receivers import webhook_server

    with webhook_server() as (hook, hook_url):
        env = make_env(database_url, CONTRACT_TOML + f'\n[[notify]]\nkind = "webhook"\n'
                                                    f'url = "{hook_url}"\n')
        assert cli("init")[0] == 0
        port = free_port()
        url = f"http://127.0.0.1:{port}{PATH}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "carewatch", "webhooks", "--port", str(port)],
            env={**os.environ, **env, **SECRETS}, cwd=ROOT, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        http = _http()
        try:
            deadline = time.monotonic() + 60
            raw, headers = signed(messaging_body(
                "m_smoke1", "There is smoke in the cabin and an engine fire, we are scared",
                sender="7200000000000009", recipient=BRAND_PAGE, ms=int(time.time() * 1000)))
            while True:
                assert proc.poll() is None, proc.communicate()[1].decode()
                try:
                    answer = http.post(url, data=raw, headers=headers, timeout=5)
                    break
                except requests.ConnectionError:
                    assert time.monotonic() < deadline, "the receiver did not start"
                    time.sleep(0.2)
            assert answer.status_code == 200
            deadline = time.monotonic() + 30
            while not hook.texts() and time.monotonic() < deadline:
                time.sleep(0.3)
            time.sleep(6)  # another notifier round: nothing sent twice
        finally:
            proc.terminate()
            proc.communicate(timeout=20)
        texts = hook.texts()
        assert len(texts) == 1, texts
        assert "risk_words" in texts[0]
