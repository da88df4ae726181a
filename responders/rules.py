"""Rules checked before anything is queued, each refused with one line an agent understands.

Why before queueing and not at send time: a refusal the agent sees while typing costs nothing,
while a reply that fails minutes later in the outbox is easy to miss. The platforms enforce
these too; the outbox still maps their refusals to clear reasons.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from carewatch.domain import MentionRef, Platform, ReplyKind, ReplyState, Role, Visibility
from carewatch.platforms import spec_for
from responders.window import MessagingWindow
from storage.models import Mention, Reply, utcnow

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


def check_text(platform: str, kind: str, text: str | None, *, label: str = "reply") -> str:
    """The text to send (as typed), or RuleViolation: empty or over the platform's limit
    (counted as the platform counts it, e.g. X's weighted length for public text)."""
    if text is None or not text.strip():
        raise RuleViolation(f"the {label} text is empty")
    spec = spec_for(platform)
    rule = spec.text_rule(kind)
    length = rule.count(text)
    if length > rule.limit:
        where = ("private message" if kind in (ReplyKind.PRIVATE.value, ReplyKind.MESSAGE.value)
                 else "public reply")
        article = "an" if spec.label[:1] in "AEIOUX" else "a"  # "an X", "a Facebook"
        raise RuleViolation(
            f"the {label} text is {length} characters{rule.how_counted}; {article} "
            f"{spec.label} {where} allows {rule.limit}")
    return text


def check_mention(mention: Mention | None, ref: MentionRef) -> Mention:
    if mention is None:
        if ref.platform is Platform.X and not (ref.external_id.isascii()
                                               and ref.external_id.isdigit()):
            # Told apart only here: stored items keep whatever id they came with.
            raise RuleViolation(f"malformed mention '{ref}': an X id is all digits (a post "
                                "id or a direct message event id)")
        raise RuleViolation(
            f"unknown mention {ref}: it is not in the database (check the id, or run "
            "'carewatch listen --once' to fetch it)")
    if mention.is_own:
        if mention.visibility == Visibility.PRIVATE.value:
            raise RuleViolation(f"{ref} is the brand's own message; reply to the customer's "
                                "message in that conversation instead")
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
    """The platform's rules for its private channel (`PlatformSpec.private`): one per
    mention or comment, to a known author, on comments only, within a time window."""
    spec = spec_for(mention.platform)
    channel = spec.private
    for reply in existing:
        if reply.kind == ReplyKind.PRIVATE.value and reply.state != ReplyState.FAILED.value:
            raise RuleViolation(
                f"{ref} already has a {channel.name} (reply #{reply.id}, {reply.state}); "
                f"only one is allowed per {channel.one_per}")
    if channel.to_author and (mention.author is None or not mention.author.external_id):
        raise RuleViolation(f"{ref} has no known author to send a {channel.name} to")
    if channel.comments_only and mention.thread_id and mention.thread_id == mention.external_id:
        raise RuleViolation(
            f"{ref} is a post, not a comment: {spec.label} {channel.plural} "
            "answer comments only")
    if channel.window is None:
        return
    age = (now or utcnow()) - mention.created_at
    if age > channel.window:
        raise RuleViolation(
            f"{ref} is {age.days} days old: {spec.label} allows a {channel.name} only within "
            f"{channel.window.days} days of the comment; answer publicly instead")


def check_movable(ref: MentionRef, kinds: Sequence[str]) -> None:
    """A private message is answered in its conversation; it cannot be moved private."""
    if any(kind in (ReplyKind.PRIVATE.value, ReplyKind.PUBLIC_NOTE.value) for kind in kinds):
        raise RuleViolation(
            f"{ref} is a private message already; answer it in its conversation with "
            "'reply' instead")


def check_window(ref: MentionRef, window: MessagingWindow) -> None:
    """A message in a private conversation only while the platform's window is open."""
    if not window.open:
        raise RuleViolation(f"{ref}: {window.reason}")
