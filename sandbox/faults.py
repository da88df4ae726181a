"""Faults on demand: a queue of failures that matching requests consume in order.

Tests use it to prove the product copes with the ugly parts of real platforms (rate limits,
5xx, slow answers, truncated JSON, revoked tokens, writes whose response is lost, a search
index that has not caught up with a write yet) without waiting for them to happen by chance.

``empty`` answers a read as if nothing matched (``{"data": []}`` on Graph, ``result_count
0`` on X), the way a search or an edge answers before it shows a write that just happened.
"""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

#: Kinds applied before the request is handled.
PRE_KINDS = {"429", "500", "502", "503", "504", "slow", "malformed", "revoked", "empty"}
#: Kinds applied after the request is handled (the write happens, the answer is lost).
POST_KINDS = {"drop_response"}
KINDS = PRE_KINDS | POST_KINDS


@dataclass
class Fault:
    """One queued fault; ``count`` requests consume it (a negative count never runs out)."""

    match: str
    kind: str
    method: str | None = None
    count: int = 1
    delay: float = 0.0
    reset_after: float = 2.0
    _regex: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.kind = str(self.kind)
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {sorted(KINDS)}")
        if self.method:
            self.method = self.method.upper()
        try:
            self._regex = re.compile(self.match)
        except re.error:
            self._regex = None

    def matches(self, method: str, path: str) -> bool:
        """A fault matches by path prefix or regex search, and by method when one is given."""
        if self.method and self.method != method.upper():
            return False
        if path.startswith(self.match):
            return True
        return bool(self._regex and self._regex.search(path))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("_regex", None)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        """Build from the control API payload; unknown keys are an error (typos hide bugs)."""
        allowed = {"match", "kind", "method", "count", "delay", "reset_after"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        if "match" not in data or "kind" not in data:
            raise ValueError("a fault needs 'match' and 'kind'")
        count = data.get("count", 1)
        return cls(
            match=str(data["match"]),
            kind=str(data["kind"]),
            method=data.get("method"),
            count=int(1 if count is None else count),
            delay=float(data.get("delay") or 0.0),
            reset_after=float(data.get("reset_after", 2.0) if data.get("reset_after") is not None
                              else 2.0),
        )


class FaultQueue:
    """Thread-safe ordered queue; the first matching fault of the right phase is consumed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_dict() for f in self._faults]

    def take(self, method: str, path: str, *, post: bool) -> Fault | None:
        """Consume one use of the first fault matching this request in the given phase."""
        kinds = POST_KINDS if post else PRE_KINDS
        with self._lock:
            for fault in self._faults:
                if fault.kind in kinds and fault.matches(method, path):
                    if fault.count > 0:
                        fault.count -= 1
                        if fault.count == 0:
                            self._faults.remove(fault)
                    return fault
        return None
