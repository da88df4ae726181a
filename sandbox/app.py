"""The sandbox's Starlette app: the X API v2, the Graph API (Facebook + Instagram) and the
control API on one port.

X paths start ``/2/``, Graph paths start ``/vNN.N/`` (an unversioned Graph path works too),
and the control API lives under ``/_sandbox/``.  Each API is a module of Starlette routes;
this module only mounts them and wires the content generator into the world served.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Mount, Route

from sandbox.control_api import CONTROL_ROUTES, endpoint, no_route
from sandbox.front import METHODS
from sandbox.generator import Generator, LiveFeed
from sandbox.graph_api import GRAPH_ROUTES
from sandbox.webhooks import WebhookHub
from sandbox.world import World
from sandbox.x_api import X_ROUTES


def create_app(world: World | None = None) -> Starlette:
    """Build the sandbox app around ``world`` (a fresh, empty one when omitted).

    The world gets ``Generator`` unless it has a generator already, so the control API can
    seed and generate; ``app.state.live`` runs the live trickle of new items (and the
    customers' answers to private messages), ``app.state.webhooks`` delivers Meta webhooks.
    """
    world = world if world is not None else World()
    if world.generator is None:
        world.generator = Generator
    app = Starlette(routes=[
        Mount("/2", routes=X_ROUTES),
        Mount("/_sandbox", routes=CONTROL_ROUTES),
        Route("/_sandbox{rest:path}", endpoint(no_route), methods=METHODS),
        Mount("/{version:graph_version}", routes=GRAPH_ROUTES),
        Mount("", routes=GRAPH_ROUTES),
    ])
    app.state.world = world
    app.state.live = LiveFeed(world)
    app.state.webhooks = WebhookHub(world)
    return app
