"""Error bodies as each platform writes them; handlers raise them as ``ApiError``.

The clients branch on these shapes (tweepy reads ``errors[].message`` and the status,
facebook-sdk reads ``error.code`` and ``error_subcode``), so keys and their order follow the
real platforms.
"""

from __future__ import annotations

import itertools
from typing import Any

_trace_ids = itertools.count(1)

X_UNAUTHORIZED = {"title": "Unauthorized", "type": "about:blank", "status": 401,
                  "detail": "Unauthorized"}
GRAPH_RETRY_LATER = "An unexpected error has occurred. Please retry your request later."


class ApiError(Exception):
    """Raised by handlers to answer with an error body and status."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body


def x_problem(status: int, title: str, detail: str,
              type_: str = "about:blank", **extra: Any) -> ApiError:
    return ApiError(status, {"title": title, "detail": detail, "type": type_,
                             "status": status, **extra})


def x_invalid(parameter: str, value: Any, message: str) -> ApiError:
    """X's 400 for a bad parameter (tweepy reads ``errors[].message``)."""
    return ApiError(400, {
        "errors": [{"parameters": {parameter: [str(value)]}, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    })


def x_status(status: int, title: str) -> dict[str, Any]:
    """X's plain body for 429 and 5xx answers."""
    return {"title": title, "detail": title, "type": "about:blank", "status": status}


def graph_error(status: int, message: str, code: int, *, type_: str = "OAuthException",
                subcode: int | None = None, transient: bool = False) -> ApiError:
    err: dict[str, Any] = {"message": message, "type": type_, "code": code}
    if subcode is not None:
        err["error_subcode"] = subcode
    err["is_transient"] = transient
    err["fbtrace_id"] = f"ASbx{next(_trace_ids):08d}"
    return ApiError(status, {"error": err})


def graph_unavailable(*, traced: bool) -> dict[str, Any]:
    """Graph's transient code 2 body (a 5xx); ``traced`` adds an ``fbtrace_id``."""
    err: dict[str, Any] = {"code": 2, "is_transient": True, "type": "OAuthException",
                           "message": GRAPH_RETRY_LATER}
    if traced:
        err["fbtrace_id"] = f"ASbx{next(_trace_ids)}"
    return {"error": err}


def bad_json_body(platform: str) -> ApiError:
    """A request body that claims to be JSON and is not."""
    if platform == "x":
        return x_problem(400, "Invalid Request", "Request body is not valid JSON")
    return graph_error(400, "(#100) Invalid JSON body", 100)
