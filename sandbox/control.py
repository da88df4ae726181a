"""Python wrapper for the sandbox control API (``/_sandbox/...``), used by tests and demo."""

from __future__ import annotations

from typing import Any

import requests


class SandboxError(RuntimeError):
    """A control call failed; the message carries the sandbox's explanation."""


class SandboxControl:
    """Thin client: one method per control route, JSON in and out.

    ``trust_env`` is off so a proxy in the environment never intercepts loopback calls.
    """

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False

    def _call(self, method: str, path: str, json: Any = None,
              params: dict[str, Any] | None = None) -> Any:
        resp = self.session.request(method, f"{self.base_url}/_sandbox/{path.lstrip('/')}",
                                    json=json, params=params, timeout=self.timeout)
        if resp.status_code >= 400:
            raise SandboxError(f"{method} /_sandbox/{path}: {resp.status_code} {resp.text}")
        return resp.json()

    def _add(self, path: str, **item: Any) -> dict[str, Any]:
        """Create content: ``item`` is the route's JSON body, one key per parameter (times
        are ``created_at``, an absolute time, or ``ago``, seconds before the world's now)."""
        result: dict[str, Any] = self._call("POST", path, item)
        return result

    # world
    def health(self) -> bool:
        return bool(self._call("GET", "health").get("ok"))

    def reset(self) -> dict[str, Any]:
        return self._call("POST", "reset")

    def seed(self, count: int = 200, seed: int = 7, days: float = 3.0) -> dict[str, Any]:
        return self._call("POST", "seed", {"count": count, "seed": seed, "days": days})

    def generate(self, count: int = 1, seed: int | None = None) -> dict[str, Any]:
        return self._call("POST", "generate", {"count": count, "seed": seed})

    def live(self, rate_per_minute: float, answer_after: float | None = None) -> dict[str, Any]:
        """New items a minute (0 stops); customers answer the brand's private messages about
        ``answer_after`` seconds later (the sandbox's default when None)."""
        body: dict[str, Any] = {"rate_per_minute": rate_per_minute}
        if answer_after is not None:
            body["answer_after"] = answer_after
        return self._call("POST", "live", body)

    def advance_clock(self, seconds: float) -> float:
        return float(self._call("POST", "clock", {"advance": seconds})["now"])

    def state(self) -> dict[str, Any]:
        return self._call("GET", "state")

    # content
    def add_tweet(self, text: str, author: dict[str, Any] | None = None, *,
                  in_reply_to: str | int | None = None, created_at: Any = None,
                  ago: float | None = None, lang: str = "en", is_retweet: bool = False,
                  retweet_of: str | int | None = None, likes: int = 0) -> dict[str, Any]:
        """``author``: ``{"id", "username", "name", "followers", "dms_open"}`` (all optional)."""
        return self._add("x/tweets", text=text, author=author, in_reply_to=in_reply_to,
                         created_at=created_at, ago=ago, lang=lang, is_retweet=is_retweet,
                         retweet_of=retweet_of, likes=likes)

    def delete_tweet(self, tweet_id: str | int) -> dict[str, Any]:
        return self._call("DELETE", f"x/tweets/{tweet_id}")

    def add_dm(self, text: str, sender: dict[str, Any] | str, *, to: str | None = None,
               created_at: Any = None, ago: float | None = None) -> dict[str, Any]:
        """A direct message ``sender`` (a user id, a username or an author dict) wrote to
        ``to`` (a user id; the brand when omitted): e.g. the customer's side of a DM thread."""
        return self._add("x/dms", text=text, to=to, created_at=created_at, ago=ago,
                         **{"from": sender})

    def set_dm_lookup(self, enabled: bool) -> dict[str, Any]:
        """Off: the DM lookup answers 403 client-not-enrolled, as for an app without DM read
        access. A reset turns it back on."""
        return self._call("POST", "x/dm_lookup", {"enabled": enabled})

    def add_fb_post(self, text: str, author: dict[str, Any] | str = "page", *,
                    created_at: Any = None, ago: float | None = None) -> dict[str, Any]:
        """``author``: ``"page"`` or ``{"id", "name"}`` for a visitor post."""
        return self._add("facebook/posts", text=text, author=author, created_at=created_at,
                         ago=ago)

    def add_fb_comment(self, text: str, *, post_id: str | None = None,
                       parent_id: str | None = None, author: dict[str, Any] | str | None = None,
                       created_at: Any = None, ago: float | None = None) -> dict[str, Any]:
        return self._add("facebook/comments", text=text, post_id=post_id, parent_id=parent_id,
                         author=author, created_at=created_at, ago=ago)

    def add_ig_media(self, caption: str, author: dict[str, Any] | str = "brand", *,
                     created_at: Any = None, ago: float | None = None) -> dict[str, Any]:
        """``author``: ``"brand"`` or ``{"id", "username"}`` for media the brand is tagged in."""
        return self._add("instagram/media", caption=caption, author=author,
                         created_at=created_at, ago=ago)

    def add_ig_comment(self, text: str, *, media_id: str | None = None,
                       parent_id: str | None = None, author: dict[str, Any] | str | None = None,
                       created_at: Any = None, ago: float | None = None) -> dict[str, Any]:
        return self._add("instagram/comments", text=text, media_id=media_id,
                         parent_id=parent_id, author=author, created_at=created_at, ago=ago)

    def add_message(self, platform: str, text: str, sender: dict[str, Any] | str, *,
                    to: dict[str, Any] | str | None = None, created_at: Any = None,
                    ago: float | None = None) -> dict[str, Any]:
        """A Messenger (``platform="messenger"``) or Instagram Direct (``"instagram"``)
        message.  ``sender`` is the customer (a PSID/IGSID or ``{"id", "name"|"username"}``)
        writing to the brand, or ``"page"`` for the brand writing to the customer ``to``.
        Answers ``{"id", "conversation_id", "sender_id", "recipient_id", "thread_key"}``."""
        return self._add(f"{platform}/messages", text=text, to=to, created_at=created_at,
                         ago=ago, **{"from": sender})

    def age_conversation(self, conversation_id: str, seconds: float) -> dict[str, Any]:
        """Move a Messenger/Instagram conversation's messages ``seconds`` into the past."""
        return self._call("POST", f"conversations/{conversation_id}/age",
                          {"seconds": seconds})

    def delete_graph_object(self, object_id: str) -> dict[str, Any]:
        return self._call("DELETE", f"graph/{object_id}")

    # faults, tokens, limits
    def add_fault(self, match: str, kind: str, *, method: str | None = None, count: int = 1,
                  delay: float = 0.0, reset_after: float = 2.0) -> dict[str, Any]:
        return self._call("POST", "faults", {"match": match, "kind": kind, "method": method,
                                             "count": count, "delay": delay,
                                             "reset_after": reset_after})

    def clear_faults(self) -> dict[str, Any]:
        return self._call("DELETE", "faults")

    def revoke(self, platform: str, token: str | None = None) -> dict[str, Any]:
        return self._call("POST", "revoke", {"platform": platform, "token": token})

    def restore(self, platform: str | None = None) -> dict[str, Any]:
        return self._call("POST", "restore", {"platform": platform})

    def set_limits(self, **limits: Any) -> dict[str, Any]:
        return self._call("POST", "limits", limits)

    # webhooks
    def subscribe_webhooks(self, url: str, app_secret: str, *, verify_token: str | None = None,
                           duplicates: int = 0, max_attempts: int = 4) -> dict[str, Any]:
        """Deliver signed Meta webhooks to ``url`` (after Meta's verification request when
        ``verify_token`` is given); ``duplicates``: deliver the next N events twice (-1:
        all)."""
        return self._call("POST", "webhooks", {
            "url": url, "app_secret": app_secret, "verify_token": verify_token,
            "duplicates": duplicates, "max_attempts": max_attempts})

    def duplicate_webhooks(self, count: int = 1) -> dict[str, Any]:
        return self._call("POST", "webhooks/duplicate", {"count": count})

    def unsubscribe_webhooks(self) -> dict[str, Any]:
        return self._call("DELETE", "webhooks")

    def webhooks(self, idle_within: float | None = None) -> dict[str, Any]:
        """Delivery counters (``delivered``, ``failed``, ``attempts``, ``retried``,
        ``duplicated``, ``pending``), first waiting up to ``idle_within`` seconds for the
        queue to drain."""
        params = {"idle_within": idle_within} if idle_within is not None else None
        return self._call("GET", "webhooks", params=params)

    # observation
    def requests(self, path: str | None = None, method: str | None = None) -> list[dict]:
        params = {k: v for k, v in {"path": path, "method": method}.items() if v}
        return list(self._call("GET", "requests", params=params)["requests"])

    def clear_requests(self) -> dict[str, Any]:
        return self._call("DELETE", "requests")

    def sent(self, kind: str | None = None) -> list[dict[str, Any]]:
        return list(self._call("GET", "sent", params={"kind": kind} if kind else None)["sent"])
