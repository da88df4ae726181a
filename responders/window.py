"""The messaging window: whether, and how, the brand may still write in a private conversation.

Messenger and Instagram Direct accept a message within 24 hours of the customer's last one
(`messaging_type=RESPONSE`), and up to 7 days when a person answers with the `HUMAN_AGENT`
tag on a source that has the Human Agent permission (`human_agent = true`). X direct
messages have no window. The same answer serves the CLI (refuse before queueing), the
dashboard (time left, or why sending is disabled) and the sender (which messaging type).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from carewatch.platforms.base import ConversationRules

RESPONSE = "RESPONSE"
MESSAGE_TAG = "MESSAGE_TAG"
HUMAN_AGENT = "HUMAN_AGENT"


@dataclass(frozen=True, slots=True)
class MessagingWindow:
    """`open`: a message may be sent now. `messaging_type`/`tag`: how (None where the
    platform has no window). `closes_at`: when that stops (None: never). `reason`: one
    line for an agent, saying the time left or why the window is closed."""

    open: bool
    messaging_type: str | None
    tag: str | None
    closes_at: datetime | None
    reason: str

    def time_left(self, now: datetime) -> timedelta | None:
        return None if self.closes_at is None else max(self.closes_at - now, timedelta(0))


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes >= 48 * 60:
        return f"{minutes // (24 * 60)} days"
    if minutes >= 120:
        return f"{minutes // 60} h"
    return f"{minutes} min"


def messaging_window(rules: ConversationRules, last_customer_at: datetime | None,
                     now: datetime, *, human_agent: bool, by_person: bool = True,
                     label: str = "the platform") -> MessagingWindow:
    """The window of one conversation, from the customer's last message in it.

    `human_agent`: the source may use the `HUMAN_AGENT` tag. `by_person`: a person writes the
    message; an automatic rule never gets the tag, which is only for a person's own answer.
    """
    if rules.response_window is None:
        return MessagingWindow(True, None, None, None, f"{label} has no messaging window")
    if last_customer_at is None:
        return MessagingWindow(
            False, None, None, None,
            f"the customer has not written in this conversation yet: {label} allows a "
            "message only after they answer")
    response_ends = last_customer_at + rules.response_window
    if now < response_ends:
        return MessagingWindow(True, RESPONSE, None, response_ends,
                               f"{_span(response_ends - now)} left to answer")
    window_hours = int(rules.response_window.total_seconds() // 3600)
    if rules.human_agent_window is not None and human_agent and by_person:
        tagged_ends = last_customer_at + rules.human_agent_window
        if now < tagged_ends:
            return MessagingWindow(True, MESSAGE_TAG, HUMAN_AGENT, tagged_ends,
                                   f"{_span(tagged_ends - now)} left to answer as a human "
                                   "agent (HUMAN_AGENT tag)")
        return MessagingWindow(
            False, None, None, tagged_ends,
            f"the messaging window closed: the customer's last message is more than "
            f"{_span(rules.human_agent_window)} old; {label} does not allow another message "
            "until they write again")
    why = ("automatic replies never use the HUMAN_AGENT tag" if human_agent and not by_person
           else "set human_agent = true on the source to answer up to 7 days with the "
                "HUMAN_AGENT tag" if rules.human_agent_window is not None else "")
    return MessagingWindow(
        False, None, None, response_ends,
        f"the messaging window closed: the customer's last message is more than "
        f"{window_hours} h old; {label} does not allow another message until they write "
        f"again" + (f" ({why})" if why else ""))
