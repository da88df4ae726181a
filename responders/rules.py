"""Rules checked before anything is queued, each refused with one line an agent understands.

Why before queueing and not at send time: a refusal the agent sees while typing costs nothing,
while a reply that fails minutes later in the outbox is easy to miss. The platforms enforce
these too; the outbox still maps their refusals to clear reasons.
"""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta

from carewatch.domain import MentionRef, ReplyKind, ReplyState, Role
from storage.models import Mention, Reply, utcnow

PRIVATE_REPLY_WINDOW = timedelta(days=7)

#: Character limits per (platform, kind); X public text is weighted as X counts it.
LIMITS: dict[tuple[str, str], int] = {
    ("x", "public"): 280,
    ("x", "private"): 10_000,
    ("facebook", "public"): 8_000,
    ("facebook", "private"): 2_000,
    ("instagram", "public"): 2_200,
    ("instagram", "private"): 1_000,
}
PLATFORM_NAMES = {"x": "X", "facebook": "Facebook", "instagram": "Instagram"}
MANAGER_ROLES = {Role.MANAGER.value, Role.ADMIN.value}


class RuleViolation(Exception):
    """A reply that must not be queued; the message is one line for the agent."""


class AlreadyAssigned(RuleViolation):
    """Someone else is on this mention; `assignee` says who."""

    def __init__(self, message: str, assignee: str) -> None:
        super().__init__(message)
        self.assignee = assignee


def parse_ref(ref: MentionRef | str) -> MentionRef:
    if isinstance(ref, MentionRef):
        return ref
    try:
        return MentionRef.parse(ref)
    except ValueError as exc:
        raise RuleViolation(str(exc)) from None


def x_weighted_length(text: str) -> int:
    """X's own count: URLs are 23, CJK and emoji weigh 2 (twitter-text-parser)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from twitter_text import parse_tweet

        return int(parse_tweet(text).weightedLength)


def text_length(platform: str, kind: str, text: str) -> int:
    if platform == "x" and kind != ReplyKind.PRIVATE.value:
        return x_weighted_length(text)
    return len(text)


def check_text(platform: str, kind: str, text: str | None, *, label: str = "reply") -> str:
    """The text to send (as typed), or RuleViolation: empty or over the platform's limit."""
    if text is None or not text.strip():
        raise RuleViolation(f"the {label} text is empty")
    limit_kind = ReplyKind.PRIVATE.value if kind == ReplyKind.PRIVATE.value else "public"
    limit = LIMITS[(platform, limit_kind)]
    length = text_length(platform, kind, text)
    if length > limit:
        how = " as X counts it (URLs 23, emoji and CJK 2 each)" if (
            platform == "x" and limit_kind == "public") else ""
        where = "private message" if limit_kind == "private" else "public reply"
        raise RuleViolation(
            f"the {label} text is {length} characters{how}; a {PLATFORM_NAMES[platform]} "
            f"{where} allows {limit}")
    return text


def check_mention(mention: Mention | None, ref: MentionRef) -> Mention:
    if mention is None:
        raise RuleViolation(
            f"unknown mention {ref}: it is not in the database (check the id, or run "
            "'carewatch listen --once' to fetch it)")
    if mention.is_own:
        raise RuleViolation(
            f"{ref} is the brand's own post; reply to a customer's mention instead")
    return mention


def check_assignment(mention: Mention, ref: MentionRef, agent: str, role: str | None) -> None:
    if (mention.assignee and mention.assignee != agent
            and (role or "") not in MANAGER_ROLES):
        raise AlreadyAssigned(
            f"{ref} is assigned to {mention.assignee}; ask them or a manager to reassign it",
            mention.assignee)


def check_private(mention: Mention, ref: MentionRef, existing: list[Reply],
                  *, now: datetime | None = None) -> None:
    """One private reply per comment, within 7 days (Graph); X needs the author's id."""
    platform = mention.platform
    for reply in existing:
        if reply.kind == ReplyKind.PRIVATE.value and reply.state != ReplyState.FAILED.value:
            what = "direct message" if platform == "x" else "private reply"
            raise RuleViolation(
                f"{ref} already has a {what} (reply #{reply.id}, {reply.state}); "
                f"only one is allowed per {'mention' if platform == 'x' else 'comment'}")
    if platform == "x":
        if mention.author is None or not mention.author.external_id:
            raise RuleViolation(f"{ref} has no known author to send a direct message to")
        return
    if mention.thread_id and mention.thread_id == mention.external_id:
        raise RuleViolation(
            f"{ref} is a post, not a comment: {PLATFORM_NAMES[platform]} private replies "
            "answer comments only")
    age = (now or utcnow()) - mention.created_at
    if age > PRIVATE_REPLY_WINDOW:
        raise RuleViolation(
            f"{ref} is {age.days} days old: {PLATFORM_NAMES[platform]} allows a private reply "
            "only within 7 days of the comment; answer publicly instead")
