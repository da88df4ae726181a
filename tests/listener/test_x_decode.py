"""The X source's own client returns the `requests.Response` (tweepy's documented
`return_type=requests.Response`) and the source decodes its body with orjson
(listener.sources.x `_json`), where `response.json()` did before: the same values, and the
same errors, or the body goes through `response.json()` itself. The real tweepy client,
over HTTP, against the sandbox."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
import requests
import tweepy

from carewatch.domain import Mention
from listener.sources import x as x_source
from listener.sources.base import _parse_any_time, parse_time
from listener.sources.x import XSource, _json
from sandbox.server import SandboxServer
from tests.listener.helpers import polled, x_search_source

TWEETS = 230  # three pages of X search


def _source(sandbox: SandboxServer) -> XSource:
    world = sandbox.world
    first = world.add_tweet("@acmeair where is my bag \U0001f621?", {"username": "ann"},
                            created_at=world.now() - 7200)
    for i in range(TWEETS - 1):
        kwargs: dict[str, Any] = {"created_at": world.now() - 3600 + i}
        if i % 5 == 1:
            kwargs["in_reply_to"] = first.id
        elif i % 7 == 2:
            kwargs["retweet_of"] = first.id
        world.add_tweet(f"@acmeair \u00bfvuelo {i}? \"late\" \\ again", {
            "username": f"cust{i % 9}", **({"followers": i} if i % 3 else {})}, **kwargs)
    source: XSource = x_search_source(sandbox.base_url)
    return source


def _poll(source: XSource) -> list[Mention]:
    mentions: list[Mention] = polled(source)
    return mentions


def test_poll_decodes_with_orjson_and_maps_as_tweepys_other_return_types(
        sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    source = _source(sandbox)
    assert source.client.return_type is requests.Response
    decoded: list[int] = []
    loads = orjson.loads

    def counted(body: Any) -> Any:
        decoded.append(len(body))
        return loads(body)

    monkeypatch.setattr(x_source.orjson, "loads", counted)
    fast = _poll(source)
    assert len(fast) == TWEETS
    assert len(decoded) == 3  # every page through orjson, none left to response.json()
    monkeypatch.undo()
    for return_type in (dict, tweepy.Response):
        source.client.return_type = return_type
        assert _poll(source) == fast, return_type
    assert {type(m.raw) for m in fast} == {dict}
    assert len({id(m.raw) for m in fast}) == TWEETS  # each mention owns its raw payload


def _response(body: bytes, content_type: str | None = "application/json") -> requests.Response:
    """A response as requests builds it from what the server sent (adapters.build_response
    takes the encoding from the headers)."""
    response = requests.Response()
    response.status_code = 200
    response._content = body
    if content_type is not None:
        response.headers["Content-Type"] = content_type
    response.encoding = requests.utils.get_encoding_from_headers(response.headers)
    return response


@pytest.mark.parametrize("body", [
    b'{"data":[{"id":"1","text":"h\\u00e9 \\ud83d\\ude21 \xc3\xa9"}],"meta":{"result_count":1}}',
    b'{"meta":{"result_count":0}}',
    b'{"a":1,"a":2,"f":1.5e-7,"z":-0.0,"n":null,"t":[true,false]}',
    # beyond 64 bits: orjson would read floats
    b'{"big":123456789012345678901234567890}',
    b'{"neg":-9223372036854775809}',
    b'{"ok":18446744073709551615,"low":-9223372036854775808}',
    b'{"nan":NaN,"inf":-Infinity}',  # json reads these, orjson does not
    b'{"lone":"\\ud83d"}',  # a lone surrogate: json keeps it, orjson refuses
    b'{"bad":"\xff\xfe"}',  # not UTF-8: requests replaces the bytes, then json reads
    b'{"latin":"\xe9"}',
])
@pytest.mark.parametrize("content_type", [
    "application/json", "application/json; charset=utf-8", "application/json; charset=UTF8",
    "application/json; charset=latin-1", None])
def test_json_reads_every_body_as_response_json(body: bytes, content_type: str | None) -> None:
    expected = _response(body, content_type).json()
    got = _json(_response(body, content_type))
    assert got == expected or (json.dumps(got) == json.dumps(expected))  # NaN != NaN
    assert repr(got) == repr(expected)  # ints stay ints, floats floats


@pytest.mark.parametrize("body", [b"", b"<html>502</html>", b'{"data":', b"\xef\xbb\xbf{}"])
def test_json_raises_as_response_json(body: bytes) -> None:
    with pytest.raises(requests.exceptions.JSONDecodeError) as expected:
        _response(body).json()
    with pytest.raises(requests.exceptions.JSONDecodeError) as got:
        _json(_response(body))
    assert str(got.value) == str(expected.value)


def test_json_reads_the_body_kept_for_tweepys_log() -> None:
    response = _response(b'{"meta":{"result_count":0}}')
    response._content = x_source._LoggedContent(response.content)
    assert _json(response) == {"meta": {"result_count": 0}}


@pytest.mark.parametrize("value", [
    "2026-05-01T12:00:00.000Z", "2026-05-01T12:00:00Z", "2026-05-01T12:00:00.123456Z",
    "2026-05-01T12:00:00+0000", "2026-05-01T12:00:00+02:00", " 2026-05-01T12:00:00.000Z",
    "2026-05-01T12:00:00.000Z ", "2026-05-01Z", "2026-05-01T12:00:00",
    datetime(2026, 5, 1, 12, tzinfo=UTC), datetime(2026, 5, 1, 12),
    datetime(2026, 5, 1, 14, tzinfo=timezone(timedelta(hours=2)))])
def test_parse_times_fast_path_is_the_general_path(value: Any) -> None:
    try:
        expected = _parse_any_time(value)
    except ValueError as exc:
        refused = str(exc)
    else:
        refused = None
    if refused is not None:
        with pytest.raises(ValueError, match=re.escape(refused)):
            parse_time(value)
        return
    got = parse_time(value)
    assert (got, got.tzinfo, got.utcoffset()) == (expected, expected.tzinfo,
                                                  expected.utcoffset())
    assert got.tzinfo is expected.tzinfo


@pytest.mark.parametrize(("body", "beyond"), [
    (b'{"id":"1600000000000000300","n":-123456789012345678}', False),  # X's 19-digit ids
    (b'{"n":12345678901234567890}', True),
    (b'{"n":-1234567890123456789}', True),
    (b'{"t":"call 555-1234-5678-9012-3456"}', True),  # in a string: json decodes, as safe
    (b'{"d":"2026-12-07T12:09:35.000Z"}', False),
])
def test_beyond_64_bits_finds_every_long_integer_in_one_search(body: bytes,
                                                               beyond: bool) -> None:
    assert x_source._beyond_64_bits(body) is beyond
