"""Who polled which source when: the listeners' own record of each poll, checked against the
sandbox's record of each request.

- A poll's span is what the listener logged: `poll_started` (after its claim on the source
  committed) to `poll_ended` (before it gives the lease back); a poll cut short by kill -9
  ends when the test saw the process dead.
- The sandbox logs every request with the port it arrived at, and each process has a port of
  its own. A source's first request of each poll is one only that source makes (the search
  with the configured query, the mentions timeline, `/2/dm_events`, the page's `feed`, the
  account's `media`, the page's `conversations` of one platform), so those requests say,
  from outside the product, which process was polling which source at what time.

The checks: spans of one source never overlap; every such request of a listener falls inside
one of its own spans of that source (so the spans are the whole truth), and none inside
another process's span of it.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from tests.chaos.cluster import Spawn
from tests.listener.helpers import (
    DIRECT_KEY,
    DMS_KEY,
    FACEBOOK_KEY,
    INSTAGRAM_KEY,
    MENTIONS_KEY,
    MESSENGER_KEY,
    SEARCH_QUERY,
)

_GRAPH_EDGE = re.compile(r"^/v\d+\.\d+/(\d+)/(feed|media|conversations)$")


@dataclass(frozen=True)
class Span:
    source: str
    spawn: str
    start: float
    end: float
    ended: bool  # False: the process was killed mid-poll


def poll_spans(spawns: list[Spawn]) -> list[Span]:
    """Every poll every listener logged, in order of start."""
    spans: list[Span] = []
    for spawn in spawns:
        if spawn.role != "listen":
            continue
        open_: dict[str, float] = {}
        for event in spawn.events():
            kind, source = event.get("event"), str(event.get("source"))
            if kind not in ("poll_started", "poll_ended"):
                continue
            assert str(event["holder"]).endswith(f":{spawn.proc.pid}"), event
            if kind == "poll_started":
                assert source not in open_, f"{spawn.name} started {source} twice"
                open_[source] = event["ts"]
            else:
                spans.append(Span(source, spawn.name, open_.pop(source), event["ts"], True))
        for source, start in open_.items():
            assert spawn.killed, f"{spawn.name} left a poll of {source} open, not killed"
            assert spawn.died is not None
            spans.append(Span(source, spawn.name, start, spawn.died, False))
    return sorted(spans, key=lambda s: s.start)


def entry_source(request: dict[str, Any], search_key: str) -> str | None:
    """The source whose poll this request belongs to, for requests only a poll makes."""
    if request["method"] != "GET":
        return None
    path, query = request["path"], request["query"] or {}
    if path == "/2/tweets/search/recent":
        return search_key if query.get("query") == SEARCH_QUERY else None
    if re.fullmatch(r"/2/users/\d+/mentions", path):
        return MENTIONS_KEY
    if path == "/2/dm_events":
        return DMS_KEY
    match = _GRAPH_EDGE.match(path)
    if match is None:
        return None
    edge = match.group(2)
    if edge == "feed":
        return FACEBOOK_KEY
    if edge == "media":
        return INSTAGRAM_KEY
    if "user_id" in query:  # a responder looking for a customer's conversation
        return None
    return MESSENGER_KEY if query.get("platform") == "messenger" else DIRECT_KEY


def overlaps(spans: list[Span]) -> list[tuple[Span, Span]]:
    """Pairs of polls of one source by two processes that ran at the same time."""
    found = []
    by_source: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        by_source[span.source].append(span)
    for source_spans in by_source.values():
        for a, b in itertools.combinations(source_spans, 2):
            if a.spawn != b.spawn and a.start < b.end and b.start < a.end:
                found.append((a, b))
    return found


def misplaced_requests(spans: list[Span], requests: list[dict[str, Any]],
                       spawns_by_port: dict[int, Spawn], search_key: str) -> list[str]:
    """Listener requests of a source made outside every poll of it by that process, or
    inside another process's poll of it: each one a line saying which and when."""
    problems = []
    for request in requests:
        spawn = spawns_by_port.get(request.get("port") or -1)
        source = entry_source(request, search_key)
        if spawn is None or spawn.role != "listen" or source is None:
            continue
        at = float(request["time"])
        inside = [s for s in spans if s.source == source and s.start <= at <= s.end]
        own = [s for s in inside if s.spawn == spawn.name]
        others = [s for s in inside if s.spawn != spawn.name]
        if not own:
            problems.append(f"{spawn.name} asked for {source} at {at:.3f} outside its polls")
        for other in others:
            problems.append(f"{spawn.name} asked for {source} at {at:.3f} while "
                            f"{other.spawn} polled it ({other.start:.3f}-{other.end:.3f})")
    return problems
