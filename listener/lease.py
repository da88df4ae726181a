"""Holding a source's lease while this process polls it.

The lease lasts `lease_seconds` by the database's clock. A poll can outlast it (a long
backfill, a slow page, a rate-limit wait of minutes), so a background thread renews it every
third of that time until the poll ends. A process killed with -9 stops renewing, and
another process takes the source over once the lease runs out.
"""

from __future__ import annotations

import os
import socket
import threading
from types import TracebackType

from carewatch.log import get_logger
from storage.db import Database
from storage.sources import renew_lease

log = get_logger(__name__)


def process_name() -> str:
    """`host:pid`: who holds a lease, as `carewatch status` shows it."""
    return f"{socket.gethostname()}:{os.getpid()}"


class LeaseKeeper:
    """Renews `holder`'s lease on `key` in the background for the life of the `with` block.

    A failed renewal is logged and retried on the next beat; a lease that passed to another
    process is not taken back (the poll's next cursor save is refused and the poll stops)."""

    def __init__(self, db: Database, key: str, holder: str, lease_seconds: float) -> None:
        self.db, self.key, self.holder, self.lease_seconds = db, key, holder, lease_seconds
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease:{key}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._done.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._done.wait(self.lease_seconds / 3):
            try:
                with self.db.write() as session:
                    kept = renew_lease(session, self.key, self.holder, self.lease_seconds)
            except Exception:  # the database is briefly unreachable: try again next beat
                log.exception("lease_renew_failed", source=self.key)
                continue
            if not kept:
                log.warning("lease_lost", source=self.key, holder=self.holder)
                return
