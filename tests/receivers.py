"""Loopback stand-ins for what carewatch notifies: an SMTP server (aiosmtpd) and a
Slack-compatible webhook receiver, plus a free-port helper. Shared by the alert tests."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Inbox:
    """aiosmtpd handler keeping every accepted message."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def subjects(self) -> list[str]:
        with self.lock:
            return [str(m["Subject"]) for m in self.messages]


@contextmanager
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on a free loopback port: (inbox, port)."""
    from aiosmtpd.controller import Controller

    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


class Webhook:
    """What the webhook receiver got. The first `fail_first` requests are answered 500."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.attempts = 0
        self.posts: list[tuple[str, Any]] = []  # (content type, parsed JSON body)
        self.lock = threading.Lock()

    @property
    def delivered(self) -> list[Any]:
        with self.lock:
            return [body for _, body in self.posts]

    def texts(self) -> list[str]:
        return [body["text"] for body in self.delivered]


@contextmanager
def webhook_server() -> Iterator[tuple[Webhook, str]]:
    """An HTTP receiver on a free loopback port: (webhook, url)."""
    hook = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with hook.lock:
                hook.attempts += 1
                failing = hook.attempts <= hook.fail_first
                if not failing:
                    try:
                        body: Any = json.loads(raw)
                    except ValueError:
                        body = {"unparsable": raw.decode("utf-8", "replace")}
                    hook.posts.append((self.headers.get("Content-Type", ""), body))
            self.send_response(500 if failing else 200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"fail" if failing else b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook, f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
