"""Notifiers: email over SMTP and a Slack-compatible webhook, delivered from a durable queue.

Each (alert, target) pair is one `AlertNotification` row, so an alert reaches each target once
per episode; `dispatch.Dispatcher` delivers due rows with capped exponential backoff.
"""

from listener.alerts.notify.dispatch import Dispatcher
from listener.alerts.notify.message import Message, compose

__all__ = ["Dispatcher", "Message", "compose"]
