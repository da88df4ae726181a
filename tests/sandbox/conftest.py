"""Fixtures: one sandbox server per session, a fresh world per test, real clients on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import facebook
import pytest
import requests
import tweepy
from requests.adapters import HTTPAdapter

from sandbox.control import SandboxControl
from sandbox.limits import DEFAULT_GRAPH_LIMIT, DEFAULT_X_LIMITS
from sandbox.server import SandboxServer
from sandbox.world import World

PREFIXES = ("https://api.twitter.com", "https://api.x.com", "https://graph.facebook.com")


class RewriteAdapter(HTTPAdapter):
    """Sends requests for the real API hosts to the sandbox (the clients hard-code hosts)."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = request.url or ""
        for prefix in PREFIXES:
            if url.startswith(prefix):
                request.url = self.base_url + url[len(prefix):]
                break
        kwargs["timeout"] = kwargs.get("timeout") or self.timeout
        return super().send(request, **kwargs)


def rewriting_session(base_url: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    adapter = RewriteAdapter(base_url)
    for prefix in PREFIXES:
        session.mount(prefix + "/", adapter)
    return session


@pytest.fixture(scope="session")
def server() -> Iterator[SandboxServer]:
    with SandboxServer() as srv:
        yield srv


@pytest.fixture
def world(server: SandboxServer) -> World:
    """The server's world, emptied and back to default limits for each test."""
    w = server.world
    w.reset()
    w.restore()
    w.x_limits = dict(DEFAULT_X_LIMITS)
    w.graph_limit = DEFAULT_GRAPH_LIMIT
    w.set_limits({"reset_windows": True})
    return w


@pytest.fixture
def ctl(server: SandboxServer, world: World) -> SandboxControl:
    return SandboxControl(server.base_url)


@pytest.fixture
def session(server: SandboxServer) -> requests.Session:
    return rewriting_session(server.base_url)


@pytest.fixture
def x_app(session: requests.Session, world: World) -> tweepy.Client:
    client = tweepy.Client(bearer_token="app-token")
    client.session = session
    return client


@pytest.fixture
def x_user(session: requests.Session, world: World) -> tweepy.Client:
    client = tweepy.Client(consumer_key="ck", consumer_secret="cs",
                           access_token="1500000000000000000-abc", access_token_secret="ats")
    client.session = session
    return client


@pytest.fixture
def graph(session: requests.Session, world: World) -> facebook.GraphAPI:
    api = facebook.GraphAPI(access_token="page-token", session=session)
    api.version = "v21.0"
    return api
