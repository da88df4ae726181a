"""Keeping a lease alive while the work it guards runs longer than one lease.

Source polls (a long backfill, a rate-limit wait) and reply sends (a read-back, a backoff and
the send) can each outlast the lease that keeps other processes off them. While the work runs,
a heartbeat thread renews the lease (in database time, by the caller's `renew`) every third of
it. A renewal that finds the lease gone (another process took over after it ran out, e.g.
this one was paused) stops the heartbeat and says so in `lost`; the holder's next
conditional write then fails too. A process killed with -9 stops renewing, so its lease runs
out and another process takes the work over.
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
