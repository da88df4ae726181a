"""The `requests.Session` every platform client talks through, pointed at the configured
base URLs.

Neither tweepy nor facebook-sdk lets us choose its host, so each client gets a session with
an adapter mounted for its platform's official hosts (`PlatformSpec.api_routes`) that
rewrites the URL prefix to the configured base (`CAREWATCH_X_API_URL`,
`CAREWATCH_GRAPH_API_URL`) and sets a timeout (neither library sets one, so a request could
otherwise hang forever). Paths stay the official ones. The sandbox, a test double or the
real APIs all look the same to the rest of carewatch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from carewatch.platforms.base import ApiRoute

USER_AGENT = "carewatch/0.1"


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


def platform_session(settings: Any, routes: Iterable[ApiRoute]) -> requests.Session:
    """A session that routes each official host to the base URL its setting names."""
    session = requests.Session()
    session.trust_env = False
    session.headers["User-Agent"] = USER_AGENT
    for route in routes:
        session.mount(route.official, RewritingAdapter(
            route.official, getattr(settings, route.base_url_setting), settings.http_timeout))
    return session
