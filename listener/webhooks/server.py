"""Run the receiver on uvicorn at 127.0.0.1: blocking (`carewatch webhooks`) or in a
background thread (`carewatch demo`).

uvicorn's access log is off and its logging left to carewatch's configuration: Meta's
verification request carries the verify token in its query.
"""

from __future__ import annotations

import socket

from starlette.applications import Starlette

from carewatch import serving
from listener.webhooks.app import PATH

HOST = "127.0.0.1"


def bind(port: int) -> socket.socket:
    """A listening-ready socket on 127.0.0.1:`port` (raises OSError when it is taken)."""
    return serving.bind(HOST, port)


def serve(app: Starlette, sock: socket.socket) -> None:
    """Serve until Ctrl-C or SIGTERM (uvicorn's own signal handling)."""
    serving.serve(app, sock, log_config=None)


class ReceiverServer(serving.BackgroundServer):
    """Context manager running the receiver in a daemon thread; `url` is where Meta (or the
    sandbox) delivers, known once it is constructed."""

    def __init__(self, app: Starlette, port: int = 0) -> None:
        super().__init__(app, name="webhook receiver", host=HOST, port=port, log_config=None)
        self.url = f"{self.base_url}{PATH}"
