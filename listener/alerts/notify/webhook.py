"""Slack-compatible webhook: POST {"text": ...} as JSON with requests."""

from __future__ import annotations

import requests

from carewatch.settings import NotifyConfig
from listener.alerts.notify.email import DeliveryError
from listener.alerts.notify.message import Message, slack_escape

TIMEOUT = (5.0, 10.0)  # connect, read


def new_session() -> requests.Session:
    """A session that ignores proxy variables and .netrc: the hook is where the config says."""
    session = requests.Session()
    session.trust_env = False
    return session


def send_webhook(target: NotifyConfig, message: Message, *,
                 session: requests.Session | None = None) -> None:
    http = session or new_session()
    try:
        response = http.post(target.url or "", json={"text": slack_escape(message.text)},
                             timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise DeliveryError(f"webhook: {type(exc).__name__}") from None
    if response.status_code >= 300:
        raise DeliveryError(f"webhook: HTTP {response.status_code}")
