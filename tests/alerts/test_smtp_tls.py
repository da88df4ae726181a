"""SMTP over TLS against a real server on loopback (aiosmtpd) with a throwaway certificate:
the certificate is verified (a self-signed one is refused unless its CA is given), implicit
TLS works, and a login only ever travels encrypted."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from carewatch.settings import NotifyConfig
from listener.alerts.notify.email import DeliveryError, send_email
from listener.alerts.notify.message import Message
from tests.receivers import Inbox, free_port

MESSAGE = Message(subject="[carewatch] HIGH spike: test", text="12 negative mentions")
PASSWORD = "smtp-pass-0f9e8d7c"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and its key), made with openssl."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make the test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60)
    return cert, key


class Logins:
    """aiosmtpd authenticator that accepts one user and remembers who logged in."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str,
                 auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult

        login, password = auth_data.login.decode(), auth_data.password.decode()
        with self.lock:
            self.seen.append((login, password))
        return AuthResult(success=(login, password) == ("carewatch", PASSWORD))


@contextmanager
def tls_smtp(certificate: tuple[Path, Path], *, implicit: bool = False
             ) -> Iterator[tuple[Inbox, Logins, int]]:
    """A real SMTP server speaking STARTTLS (or implicit TLS) with the throwaway certificate;
    it only accepts a login over TLS."""
    from aiosmtpd.controller import Controller

    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(*map(str, certificate))
    inbox, logins, port = Inbox(), Logins(), free_port()
    tls = {"ssl_context": server_ctx} if implicit else {"tls_context": server_ctx}
    # aiosmtpd only counts a STARTTLS upgrade as TLS for `auth_require_tls`; with implicit
    # TLS the whole connection is encrypted before the first byte, so the check is moot.
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=logins,
                            auth_require_tls=not implicit, **tls)
    controller.start()
    try:
        yield inbox, logins, port
    finally:
        controller.stop()


def _target(port: int, **options: Any) -> NotifyConfig:
    return NotifyConfig(kind="email", smtp_host="127.0.0.1", smtp_port=port,
                        sender="carewatch@acme.example", to=["lead@acme.example"], **options)


def test_starttls_refuses_a_certificate_it_cannot_verify(certificate: tuple[Path, Path]
                                                         ) -> None:
    with tls_smtp(certificate) as (inbox, logins, port):
        with pytest.raises(DeliveryError) as info:
            send_email(_target(port, smtp_tls="starttls", smtp_user="carewatch",
                               smtp_password=PASSWORD), MESSAGE)
        assert "SSLCertVerificationError" in str(info.value)
        assert "certificate verify failed" in str(info.value)
        assert PASSWORD not in str(info.value)
        assert inbox.messages == []
        assert logins.seen == []  # the password never left


def test_old_smtp_starttls_flag_verifies_too(certificate: tuple[Path, Path]) -> None:
    with tls_smtp(certificate) as (inbox, _logins, port):
        with pytest.raises(DeliveryError, match="SSLCertVerificationError"):
            send_email(_target(port, smtp_starttls=True), MESSAGE)
        assert inbox.messages == []


def test_starttls_with_the_ca_given_logs_in_and_delivers(certificate: tuple[Path, Path]
                                                         ) -> None:
    with tls_smtp(certificate) as (inbox, logins, port):
        send_email(_target(port, smtp_tls="starttls", smtp_ca_file=certificate[0],
                           smtp_user="carewatch", smtp_password=PASSWORD), MESSAGE)
        assert inbox.subjects() == [MESSAGE.subject]
        assert logins.seen == [("carewatch", PASSWORD)]


def test_implicit_tls_verifies_and_delivers(certificate: tuple[Path, Path]) -> None:
    with tls_smtp(certificate, implicit=True) as (inbox, logins, port):
        with pytest.raises(DeliveryError, match="SSLCertVerificationError"):
            send_email(_target(port, smtp_tls="implicit"), MESSAGE)
        send_email(_target(port, smtp_tls="implicit", smtp_ca_file=certificate[0],
                           smtp_user="carewatch", smtp_password=PASSWORD), MESSAGE)
        assert inbox.subjects() == [MESSAGE.subject]
        assert logins.seen == [("carewatch", PASSWORD)]


def test_a_server_without_starttls_is_refused_not_used_in_clear() -> None:
    from tests.receivers import smtp_server

    with smtp_server() as (inbox, port):  # plain SMTP, no STARTTLS offered
        with pytest.raises(DeliveryError, match="STARTTLS"):
            send_email(_target(port, smtp_tls="starttls"), MESSAGE)
        assert inbox.messages == []
