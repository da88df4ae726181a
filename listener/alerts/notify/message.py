"""The words of a notification: short, plain, built from the alert and a few of its mentions.

Mention text is untrusted: it is flattened to one line, shortened, and (for Slack) escaped so
it cannot ping `<!channel>` or forge links. Nothing secret is ever part of an alert, and the
text still goes through `scrub` as a last guard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from carewatch.log import scrub
from listener.alerts.base import iso_z, one_line

MAX_MENTIONS = 5


@dataclass(frozen=True, slots=True)
class Message:
    subject: str
    text: str


def compose(alert: Any, mentions: list[Any]) -> Message:
    """Subject like `[carewatch] HIGH spike: 12 negative mentions ...` and a plain-text body."""
    severity = str(alert.severity).upper()
    subject = one_line(f"[carewatch] {severity} {alert.kind}: {alert.summary}", 180)
    count = len(alert.mention_ids or [])
    lines = [
        f"{severity} {alert.kind}: {one_line(alert.summary, 400)}",
        f"alert {alert.id} | episode {alert.episode_key} | first seen {iso_z(alert.first_seen)}"
        f" | last seen {iso_z(alert.last_seen)}",
    ]
    if count:
        lines.append(f"mentions ({count}):")
        for mention in mentions[:MAX_MENTIONS]:
            who = f" @{one_line(mention.handle, 40)}" if mention.handle else ""
            link = f" {mention.url}" if mention.url and str(mention.url).startswith("http") else ""
            lines.append(f"- {mention.platform}:{mention.external_id}{who}: "
                         f"{one_line(mention.text, 140)}{link}")
        if count > len(mentions[:MAX_MENTIONS]):
            lines.append(f"- ... and {count - len(mentions[:MAX_MENTIONS])} more")
    lines.append(f"acknowledge: carewatch alerts ack {alert.id} --as YOUR_NAME")
    return Message(subject=scrub(subject), text=scrub("\n".join(lines)))


def slack_escape(text: str) -> str:
    """Slack's three control characters, escaped as its docs ask."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
