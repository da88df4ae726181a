"""Run the receiver on uvicorn at 127.0.0.1: blocking (`carewatch webhooks`) or in a
background thread (`carewatch demo`).

The socket is bound before uvicorn starts, so a port in use is one clear `OSError` for the
caller, and port 0 gives a free port that is known before the first request. uvicorn's
access log is off: Meta's verification request carries the verify token in its query.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from listener.webhooks.app import PATH

HOST = "127.0.0.1"


def bind(port: int) -> socket.socket:
    """A listening-ready socket on 127.0.0.1:`port` (raises OSError when it is taken).

    Made with the TCP protocol number, so asyncio sets TCP_NODELAY on the connections it
    accepts: otherwise a response written in two parts (headers, body) waits out the
    client's delayed ACK, some 40 ms on every request."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError:
        sock.close()
        raise
    return sock


def _server(app: Starlette) -> uvicorn.Server:
    return uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                         log_config=None, lifespan="off"))


def serve(app: Starlette, sock: socket.socket) -> None:
    """Serve until Ctrl-C or SIGTERM (uvicorn's own signal handling)."""
    try:
        _server(app).run(sockets=[sock])
    finally:
        sock.close()


class ReceiverServer:
    """Context manager running the receiver in a daemon thread; `url` is where Meta (or the
    sandbox) delivers, known once it is constructed."""

    def __init__(self, app: Starlette, port: int = 0) -> None:
        self._sock = bind(port)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}{PATH}"
        self._server = _server(app)
        self._thread: threading.Thread | None = None

    def start(self) -> ReceiverServer:
        """Serve in a daemon thread; returns once uvicorn is accepting connections."""
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._sock]},
                                        name="carewatch-webhooks", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10.0
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the webhook receiver did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        self._sock.close()

    def __enter__(self) -> ReceiverServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
