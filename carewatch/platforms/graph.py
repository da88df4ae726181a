"""Facebook and Instagram: two specs on one Graph API, one facebook-sdk client, one page
token and one way of reading Graph errors.

facebook-sdk is imported where it is used: the registry is read by the settings every
command loads, and most commands never talk to the Graph API.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from carewatch.domain import Platform
from carewatch.errors import (
    MissingCredentials,
    PermanentError,
    PlatformError,
    RateLimited,
    TokenRevoked,
    TransientError,
)
from carewatch.platforms.base import (
    ApiRoute,
    ConversationRules,
    FieldRule,
    PlatformSpec,
    PrivateChannel,
    SourceKind,
    TextRule,
    secret,
)

GRAPH_TRANSIENT_CODES = {1, 2, 341}
GRAPH_RATE_LIMIT_CODES = {4, 17, 32, 613, 80001, 80002, 80004, 80005, 80006}
GRAPH_TOKEN_CODES = {190, 102}
GRAPH_ROUTES = (ApiRoute("https://graph.facebook.com/", "graph_api_url"),)


def check_credentials(settings: Any, *, writing: bool = False) -> str | None:
    """One page access token reads and writes for both Facebook and Instagram."""
    if not secret(settings, "fb_page_token"):
        return "Facebook and Instagram need a page access token: set CAREWATCH_FB_PAGE_TOKEN"
    return None


def graph_client(settings: Any, *, writing: bool = False) -> Any:
    """A facebook-sdk client on the configured Graph version (the library itself only accepts
    versions up to 3.1 in its constructor, so the version is set after construction)."""
    # Lazy, as the module docstring says: requests and facebook-sdk load on first client.
    import facebook

    from carewatch.platforms.session import platform_session

    problem = check_credentials(settings, writing=writing)
    if problem:
        raise MissingCredentials(problem)
    graph = facebook.GraphAPI(
        access_token=secret(settings, "fb_page_token"), timeout=settings.http_timeout,
        version="3.1", session=platform_session(settings, GRAPH_ROUTES),
    )
    graph.version = settings.graph_api_version
    return graph


def _graph_error_fields(exc: Any) -> dict[str, Any]:
    result = getattr(exc, "result", None)
    if isinstance(result, dict) and isinstance(result.get("error"), dict):
        error: dict[str, Any] = result["error"]
        return error
    return {"code": getattr(exc, "code", None), "message": str(exc)}


def classify_graph_error(exc: BaseException, who: str,
                         now: Callable[[], float] = time.time) -> PlatformError | None:
    """facebook-sdk's GraphAPIError in carewatch's vocabulary; None for anything else."""
    import facebook  # lazy: see the module docstring

    if not isinstance(exc, facebook.GraphAPIError):
        return None
    err = _graph_error_fields(exc)
    code = err.get("code")
    message = str(err.get("message") or exc)
    if code in GRAPH_TOKEN_CODES:
        return TokenRevoked(
            f"Graph API rejected the page token{who} (code {code}): {message}; "
            "generate a new page access token for the page and set "
            "CAREWATCH_FB_PAGE_TOKEN, then restart carewatch",
            code=code,
        )
    if code in GRAPH_RATE_LIMIT_CODES:
        return RateLimited(f"Graph API rate limit{who} (code {code}): {message}",
                           reset_at=now() + 60.0, code=code)
    if code in GRAPH_TRANSIENT_CODES or err.get("is_transient"):
        return TransientError(f"Graph API transient error{who} (code {code}): {message}",
                              code=code)
    if code is None and "Maintype" in message:
        return TransientError(f"Graph API sent an unreadable response{who}")
    return PermanentError(f"Graph API error{who} (code {code}): {message}", code=code)


#: The one private reply the Graph API allows per comment, within 7 days of it.
PRIVATE_REPLY = PrivateChannel("private reply", "private replies", one_per="comment",
                               comments_only=True, window=timedelta(days=7))
#: Messenger and Instagram Direct: 24 h after the customer's last message, or 7 days for a
#: person's answer with the HUMAN_AGENT tag.
MESSAGING = ConversationRules(response_window=timedelta(hours=24),
                              human_agent_window=timedelta(days=7), name="Messenger")
RECONNECT_HINT = ("generate a new page access token for the page (Meta Business Suite or "
                  "Graph API Explorer), set CAREWATCH_FB_PAGE_TOKEN, then restart carewatch")


def _texts(public: int, private: int) -> MappingProxyType[str, TextRule]:
    return MappingProxyType({"public": TextRule(public), "public_note": TextRule(public),
                             "private": TextRule(private), "message": TextRule(private)})


FACEBOOK = PlatformSpec(
    platform=Platform.FACEBOOK,
    label="Facebook",
    module="facebook",
    texts=_texts(8_000, 2_000),
    private=PRIVATE_REPLY,
    sources=(SourceKind("page", (FieldRule("page_id", "a facebook source needs 'page_id'"),),
                        account="Facebook page {page_id}", target_fields=("user_id", "page_id")),
             SourceKind("messenger", (FieldRule("page_id", "a facebook messenger source needs "
                                                           "'page_id'"),),
                        account="Messenger of Facebook page {page_id}",
                        target_fields=("page_id",), private=True)),
    default_kind="page",
    secrets=MappingProxyType({"fb_page_token": "Facebook page token"}),
    check_credentials=check_credentials,
    client=graph_client,
    classify_error=classify_graph_error,
    reconnect_hint=RECONNECT_HINT,
    api_routes=GRAPH_ROUTES,
    api_name="Graph API",
    api_version_setting="graph_api_version",
    handle_format=None,  # Facebook users have no public handle; they are called by name
    conversation=MESSAGING,
)

#: The same Graph API, token and rules, with Instagram's limits, sources and @handles.
INSTAGRAM = replace(
    FACEBOOK,
    platform=Platform.INSTAGRAM,
    label="Instagram",
    module="instagram",
    texts=_texts(2_200, 1_000),
    sources=(SourceKind("media", (FieldRule("ig_user_id",
                                            "an instagram source needs 'ig_user_id'"),),
                        account="Instagram account {ig_user_id}",
                        target_fields=("user_id", "page_id", "ig_user_id")),
             SourceKind("direct", (FieldRule("ig_user_id", "an instagram direct source needs "
                                                           "'ig_user_id'"),
                                   FieldRule("page_id", "an instagram direct source needs "
                                                        "'page_id' (the linked Facebook page)")),
                        account="Instagram Direct of account {ig_user_id}",
                        target_fields=("ig_user_id",), private=True)),
    default_kind="media",
    handle_format="@{handle}",
    conversation=replace(MESSAGING, name="Instagram Direct"),
)
