"""Keeping a claim alive while its reply is being worked on.

A reply's lease is what keeps other responders off it. Reading a conversation back, waiting
out a short backoff and sending can together take longer than one lease, so while a
responder holds a claim a heartbeat thread renews the lease (database time: `lease_until =
now() + lease`) every third of it. A renewal that finds the claim gone (another responder
took the reply over after the lease ran out, e.g. this process was paused) stops the
heartbeat and says so in `lost`; the next conditional write of the holder then fails too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType

from carewatch.log import get_logger

log = get_logger(__name__)


class Heartbeat:
    """Calls `renew` every `every` seconds from a daemon thread until the block ends.

    `renew` returns False once the claim is no longer held. A renewal that raises (the
    database briefly unreachable) is logged and tried again at the next beat: the lease
    still runs for a full period after the last renewal that worked.
    """

    def __init__(self, renew: Callable[[], bool], every: float, *, name: str) -> None:
        self.renew = renew
        self.every = every
        self.lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        while not self._done.wait(self.every):
            try:
                held = self.renew()
            except Exception as exc:  # keep beating: the next renewal may work
                log.warning("lease_renewal_failed", thread=self._thread.name, error=str(exc))
                continue
            if not held:
                self.lost.set()
                return

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._done.set()
        self._thread.join()
