"""Serve an ASGI app (Starlette) on uvicorn at a local address: blocking, or in a background
thread that is known to accept connections once `start()` returns.

The socket is bound before uvicorn starts, so a port in use is one clear `OSError` for the
caller, and port 0 gives a free port that is known before the first request (no race between
parallel tests). Both the sandbox and the webhook receiver run this way.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any, Self

import uvicorn


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket on `host`:`port` (raises OSError when it is taken).

    Made with the TCP protocol number, so asyncio sets TCP_NODELAY on the connections it
    accepts: otherwise a response written in two parts (headers, body) waits out the
    client's delayed ACK, some 40 ms on every request."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def uvicorn_server(app: Any, *, access_log: bool = False, **config: Any) -> uvicorn.Server:
    """A quiet uvicorn server for `app` (warnings only, no lifespan events); `config` adds
    or overrides `uvicorn.Config` options such as `log_config`."""
    return uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=access_log,
                                         lifespan="off", **config))


def serve(app: Any, sock: socket.socket, **config: Any) -> None:
    """Serve on `sock` until Ctrl-C or SIGTERM (uvicorn's own signal handling)."""
    try:
        uvicorn_server(app, **config).run(sockets=[sock])
    finally:
        sock.close()


class BackgroundServer:
    """Context manager serving `app` on a socket bound at construction, in a daemon thread.

    `port` and `base_url` are known as soon as it is constructed; `name` names the thread
    and, in the error raised when uvicorn does not come up, the server. `extra_ports` more
    free ports serve the same app (`extra_base_urls`): a client given a port of its own is
    recognisable by the port its requests arrive at."""

    def __init__(self, app: Any, *, name: str, host: str = "127.0.0.1", port: int = 0,
                 extra_ports: int = 0, **config: Any) -> None:
        self.name = name
        self._sock = bind(host, port)
        self.port: int = self._sock.getsockname()[1]
        self.base_url = f"http://{host}:{self.port}"
        self._extra = [bind(host, 0) for _ in range(extra_ports)]
        self.extra_base_urls = [f"http://{host}:{s.getsockname()[1]}" for s in self._extra]
        self._server = uvicorn_server(app, **config)
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> Self:
        """Serve in a daemon thread; returns once uvicorn is accepting connections."""
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._sock, *self._extra]},
                                        name=self.name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"{self.name} did not start on {self.base_url}")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        for sock in (self._sock, *self._extra):
            sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
