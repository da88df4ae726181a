"""Run the sandbox on uvicorn: in a background thread (tests, demo) or blocking (CLI)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Self

from carewatch.serving import BackgroundServer, bind, serve
from sandbox.app import create_app
from sandbox.world import World


class SandboxServer(BackgroundServer):
    """Context manager running the sandbox in a daemon thread.

    ``port=0`` binds a free port before uvicorn starts (no race with other tests), exposed as
    ``.port`` and ``.base_url``; ``start()`` returns only once the server answers.
    ``extra_ports`` serves the same world on more ports (``.extra_base_urls``): each request
    log entry names the ``port`` it arrived at, so a test that gives every process a port
    of its own knows which process made each request.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, world: World | None = None,
                 seed: int | None = None, live_rate: float = 0, seed_count: int = 200,
                 access_log: bool = False, extra_ports: int = 0) -> None:
        self.world = world if world is not None else World()
        self.app = create_app(self.world)
        super().__init__(self.app, name="sandbox", host=host, port=port,
                         extra_ports=extra_ports, access_log=access_log)
        self._seed = seed
        self._seed_count = seed_count
        self._live_rate = live_rate

    def start(self, timeout: float = 10.0) -> Self:
        if self._seed is not None:
            self.world.seed(self._seed_count, seed=self._seed)
        super().start(timeout)
        if self._live_rate:
            self.app.state.live.start(self._live_rate)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.app.state.live.stop()
        self.app.state.webhooks.stop()
        super().stop(timeout)


def run_sandbox(host: str = "127.0.0.1", port: int = 8800, seed: int | None = 7,
                live_rate: float = 0, count: int = 200, access_log: bool = False,
                brand_ids: Mapping[str, Iterable[str]] | None = None) -> None:
    """Blocking entry point for ``carewatch sandbox`` and ``python -m sandbox``; a port in
    use is an OSError before anything is generated. `brand_ids`: the product's ids for the
    brand (`World.adopt_brand_ids` keywords)."""
    sock = bind(host, port)
    world = World()
    world.adopt_brand_ids(**(brand_ids or {}))
    app = create_app(world)
    if seed is not None:
        world.seed(count, seed=seed)
    if live_rate:
        app.state.live.start(live_rate)
    port = sock.getsockname()[1]  # the one bound, when asked for any (0)
    print(f"carewatch sandbox on http://{host}:{port} (X: /2/..., Graph: /v21.0/..., "
          f"control: /_sandbox/state)", flush=True)
    try:
        serve(app, sock, access_log=access_log)
    finally:
        app.state.live.stop()
        app.state.webhooks.stop()
