"""tweepy's debug log of each response no longer formats the page's body while that log is
off (listener.sources.x `quiet_response_log`): the real tweepy client, over HTTP, against the
sandbox. The first test fails if the workaround stops applying (requests no longer keeps the
hook's body, or tweepy stops formatting it eagerly, which would make the workaround moot)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from listener.sources import x as x_source
from listener.sources.x import XSource
from sandbox.server import SandboxServer
from tests.listener.helpers import polled, x_search_source

TWEETS = 150  # two pages of X search


def _source(sandbox: SandboxServer) -> XSource:
    for i in range(TWEETS):
        sandbox.world.add_tweet(f"@acmeair where is my bag {i}?", {"username": f"cust{i % 7}"},
                                created_at=sandbox.world.now() - 3600 + i)
    source: XSource = x_search_source(sandbox.base_url)
    return source


_poll = polled


def test_tweepy_formats_each_body_briefly_while_its_debug_log_is_off(
        sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tweepy.client")
    formatted: list[tuple[int, str]] = []
    brief = x_source._LoggedContent.__format__

    def counted(self: bytes, spec: str) -> str:
        text = brief(self, spec)  # type: ignore[arg-type]
        formatted.append((len(self), text))
        return text

    monkeypatch.setattr(x_source._LoggedContent, "__format__", counted)
    source = _source(sandbox)
    bodies: list[Any] = []
    source.client.session.hooks["response"].append(lambda r, *a, **k: bodies.append(r.content))
    mentions = _poll(source)
    assert len(mentions) == TWEETS
    assert [m.text for m in mentions][:1] == [f"@acmeair where is my bag {TWEETS - 1}?"]
    # every page's body reached tweepy as _LoggedContent, and tweepy's f-string formatted
    # each exactly once, briefly, instead of the body's repr
    assert len(bodies) == 2
    assert all(type(b) is x_source._LoggedContent for b in bodies)
    assert [n for n, _ in formatted] == [len(b) for b in bodies]
    assert all(text.startswith(f"<{n} bytes") and "bag" not in text for n, text in formatted)
    assert not [r for r in caplog.records if r.name == "tweepy.client"]


def test_tweepys_debug_log_shows_the_body_when_on(sandbox: SandboxServer,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="tweepy.client")
    mentions = _poll(_source(sandbox))
    assert len(mentions) == TWEETS
    received = [r.getMessage() for r in caplog.records
                if r.name == "tweepy.client" and "Received API response" in r.getMessage()]
    assert len(received) == 2
    assert all("Content: b'{" in text and "where is my bag" in text for text in received)
