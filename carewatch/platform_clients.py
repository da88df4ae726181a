"""The real platform clients (tweepy, facebook-sdk) pointed at the configured base URLs.

Neither library lets us choose its host, so each client gets a `requests.Session` with an
adapter mounted for the official hosts that rewrites the URL prefix to
`CAREWATCH_X_API_URL` / `CAREWATCH_GRAPH_API_URL` and sets a timeout (neither library sets one,
so a request could otherwise hang forever). Paths stay the official ones. The sandbox, a
test double or the real APIs all look the same to the rest of carewatch.
"""

from __future__ import annotations

from typing import Any

import facebook
import requests
import tweepy
from requests.adapters import HTTPAdapter

from carewatch.settings import Settings

X_HOSTS = ("https://api.twitter.com/", "https://api.x.com/")
GRAPH_HOSTS = ("https://graph.facebook.com/",)
USER_AGENT = "carewatch/0.1"


class MissingCredentials(Exception):
    """A client was asked for without the token it needs; the message names the variable."""


class RewritingAdapter(HTTPAdapter):
    """Sends requests for an official host to `base_url` instead, with a default timeout."""

    def __init__(self, official: str, base_url: str, timeout: float, **kwargs: Any) -> None:
        self.official = official
        self.base_url = base_url.rstrip("/") + "/"
        self.default_timeout = timeout
        super().__init__(**kwargs)

    def send(self, request: requests.PreparedRequest, stream: bool = False,
             timeout: float | tuple[float | None, float | None] | None = None,
             verify: bool | str = True, cert: str | tuple[str, str] | None = None,
             proxies: dict[str, str] | None = None) -> requests.Response:
        if request.url and request.url.startswith(self.official):
            request.url = self.base_url + request.url[len(self.official):]
        return super().send(request, stream=stream,
                            timeout=self.default_timeout if timeout is None else timeout,
                            verify=verify, cert=cert, proxies=proxies)


def platform_session(settings: Settings) -> requests.Session:
    """A session that routes X and Graph hosts to the configured bases."""
    session = requests.Session()
    session.trust_env = False
    session.headers["User-Agent"] = USER_AGENT
    for host in X_HOSTS:
        session.mount(host, RewritingAdapter(host, settings.x_api_url, settings.http_timeout))
    for host in GRAPH_HOSTS:
        session.mount(host, RewritingAdapter(host, settings.graph_api_url, settings.http_timeout))
    return session


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def x_client(settings: Settings, *, user_context: bool = False) -> tweepy.Client:
    """A tweepy v2 client: app-only (bearer) for reading, or OAuth 1.0a user context for
    replies and direct messages. Rate limits are handled by carewatch.retry, not tweepy."""
    bearer = _secret(settings.x_bearer_token)
    user_keys = {
        "consumer_key": _secret(settings.x_consumer_key),
        "consumer_secret": _secret(settings.x_consumer_secret),
        "access_token": _secret(settings.x_access_token),
        "access_token_secret": _secret(settings.x_access_token_secret),
    }
    if user_context:
        missing = [f"CAREWATCH_X_{k.upper()}" for k, v in user_keys.items() if not v]
        if missing:
            raise MissingCredentials(
                "X replies and direct messages need user-context credentials: set "
                + ", ".join(missing)
            )
    elif not bearer and not all(user_keys.values()):
        raise MissingCredentials(
            "X listening needs a token: set CAREWATCH_X_BEARER_TOKEN "
            "(or the four CAREWATCH_X_CONSUMER_*/ACCESS_TOKEN* user-context keys)"
        )
    client = tweepy.Client(bearer_token=bearer, wait_on_rate_limit=False, **user_keys)
    client.session = platform_session(settings)
    client.user_agent = USER_AGENT
    return client


def graph_client(settings: Settings) -> facebook.GraphAPI:
    """A facebook-sdk client on the configured Graph version (the library itself only accepts
    versions up to 3.1 in its constructor, so the version is set after construction)."""
    token = _secret(settings.fb_page_token)
    if not token:
        raise MissingCredentials(
            "Facebook and Instagram need a page access token: set CAREWATCH_FB_PAGE_TOKEN"
        )
    graph = facebook.GraphAPI(
        access_token=token, timeout=settings.http_timeout, version="3.1",
        session=platform_session(settings),
    )
    graph.version = settings.graph_api_version
    return graph
