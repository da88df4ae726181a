"""HTTP plumbing shared by the sandbox's APIs: JSON answers, request bodies, path
convertors, and the front door every platform route goes through.

The front door (``serve``) applies queued faults and records each request, so every route
behaves the same way, as the real platforms' front doors do.  Every answer carries
``Content-Type: application/json``, because facebook-sdk crashes without one.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.convertors import StringConvertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.errors import ApiError, bad_json_body, graph_unavailable, x_status
from sandbox.faults import Fault
from sandbox.world import World

JSON = "application/json"
#: What the sandbox's routes accept (Starlette answers HEAD wherever GET is accepted).
METHODS = ["GET", "POST", "DELETE", "PUT", "PATCH"]
_MASK = {"access_token", "client_secret", "appsecret_proof"}

Endpoint = Callable[[Request], Awaitable[Response]]


class _Digits(StringConvertor):
    regex = r"\d+"


class _Word(StringConvertor):
    regex = r"\w+"


class _GraphVersion(StringConvertor):
    regex = r"v\d+\.\d+"


class _MessagingPlatform(StringConvertor):
    regex = r"messenger|instagram"


class _PairId(StringConvertor):
    """A one-to-one conversation id: ``<user id>-<user id>``."""

    regex = r"\d+-\d+"


# Path parameters stay strings (ids are keys, and ``0012`` must not become ``12``).
register_url_convertor("digits", _Digits())
register_url_convertor("word", _Word())
register_url_convertor("graph_version", _GraphVersion())
register_url_convertor("pair_id", _PairId())
register_url_convertor("messaging_platform", _MessagingPlatform())


class JSONBody(Response):
    """JSON written as ``json.dumps`` does by default (Starlette's own is compact)."""

    media_type = JSON

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False).encode("utf-8")


def json_response(body: Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    return JSONBody(body, status_code=status, headers=headers)


def error_response(exc: ApiError) -> Response:
    return json_response(exc.body, exc.status)


def malformed_response(headers: dict[str, str]) -> Response:
    """A 200 whose JSON is cut short (the ``malformed`` fault)."""
    return Response('{"data": [', status_code=200, headers=headers, media_type=JSON)


def slash_tolerant(path: str, endpoint: Endpoint,
                   methods: list[str] | None = None) -> list[BaseRoute]:
    """The route with and without a trailing slash (both answer the same)."""
    return [Route(path, endpoint, methods=methods or METHODS),
            Route(path + "/", endpoint, methods=methods or METHODS)]


async def read_body(request: Request) -> Any:
    """Form or JSON body (``None`` when empty); ValueError for a broken JSON body."""
    raw = await request.body()
    if not raw:
        return None
    ctype = request.headers.get("content-type", "")
    text = raw.decode("utf-8", "replace")
    if "application/x-www-form-urlencoded" in ctype:
        return dict(parse_qsl(text, keep_blank_values=True))
    try:
        return json.loads(text)
    except ValueError:
        if "json" in ctype:
            raise
        return dict(parse_qsl(text, keep_blank_values=True)) or text


def world_of(request: Request) -> World:
    world: World = request.app.state.world
    return world


def body_of(request: Request) -> Any:
    """The body ``serve`` parsed."""
    return request.state.body


def body_dict(request: Request) -> dict[str, Any]:
    body = body_of(request)
    return body if isinstance(body, dict) else {}


def arg(request: Request, name: str, default: str | None = None) -> str | None:
    """A parameter from the query string or a form/JSON body (Graph accepts both)."""
    if name in request.query_params:
        return request.query_params[name]
    body = body_of(request)
    if isinstance(body, dict) and name in body:
        value = body[name]
        return value if isinstance(value, str) else json.dumps(value)
    return default


def _masked(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: ("***" if k in _MASK else v) for k, v in data.items()}
    return data


def _carried(resp: Response) -> dict[str, str]:
    """A response's own headers (rate limits, app usage), not those of its body."""
    return {k: v for k, v in resp.headers.items() if k not in ("content-length", "content-type")}


#: A platform's checks and dispatch: faults that act before the handler, auth, rate limits.
Gate = Callable[[Request, World, Fault | None], Response]


async def serve(request: Request, platform: str, gate: Gate) -> Response:
    """Parse the body, apply faults around ``gate``, record the request."""
    world = world_of(request)
    started = time.time()
    path = request.url.path
    try:
        request.state.body = await read_body(request)
    except ValueError:
        return error_response(bad_json_body(platform))
    fault = world.faults.take(request.method, path, post=False)
    if fault is not None and fault.delay > 0:
        await asyncio.sleep(fault.delay)
    if fault is not None and fault.kind == "slow":
        fault = None
    resp = gate(request, world, fault)
    post_fault = None
    if resp.status_code < 500 and (fault is None or fault.kind != "malformed"):
        post_fault = world.faults.take(request.method, path, post=True)
    if post_fault is not None:
        # The write happened; its answer is lost on the way back.
        if post_fault.delay > 0:
            await asyncio.sleep(post_fault.delay)
        lost = (x_status(503, "Service Unavailable") if platform == "x"
                else graph_unavailable(traced=False))
        resp = json_response(lost, 503, _carried(resp))
    applied = fault or post_fault
    world.record_request({
        "method": request.method, "path": path, "platform": platform,
        "query": _masked(dict(request.query_params)),
        "body": _masked(body_of(request)) if request.method != "GET" else None,
        "status": resp.status_code, "time": started, "done": time.time(),
        "port": (request.scope.get("server") or (None, None))[1],
        "fault": applied.kind if applied else None,
    })
    return resp


def whole_number(value: str) -> re.Pattern[str]:
    """`value` where it stands as a whole number, not inside a longer run of digits."""
    return re.compile(rf"(?<![0-9]){re.escape(value)}(?![0-9])")


def with_ids_renamed(resp: Response, names: dict[str, str]) -> Response:
    """A JSON answer with each of the world's ids (key) written as the product knows it
    (value): the sandbox serving another brand's configuration (`graph_ids`, `x_brand_ids`)."""
    if not names or not resp.media_type or "json" not in resp.media_type:
        return resp
    body = bytes(resp.body).decode()
    for ours, theirs in names.items():
        body = whole_number(ours).sub(theirs, body)
    encoded = body.encode()
    if encoded != resp.body:
        resp.body = encoded
        resp.headers["content-length"] = str(len(encoded))
    return resp
