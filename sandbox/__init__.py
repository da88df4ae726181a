"""carewatch sandbox: a local emulator of the X API v2 and the Graph API (FB + IG).

Nothing in the product imports it; the demo and the tests start it.  Entry points:
``create_app`` (Starlette app), ``World`` (state), ``SandboxServer`` / ``run_sandbox``
(uvicorn), ``SandboxControl`` (client for the ``/_sandbox/`` control API).
"""

from __future__ import annotations

from typing import Any

__all__ = ["SandboxControl", "SandboxServer", "World", "create_app", "run_sandbox"]


def __getattr__(name: str) -> Any:
    # Lazy: importing ``sandbox`` must stay cheap (the CLI imports it only for one command).
    if name == "World":
        from sandbox.world import World
        return World
    if name == "create_app":
        from sandbox.app import create_app
        return create_app
    if name in ("SandboxServer", "run_sandbox"):
        from sandbox import server
        return getattr(server, name)
    if name == "SandboxControl":
        from sandbox.control import SandboxControl
        return SandboxControl
    raise AttributeError(name)
