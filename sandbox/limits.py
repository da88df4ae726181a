"""Rate limits of the emulated platforms: X's 15-minute windows per endpoint family and the
Graph app's hourly call budget.

Windows follow the real clock (not ``World.now()``) because tweepy sleeps on real time, and a
429 must be held until its announced reset so a client that waits for it really recovers.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

X_WINDOW_SECONDS = 15 * 60
GRAPH_WINDOW_SECONDS = 3600

#: Requests per 15-minute window for each X endpoint family (per app, as the sandbox sees one).
DEFAULT_X_LIMITS: dict[str, int] = {
    "search": 450,
    "mentions": 450,
    "tweets_lookup": 900,
    "users": 900,
    "users_me": 75,
    "tweets_create": 100,
    "dm": 200,
    "dm_lookup": 300,
}
#: Graph calls per hour before code 4 ("Application request limit reached").
DEFAULT_GRAPH_LIMIT = 4800


@dataclass
class Window:
    """One rate-limit window: started at ``start``; ``blocked_until`` forces 429s."""

    start: float
    count: int = 0
    blocked_until: float = 0.0


@dataclass
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset: int


class RateLimits:
    """The limits and the current windows; thread-safe on its own lock."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.x_limits: dict[str, int] = dict(DEFAULT_X_LIMITS)
        self.graph_limit = DEFAULT_GRAPH_LIMIT
        self.reset_windows()

    def reset_windows(self) -> None:
        """Start every window afresh (the limits themselves stay)."""
        with self._lock:
            self.x_windows: dict[str, Window] = {}
            self.graph_window = Window(start=time.time())
            self.graph_blocked_until = 0.0

    def x_rate(self, key: str, *, consume: bool = True) -> RateDecision:
        """Count one call against an X endpoint's 15-minute window."""
        with self._lock:
            limit = int(self.x_limits.get(key, 900))
            now = time.time()
            win = self.x_windows.get(key)
            if win is None or (now >= win.start + X_WINDOW_SECONDS and now >= win.blocked_until):
                win = self.x_windows[key] = Window(start=now)
            if win.blocked_until and now >= win.blocked_until:
                win = self.x_windows[key] = Window(start=now)
            if win.blocked_until > now:
                return RateDecision(False, limit, 0, int(win.blocked_until + 0.999))
            reset = int(win.start + X_WINDOW_SECONDS)
            if win.count >= limit:
                return RateDecision(False, limit, 0, reset)
            if consume:
                win.count += 1
            return RateDecision(True, limit, max(0, limit - win.count), reset)

    def x_block(self, key: str, seconds: float) -> RateDecision:
        """Exhaust an X window until ``now + seconds`` (used by the 429 fault)."""
        with self._lock:
            now = time.time()
            win = self.x_windows.get(key) or Window(start=now)
            win.blocked_until = now + seconds
            self.x_windows[key] = win
            limit = int(self.x_limits.get(key, 900))
            return RateDecision(False, limit, 0, int(win.blocked_until + 0.999))

    def graph_rate(self) -> tuple[bool, int]:
        """Count one Graph call; returns (allowed, usage percent for X-App-Usage)."""
        with self._lock:
            now = time.time()
            if now >= self.graph_window.start + GRAPH_WINDOW_SECONDS:
                self.graph_window = Window(start=now)
            if self.graph_blocked_until > now:
                return False, 100
            limit = max(1, int(self.graph_limit))
            if self.graph_window.count >= limit:
                return False, 100
            self.graph_window.count += 1
            return True, min(100, (self.graph_window.count * 100) // limit)

    def graph_block(self, seconds: float) -> None:
        with self._lock:
            self.graph_blocked_until = time.time() + seconds

    def set_limits(self, limits: dict[str, Any]) -> None:
        """Set per-endpoint X limits (``search``, ``mentions``...) and ``graph`` per hour."""
        with self._lock:
            for key, value in limits.items():
                if key == "graph":
                    self.graph_limit = int(value)
                    self.graph_window = Window(start=time.time())
                elif key == "reset_windows":
                    if value:
                        self.reset_windows()
                elif key in DEFAULT_X_LIMITS:
                    self.x_limits[key] = int(value)
                    self.x_windows.pop(key, None)
                else:
                    raise ValueError(
                        f"unknown limit {key!r}; expected one of "
                        f"{sorted([*DEFAULT_X_LIMITS, 'graph', 'reset_windows'])}")
