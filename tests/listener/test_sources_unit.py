"""Unit tests: X cursor logic (incremental, multi-page, crash-resume) and thread mapping on
all three platforms, with a fake X timeline and plain Graph payloads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import tweepy

from carewatch.errors import PermanentError
from carewatch.settings import Settings, SourceConfig
from listener.sources.facebook import FacebookSource
from listener.sources.instagram import InstagramSource
from listener.sources.x import XSource

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
BRAND = "1500000000000000000"


def _settings(**kw: Any) -> Settings:
    return Settings(x_bearer_token="t", fb_page_token="t", max_retries=1, **kw)


class FakeTimeline:
    """Newest-first tweets with X's since_id / until_id / token / max_results semantics."""

    def __init__(self, ids: list[int], *, page: int = 3) -> None:
        self.ids = sorted(ids, reverse=True)
        self.page = page
        self.calls: list[dict[str, Any]] = []
        self.reject_since: bool = False

    def _tweet(self, i: int) -> dict[str, Any]:
        author = BRAND if i % 10 == 0 else str(1000 + i % 3)
        created = (NOW - timedelta(minutes=10_000 - i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return {"id": str(i), "text": f"tweet {i} @acmeair", "author_id": author,
                "created_at": created, "conversation_id": str(i),
                "edit_history_tweet_ids": [str(i)]}

    def __call__(self, *args: Any, **params: Any) -> tweepy.Response:
        self.calls.append(params)
        if self.reject_since and "since_id" in params:
            raise PermanentError("X refused the request (400): Invalid 'since_id'", code=400)
        since = int(params.get("since_id") or 0)
        until = int(params.get("until_id") or 10**30)
        token = params.get("next_token") or params.get("pagination_token")
        before = int(token) if token else 10**30
        selected = [i for i in self.ids if since < i < until and i < before]
        chunk = selected[: self.page]
        if not chunk:
            return tweepy.Response(None, {}, [], {"result_count": 0})
        meta: dict[str, Any] = {"newest_id": str(chunk[0]), "oldest_id": str(chunk[-1]),
                                "result_count": len(chunk)}
        if len(selected) > len(chunk):
            meta["next_token"] = str(chunk[-1])
        users = [tweepy.User({"id": a, "username": "acmeair" if a == BRAND else f"u{a}",
                              "name": "n", "public_metrics": {"followers_count": 7}})
                 for a in {self._tweet(i)["author_id"] for i in chunk}]
        return tweepy.Response([tweepy.Tweet(self._tweet(i)) for i in chunk],
                               {"users": users}, [], meta)


class FakeClient:
    def __init__(self, timeline: FakeTimeline) -> None:
        self.search_recent_tweets = timeline
        self.get_users_mentions = timeline


def _x(timeline: FakeTimeline, kind: str = "search") -> XSource:
    config = (SourceConfig(platform="x", kind="search", query="@acmeair")
              if kind == "search" else SourceConfig(platform="x", kind="mentions",
                                                    user_id=BRAND))
    return XSource(config, _settings(), client=FakeClient(timeline),  # type: ignore[arg-type]
                   now=lambda: NOW)


def _drain(source: XSource, cursor: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    ids: list[str] = []
    cursors: list[dict[str, Any]] = []
    for page in source.poll(cursor):
        ids += [m.external_id for m in page.mentions]
        cursors.append(page.cursor)
    return ids, cursors


def test_first_poll_backfills_and_cursor_never_runs_ahead() -> None:
    timeline = FakeTimeline(list(range(101, 109)), page=3)
    ids, cursors = _drain(_x(timeline), {})
    assert sorted(ids) == [str(i) for i in range(101, 109)]
    first = timeline.calls[0]
    assert "since_id" not in first
    assert first["start_time"] >= NOW - timedelta(days=7)
    # Mid-run cursors keep the old since_id and remember the pending newest id.
    assert cursors[0] == {"since_id": None, "pending_newest": "108", "until_id": "106",
                          "newest_at": cursors[0]["newest_at"]}
    assert cursors[1]["until_id"] == "103"
    assert cursors[1]["since_id"] is None
    assert cursors[-1]["since_id"] == "108"
    assert "until_id" not in cursors[-1]


def test_incremental_poll_uses_since_id() -> None:
    timeline = FakeTimeline(list(range(101, 112)), page=5)
    ids, cursors = _drain(_x(timeline, "mentions"), {"since_id": "108"})
    assert sorted(ids) == ["109", "110", "111"]
    assert timeline.calls[0]["since_id"] == "108"
    assert "start_time" not in timeline.calls[0]
    assert cursors[-1]["since_id"] == "111"


def test_crash_mid_run_resumes_without_gap_or_skip() -> None:
    timeline = FakeTimeline(list(range(101, 121)), page=4)
    source = _x(timeline)
    gen = source.poll({"since_id": "102"})
    first = next(gen)  # page 1 stored with its cursor...
    stored = [m.external_id for m in first.mentions]
    next(gen)  # ...page 2 fetched, then the process dies before storing it
    gen.close()
    page1_cursor = first.cursor
    assert page1_cursor == {"since_id": "102", "pending_newest": "120", "until_id": "117",
                            "newest_at": page1_cursor["newest_at"]}
    timeline.ids += [121, 122]  # arrive meanwhile
    timeline.ids.sort(reverse=True)
    ids, cursors = _drain(_x(timeline), page1_cursor)
    assert timeline.calls[-1]["until_id"] == "117"
    assert set(stored) | set(ids) == {str(i) for i in range(103, 121)}
    assert cursors[-1]["since_id"] == "120"
    later, _ = _drain(_x(timeline), cursors[-1])
    assert sorted(later) == ["121", "122"]


def test_stale_since_id_falls_back_to_backfill() -> None:
    timeline = FakeTimeline([101, 102])
    timeline.reject_since = True
    ids, cursors = _drain(_x(timeline), {"since_id": "5"})
    assert sorted(ids) == ["101", "102"]
    assert cursors[-1]["since_id"] == "102"
    old = (NOW - timedelta(days=8)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    timeline.reject_since = False
    _drain(_x(timeline), {"since_id": "5", "newest_at": old})
    assert "since_id" not in timeline.calls[-1]
    assert "start_time" in timeline.calls[-1]


def test_x_mapping_threads_own_and_retweets() -> None:
    source = _x(FakeTimeline([]))
    users = {"7": tweepy.User({"id": "7", "username": "ann", "name": "Ann",
                               "public_metrics": {"followers_count": 12}}),
             BRAND: tweepy.User({"id": BRAND, "username": "AcmeAir", "name": "Acme"})}
    reply = tweepy.Tweet({"id": "30", "edit_history_tweet_ids": ["30"],
                          "text": "a\u200bb <b>", "author_id": "7",
                          "conversation_id": "10", "created_at": "2026-05-01T10:00:00.000Z",
                          "referenced_tweets": [{"type": "quoted", "id": "5"},
                                                {"type": "replied_to", "id": "20"}],
                          "public_metrics": {"like_count": 2, "reply_count": 1,
                                             "retweet_count": 3, "quote_count": 1}})
    m = source.to_mention(reply, users)
    assert not m.is_echo
    assert m.text == "a\u200bb <b>"
    assert m.thread_id == "10"
    assert m.parent_id == "20"
    assert not m.is_own
    assert m.author.followers == 12
    assert m.url == "https://x.com/ann/status/30"
    assert m.repost_count == 4
    assert m.raw == reply.data
    own = tweepy.Tweet({"id": "31", "edit_history_tweet_ids": [], "text": "hi", "author_id": BRAND})
    own_m = source.to_mention(own, users)
    assert own_m.is_own
    rt = tweepy.Tweet({"id": "32", "edit_history_tweet_ids": [], "text": "RT x", "author_id": "7",
                       "referenced_tweets": [{"type": "retweeted", "id": "30"}]})
    echo = source.to_mention(rt, users)
    assert echo.is_echo
    assert echo.text == "RT x"
    old_style = tweepy.Tweet({"id": "33", "edit_history_tweet_ids": [], "author_id": "7",
                              "text": "RT @acmeair: we fly again"})
    assert source.to_mention(old_style, users).is_echo
    source.config = source.config.model_copy(update={"include_retweets": True})
    assert not source.to_mention(rt, users).is_echo
    assert not source.to_mention(old_style, users).is_echo


def test_x_maps_tweepy_objects_and_json_dicts_alike() -> None:
    """The source's own client returns the response (`return_type=requests.Response`,
    decoded by `_json`); a client handed in returns tweepy's objects: both map to the same
    Mention, raw JSON included."""
    source = _x(FakeTimeline([]))
    user = {"id": "7", "username": "ann", "name": "Ann", "public_metrics": {"followers_count": 12}}
    tweet = {"id": "30", "edit_history_tweet_ids": ["30"], "text": "where is my bag?",
             "author_id": "7", "conversation_id": "10", "lang": "en",
             "created_at": "2026-05-01T10:00:00.000Z",
             "referenced_tweets": [{"type": "replied_to", "id": "20"}],
             "public_metrics": {"like_count": 2, "reply_count": 1, "retweet_count": 3,
                                "quote_count": 1}}
    from_json = source.to_mention(tweet, {"7": user})
    from_tweepy = source.to_mention(tweepy.Tweet(dict(tweet)), {"7": tweepy.User(dict(user))})
    assert from_json == from_tweepy
    assert from_json.raw == tweet
    assert from_json.raw is not tweet  # a copy: the mention owns its raw JSON
    assert (from_json.author.handle, from_json.author.followers) == ("ann", 12)
    assert source.to_mention({**tweet, "author_id": "9"}, {"7": user}).author.handle is None
    assert XSource(SourceConfig(platform="x", kind="search", query="q"),
                   _settings()).client.return_type is requests.Response


def test_facebook_mapping() -> None:
    src = FacebookSource(SourceConfig(platform="facebook", page_id="100"), _settings(),
                         graph=object(), now=lambda: NOW)  # type: ignore[arg-type]
    post = {"id": "100_1", "message": "hello", "created_time": "2026-05-01T10:00:00+0000",
            "from": {"id": "100", "name": "Acme"}, "permalink_url": "https://fb/p"}
    pm = src.post_mention(post)
    assert pm.is_own
    assert pm.thread_id == "100_1"
    assert pm.parent_id is None
    visitor = src.post_mention({**post, "id": "100_2", "from": {"id": "9", "name": "V"}})
    assert not visitor.is_own
    comment = {"id": "1_5", "message": "=1+1", "created_time": "2026-05-01T10:05:00+0000",
               "from": {"id": "9", "name": "V"}, "parent": {"id": "1_4"}}
    cm = src.comment_mention(comment, "100_1", "https://fb/p")
    assert cm.parent_id == "1_4"
    assert cm.thread_id == "100_1"
    assert cm.text == "=1+1"
    assert cm.created_at == datetime(2026, 5, 1, 10, 5, tzinfo=UTC)
    top = src.comment_mention({**comment, "parent": None}, "100_1", None)
    assert top.parent_id == "100_1"
    page_reply = src.comment_mention({**comment, "from": {"id": "100"}}, "100_1", None)
    assert page_reply.is_own


def test_instagram_mapping() -> None:
    src = InstagramSource(SourceConfig(platform="instagram", ig_user_id="178"),
                          _settings(), graph=object(), now=lambda: NOW)  # type: ignore[arg-type]
    media = src.media_mention({"id": "M1", "caption": "sunset", "timestamp":
                               "2026-05-01T09:00:00+0000", "permalink": "https://ig/p"})
    assert media.is_own
    assert media.thread_id == "M1"
    c = {"id": "C1", "text": "wow", "timestamp": "2026-05-01T09:10:00+0000",
         "username": "fan", "from": {"id": "55", "username": "fan"}}
    cm = src.comment_mention(c, "M1", "https://ig/p", parent_id=None)
    assert not cm.is_own
    assert cm.thread_id == "M1"
    assert cm.parent_id == "M1"
    reply = src.comment_mention({**c, "id": "C2", "username": "AcmeAir", "from": {}}, "M1",
                                None, parent_id="C1")
    assert reply.is_own
    assert reply.parent_id == "C1"


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-05-01T10:00:00+0000", datetime(2026, 5, 1, 10, tzinfo=UTC)),
    ("2026-05-01T10:00:00.000Z", datetime(2026, 5, 1, 10, tzinfo=UTC)),
    ("2026-05-01T12:00:00+0200", datetime(2026, 5, 1, 10, tzinfo=UTC)),
])
def test_parse_time(value: str, expected: datetime) -> None:
    from listener.sources.base import parse_time

    assert parse_time(value) == expected
