"""Email over SMTP (smtplib): plain text, optional STARTTLS and login, short timeouts."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from carewatch.settings import NotifyConfig
from listener.alerts.notify.message import Message

TIMEOUT_SECONDS = 10.0


class DeliveryError(Exception):
    """A target refused or could not be reached; the message is one safe line."""


def send_email(target: NotifyConfig, message: Message, *,
               timeout: float = TIMEOUT_SECONDS) -> None:
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = target.sender or ""
    mail["To"] = ", ".join(target.to)
    mail.set_content(message.text)
    try:
        with smtplib.SMTP(target.smtp_host or "", target.smtp_port, timeout=timeout) as smtp:
            if target.smtp_starttls:
                smtp.starttls()
            if target.smtp_user:
                password = target.smtp_password.get_secret_value() if target.smtp_password else ""
                smtp.login(target.smtp_user, password)
            refused = smtp.send_message(mail)
    except (OSError, smtplib.SMTPException) as exc:
        # The reason only: never the credentials, which smtplib does not echo anyway.
        raise DeliveryError(f"smtp {target.smtp_host}:{target.smtp_port}: "
                            f"{type(exc).__name__}: {exc}") from None
    if refused and len(refused) == len(target.to):
        raise DeliveryError(f"smtp {target.smtp_host}:{target.smtp_port}: all recipients refused")
