"""Run the sandbox on uvicorn: in a background thread (tests, demo) or blocking (CLI)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn

from sandbox.app import create_app
from sandbox.world import World


class SandboxServer:
    """Context manager running the sandbox in a daemon thread.

    ``port=0`` binds a free port before uvicorn starts (no race with other tests), exposed as
    ``.port`` and ``.base_url``; ``start()`` returns only once the server answers.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, world: World | None = None,
                 seed: int | None = None, live_rate: float = 0, seed_count: int = 200,
                 access_log: bool = False) -> None:
        self.host = host
        self.world = world if world is not None else World()
        self.app = create_app(self.world)
        # The protocol number matters: asyncio turns Nagle's delay off only on sockets it
        # knows are TCP, and without it every answer waits ~40 ms for a delayed ACK.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.port: int = self._sock.getsockname()[1]
        self.base_url = f"http://{host}:{self.port}"
        self._seed = seed
        self._seed_count = seed_count
        self._live_rate = live_rate
        config = uvicorn.Config(self.app, log_level="warning", access_log=access_log,
                                lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> SandboxServer:
        if self._seed is not None:
            self.world.seed(self._seed_count, seed=self._seed)
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._sock]},
                                        name="sandbox-uvicorn", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"sandbox did not start on {self.base_url}")
            time.sleep(0.01)
        if self._live_rate:
            self.app.state.live.start(self._live_rate)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.app.state.live.stop()
        self.app.state.webhooks.stop()
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._sock.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def run_sandbox(host: str = "127.0.0.1", port: int = 8800, seed: int | None = 7,
                live_rate: float = 0, count: int = 200, access_log: bool = False) -> None:
    """Blocking entry point for ``carewatch sandbox`` and ``python -m sandbox``."""
    world = World()
    app = create_app(world)
    if seed is not None:
        world.seed(count, seed=seed)
    if live_rate:
        app.state.live.start(live_rate)
    print(f"carewatch sandbox on http://{host}:{port} (X: /2/..., Graph: /v21.0/..., "
          f"control: /_sandbox/state)", flush=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning",
                    access_log=access_log, lifespan="off")
    finally:
        app.state.live.stop()
        app.state.webhooks.stop()
