"""X (Twitter) API v2: its spec, its tweepy client and how tweepy's errors read.

tweepy and twitter-text are imported where they are used: the registry is read by the
settings every command loads, and most commands never talk to X.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
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

#: OAuth 1.0a user context: needed for replies and direct messages.
USER_KEYS = ("x_consumer_key", "x_consumer_secret", "x_access_token", "x_access_token_secret")


def x_weighted_length(text: str) -> int:
    """X's own count: URLs are 23, CJK and emoji weigh 2 (twitter-text-parser)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # twitter-text warns on import
        from twitter_text import parse_tweet  # lazy: see the module docstring

        return int(parse_tweet(text).weightedLength)


def check_credentials(settings: Any, *, writing: bool = False) -> str | None:
    """Reading takes the app-only bearer token or the user-context keys; writing (replies,
    direct messages) takes the user-context keys."""
    user_keys = {name: secret(settings, name) for name in USER_KEYS}
    if writing:
        missing = [f"CAREWATCH_{name.upper()}" for name, value in user_keys.items() if not value]
        if missing:
            return ("X replies and direct messages need user-context credentials: set "
                    + ", ".join(missing))
        return None
    if not secret(settings, "x_bearer_token") and not all(user_keys.values()):
        return ("X listening needs a token: set CAREWATCH_X_BEARER_TOKEN "
                "(or the four CAREWATCH_X_CONSUMER_*/ACCESS_TOKEN* user-context keys)")
    return None


def x_client(settings: Any, *, writing: bool = False) -> Any:
    """A tweepy v2 client: app-only (bearer) for reading, or OAuth 1.0a user context for
    replies and direct messages. Rate limits are handled by carewatch.retry, not tweepy."""
    # Lazy, as the module docstring says: requests and tweepy load on first client.
    import tweepy

    from carewatch.platforms.session import USER_AGENT, platform_session

    problem = check_credentials(settings, writing=writing)
    if problem:
        raise MissingCredentials(problem)
    user_keys = {name.removeprefix("x_"): secret(settings, name) for name in USER_KEYS}
    client = tweepy.Client(bearer_token=secret(settings, "x_bearer_token"),
                           wait_on_rate_limit=False, **user_keys)
    client.session = platform_session(settings, X.api_routes)
    client.user_agent = USER_AGENT
    return client


def classify_x_error(exc: BaseException, who: str,
                     now: Callable[[], float] = time.time) -> PlatformError | None:
    """tweepy's exceptions in carewatch's vocabulary; None for anything else."""
    import tweepy  # lazy: see the module docstring

    if isinstance(exc, tweepy.TooManyRequests):
        reset = float(exc.reset_time) if exc.reset_time else now() + 60.0
        return RateLimited(f"X rate limit reached{who}; resets at {int(reset)}", reset_at=reset)
    if isinstance(exc, tweepy.Unauthorized):
        return TokenRevoked(
            f"X rejected the token{who} (401 Unauthorized): it was revoked or is wrong; "
            "create a new token in the X developer portal and set CAREWATCH_X_BEARER_TOKEN "
            "(or the CAREWATCH_X_ACCESS_TOKEN* keys), then restart carewatch",
            code=401,
        )
    if isinstance(exc, tweepy.TwitterServerError):
        return TransientError(f"X server error {exc.response.status_code}{who}",
                              code=exc.response.status_code)
    if isinstance(exc, tweepy.HTTPException):
        detail = "; ".join(str(m) for m in (exc.api_messages or [])) or exc.response.reason
        return PermanentError(f"X refused the request{who} ({exc.response.status_code}): "
                              f"{detail}", code=exc.response.status_code)
    return None


_PUBLIC = TextRule(280, x_weighted_length, "weighted characters",
                   " as X counts it (URLs 23, emoji and CJK 2 each)")

X = PlatformSpec(
    platform=Platform.X,
    label="X",
    module="x",
    texts=MappingProxyType({"public": _PUBLIC, "public_note": _PUBLIC,
                            "private": TextRule(10_000), "message": TextRule(10_000)}),
    private=PrivateChannel("direct message", "direct messages", one_per="mention",
                           to_author=True),
    sources=(
        SourceKind("search", (FieldRule("query", "an X search source needs 'query'", 512,
                                        "an X search 'query' is limited to 512 characters"),),
                   account="X search {query}", target_fields=("query",),
                   hashed_target=True, chosen_by="query"),
        SourceKind("mentions", (FieldRule("user_id", "an X mentions source needs 'user_id' "
                                                     "(the brand account's id)"),),
                   account="X account {user_id}", target_fields=("user_id",)),
        SourceKind("dms", (FieldRule("user_id", "an X dms source needs 'user_id' "
                                                "(the brand account's id)"),),
                   account="X direct messages of account {user_id}",
                   target_fields=("user_id",), private=True, reads_as_user=True,
                   reconnect_hint=("create new access tokens for the brand account in the X "
                                   "developer portal, set CAREWATCH_X_ACCESS_TOKEN and "
                                   "CAREWATCH_X_ACCESS_TOKEN_SECRET, then restart carewatch")),
    ),
    default_kind="mentions",
    secrets=MappingProxyType({
        "x_bearer_token": "X bearer token", "x_consumer_key": "X consumer key",
        "x_consumer_secret": "X consumer secret", "x_access_token": "X access token",
        "x_access_token_secret": "X access token secret"}),
    check_credentials=check_credentials,
    client=x_client,
    classify_error=classify_x_error,
    reconnect_hint=("create a new token in the X developer portal, set "
                    "CAREWATCH_X_BEARER_TOKEN, then restart carewatch"),
    api_routes=(ApiRoute("https://api.twitter.com/", "x_api_url"),
                ApiRoute("https://api.x.com/", "x_api_url")),
    api_name="X API",
    url_format="https://x.com/{handle}/status/{id}",
    url_format_without_handle="https://x.com/i/web/status/{id}",
    conversation=ConversationRules(name="X direct message"),
)
