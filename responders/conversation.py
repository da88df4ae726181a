"""The private conversation a message goes into: which configured source reads it (and so
whether a person may answer with the human-agent tag), and its messaging window now.

One answer for the queue (refuse before queueing), the outbox (the window right before each
attempt, which gives the platform's messaging type and tag) and the dashboard (time left).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from carewatch.platforms import spec_for
from carewatch.settings import Settings
from responders.base import MentionInfo, conversation_source
from responders.senders import sender_class
from responders.window import MessagingWindow, messaging_window
from storage.mentions import last_customer_message_at


def human_agent(settings: Settings, mention: MentionInfo) -> bool:
    """Whether the brand account of this conversation may answer with the human-agent tag
    (`human_agent = true` on its source); False when no such source is configured."""
    source = conversation_source(settings, mention,
                                 sender_class(mention.platform).brand_id_attr)
    return bool(source and source.human_agent)


def conversation_window(session: Session, settings: Settings, mention: MentionInfo,
                        now: datetime, *, by_person: bool = True) -> MessagingWindow:
    """The messaging window of the conversation `mention` belongs to, at `now`, measured
    from the customer's last stored message in it."""
    spec = spec_for(mention.platform)
    last = (last_customer_message_at(session, mention.thread_pk)
            if mention.thread_pk is not None else mention.created_at)
    return messaging_window(spec.conversation, last, now,
                            human_agent=human_agent(settings, mention), by_person=by_person,
                            label=spec.conversation.name)
