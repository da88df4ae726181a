"""Holding a source's lease while this process polls it.

The lease lasts `lease_seconds` by the database's clock. A poll can outlast it (a long
backfill, a slow page, a rate-limit wait of minutes), so a background thread renews it every
third of that time until the poll ends. A process killed with -9 stops renewing, and
another process takes the source over once the lease runs out.
"""

from __future__ import annotations

import os
import socket

from carewatch.heartbeat import Heartbeat
from storage.db import Database
from storage.sources import renew_lease


def process_name() -> str:
    """`host:pid`: who holds a lease, as `carewatch status` shows it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def lease_keeper(db: Database, key: str, holder: str, lease_seconds: float) -> Heartbeat:
    """Renews `holder`'s lease on source `key` in the background for the life of a `with`
    block. A failed renewal is retried on the next beat; a lease that passed to another
    process is not taken back (the poll's next cursor save is refused and the poll stops)."""

    def renew() -> bool:
        with db.write() as session:
            return renew_lease(session, key, holder, lease_seconds)

    return Heartbeat(renew, lease_seconds / 3, name=f"lease:{key}")
