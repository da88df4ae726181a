"""Email over SMTP (smtplib): plain text, short timeouts, TLS that checks who it talks to.

`smtp_tls = "starttls"` upgrades the connection and `"implicit"` opens it over TLS (port 465
by default); both verify the server's certificate and name with `ssl.create_default_context`,
against the system's authorities or the `smtp_ca_file` the target names. A login is only
ever sent over TLS: the settings refuse `smtp_user` without it.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from carewatch.settings import NotifyConfig
from listener.alerts.notify.message import Message

TIMEOUT_SECONDS = 10.0


class DeliveryError(Exception):
    """A target refused or could not be reached; the message is one safe line."""


def tls_context(target: NotifyConfig) -> ssl.SSLContext:
    """Certificate and host name verified: the system's authorities, or the target's CA."""
    cafile = str(target.smtp_ca_file) if target.smtp_ca_file is not None else None
    return ssl.create_default_context(cafile=cafile)


def _connect(target: NotifyConfig, timeout: float) -> smtplib.SMTP:
    host, port = target.smtp_host or "", target.smtp_port or 0
    if target.smtp_tls == "implicit":
        return smtplib.SMTP_SSL(host, port, timeout=timeout, context=tls_context(target))
    smtp = smtplib.SMTP(host, port, timeout=timeout)
    if target.smtp_tls == "starttls":
        try:
            smtp.starttls(context=tls_context(target))
        except BaseException:
            smtp.close()
            raise
    return smtp


def send_email(target: NotifyConfig, message: Message, *,
               timeout: float = TIMEOUT_SECONDS) -> None:
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = target.sender or ""
    mail["To"] = ", ".join(target.to)
    mail.set_content(message.text)
    try:
        with _connect(target, timeout) as smtp:
            if target.smtp_user:
                password = target.smtp_password.get_secret_value() if target.smtp_password else ""
                smtp.login(target.smtp_user, password)
            refused = smtp.send_message(mail)
    except (OSError, smtplib.SMTPException) as exc:
        # The reason only: never the credentials, which smtplib does not echo anyway. A
        # certificate that fails verification is named (SSLCertVerificationError: ...).
        raise DeliveryError(f"smtp {target.smtp_host}:{target.smtp_port}: "
                            f"{type(exc).__name__}: {exc}") from None
    if refused and len(refused) == len(target.to):
        raise DeliveryError(f"smtp {target.smtp_host}:{target.smtp_port}: all recipients refused")
