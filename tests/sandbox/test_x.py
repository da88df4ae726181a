"""The X API v2 emulation, driven by the real tweepy client."""

from __future__ import annotations

import random
import time

import pytest
import requests
import tweepy

from sandbox.control import SandboxControl
from sandbox.records import iso_x, parse_time
from sandbox.world import BRAND_X_ID, World
from sandbox.x_payload import decode_token, encode_token, timeline
from sandbox.x_query import compile_query

FIELDS = ["author_id", "created_at", "conversation_id", "in_reply_to_user_id",
          "referenced_tweets", "lang", "public_metrics"]
# Parenthesised: X applies AND before OR, so the unbracketed form of this query would let
# retweets through on the ``@acmeair`` side (see test_query_language).
QUERY = '(@acmeair OR "acme air") -is:retweet'


def _search_all(client: tweepy.Client, **kwargs) -> tuple[list, list]:
    tweets, users = [], []
    for page in tweepy.Paginator(client.search_recent_tweets, QUERY, max_results=10,
                                 tweet_fields=FIELDS, expansions="author_id",
                                 user_fields="public_metrics", **kwargs):
        tweets += page.data or []
        users += page.includes.get("users", [])
    return tweets, users


def test_search_pages_newest_first_and_since_id(x_app: tweepy.Client, world: World,
                                                 ctl: SandboxControl) -> None:
    big = {"username": "bigvoice", "name": "Big Voice", "followers": 450_000}
    ids = [ctl.add_tweet(f"@acmeair complaint number {i}", big if i == 3 else None,
                         ago=600 - i)["id"] for i in range(25)]
    ctl.add_tweet("flying Acme Air today", ago=10)
    ctl.add_tweet("unrelated chatter")
    ctl.add_tweet("RT", is_retweet=True, retweet_of=ids[0])
    ctl.add_tweet("@acmeair too old", ago=8 * 86400)

    tweets, users = _search_all(x_app)
    assert len(tweets) == 26
    got = [int(t.id) for t in tweets]
    assert got == sorted(got, reverse=True)
    assert all(t.created_at is not None and t.author_id for t in tweets)
    assert any(u.public_metrics["followers_count"] == 450_000 for u in users)
    reqs = ctl.requests(path="/2/tweets/search/recent")
    assert len(reqs) == 3
    assert "next_token" in reqs[1]["query"]

    newest = tweets[0].id
    ctl.add_tweet("@acmeair new one", ago=0)
    later, _ = _search_all(x_app, since_id=newest)
    assert [t.text for t in later] == ["@acmeair new one"]
    assert ctl.requests(path="/2/tweets/search/recent")[-1]["query"]["since_id"] == str(newest)

    empty = x_app.search_recent_tweets("nothingmatchesthis")
    assert empty.data is None
    assert empty.meta == {"result_count": 0}


def test_search_validation(x_app: tweepy.Client, world: World) -> None:
    with pytest.raises(tweepy.BadRequest):
        x_app.search_recent_tweets("@acmeair", max_results=5)
    with pytest.raises(tweepy.BadRequest):
        x_app.search_recent_tweets("bogus:operator")


def test_query_language() -> None:
    w = World()
    cust = {"username": "Maria", "name": "Maria"}
    root = w.add_tweet("Flight CANCELLED @AcmeAir, need a refund", cust)
    reply = w.add_tweet("@maria sorry! DM us", w.x_users[BRAND_X_ID], in_reply_to=root.id)
    rt = w.add_tweet("", {"username": "echo"}, retweet_of=root.id)
    spanish = w.add_tweet("vuelo cancelado @acmeair", {"username": "ana"}, lang="es")

    def match(q: str) -> set[int]:
        pred = compile_query(q)
        return {t.id for t in w.visible_tweets() if pred(t, w)}

    assert match("@acmeair") == {root.id, rt.id, spanish.id}
    assert match("@acmeair -is:retweet") == {root.id, spanish.id}
    assert match('"need a refund"') == {root.id, rt.id}
    assert match("from:acmeair") == {reply.id}
    assert match(f"conversation_id:{root.id} from:acmeair") == {reply.id}
    assert match("to:maria") == {reply.id}
    assert match("is:reply") == {reply.id}
    assert match("is:retweet") == {rt.id}
    assert match("(refund OR cancelado) -lang:es -is:retweet") == {root.id}
    assert match("cancelled cancelado") == set()
    assert rt.id in match('@acmeair OR "acme air" -is:retweet')  # AND binds tighter than OR
    assert match("-(refund OR dm) @acmeair") == {spanish.id}
    assert rt.text.startswith("RT @Maria:")


def test_mentions_timeline(x_app: tweepy.Client, ctl: SandboxControl) -> None:
    for i in range(12):
        ctl.add_tweet(f"hey @acmeair {i}", ago=100 - i)
    ctl.add_tweet("@acmeairlines is someone else")
    ctl.add_tweet("we are @acmeair", {"id": BRAND_X_ID})
    pages = list(tweepy.Paginator(x_app.get_users_mentions, BRAND_X_ID, max_results=5,
                                  tweet_fields=["created_at"]))
    texts = [t.text for p in pages for t in (p.data or [])]
    assert len(pages) == 3
    assert texts[0] == "hey @acmeair 11"
    assert len(texts) == 12
    assert "pagination_token" in ctl.requests(path="/mentions")[1]["query"]
    with pytest.raises(tweepy.BadRequest):
        x_app.get_users_mentions(BRAND_X_ID, max_results=4)


def test_rate_limit_headers_and_429(x_app: tweepy.Client, ctl: SandboxControl,
                                    session: requests.Session) -> None:
    ctl.set_limits(search=2)
    resp = session.get("https://api.twitter.com/2/tweets/search/recent",
                       params={"query": "x"}, headers={"Authorization": "Bearer t"})
    assert resp.headers["content-type"] == "application/json"
    assert resp.headers["x-rate-limit-limit"] == "2"
    assert resp.headers["x-rate-limit-remaining"] == "1"
    assert int(resp.headers["x-rate-limit-reset"]) > time.time() + 800
    x_app.search_recent_tweets("x")
    with pytest.raises(tweepy.TooManyRequests) as err:
        x_app.search_recent_tweets("x")
    assert err.value.response.json() == {"title": "Too Many Requests",
                                         "detail": "Too Many Requests",
                                         "type": "about:blank", "status": 429}
    assert err.value.reset_time > time.time() + 800
    x_app.get_users_mentions(BRAND_X_ID)  # other endpoints have their own window


def test_429_fault_holds_until_reset(x_app: tweepy.Client, ctl: SandboxControl) -> None:
    ctl.add_fault("/2/tweets/search/recent", "429", reset_after=1)
    with pytest.raises(tweepy.TooManyRequests) as err:
        x_app.search_recent_tweets("x")
    reset = err.value.reset_time
    assert time.time() < reset <= time.time() + 2.5
    with pytest.raises(tweepy.TooManyRequests):
        x_app.search_recent_tweets("x")
    time.sleep(max(0.0, reset - time.time()) + 0.05)
    assert x_app.search_recent_tweets("x").meta == {"result_count": 0}
    statuses = [r["status"] for r in ctl.requests(path="search")]
    assert statuses == [429, 429, 200]


def test_auth_and_revoke(x_app: tweepy.Client, ctl: SandboxControl,
                         session: requests.Session) -> None:
    resp = session.get("https://api.twitter.com/2/users/me")
    assert resp.status_code == 401
    assert resp.json() == {"title": "Unauthorized", "type": "about:blank", "status": 401,
                           "detail": "Unauthorized"}
    assert x_app.get_user(id=BRAND_X_ID).data.username == "acmeair"
    ctl.revoke("x")
    with pytest.raises(tweepy.Unauthorized):
        x_app.search_recent_tweets("x")


def test_reply_joins_conversation(x_user: tweepy.Client, x_app: tweepy.Client,
                                  ctl: SandboxControl) -> None:
    root = ctl.add_tweet("@acmeair lost my bag", {"username": "sam"})
    resp = x_user.create_tweet(text="@sam sorry, DM us", in_reply_to_tweet_id=root["id"])
    new_id = resp.data["id"]
    assert resp.data["edit_history_tweet_ids"] == [new_id]
    found = x_app.search_recent_tweets(f"conversation_id:{root['id']} from:acmeair",
                                       tweet_fields=["conversation_id", "author_id",
                                                     "in_reply_to_user_id"])
    assert [t.id for t in found.data] == [int(new_id)]
    assert found.data[0].conversation_id == int(root["id"])
    assert found.data[0].author_id == int(BRAND_X_ID)
    assert x_user.get_me().data.username == "acmeair"
    sent = ctl.sent("x_reply")
    assert sent[0]["in_reply_to"] == root["id"]
    assert sent[0]["text"] == "@sam sorry, DM us"

    with pytest.raises(tweepy.BadRequest):
        x_user.create_tweet(text="x" * 281, in_reply_to_tweet_id=root["id"])
    ctl.delete_tweet(root["id"])
    with pytest.raises(tweepy.BadRequest) as err:
        x_user.create_tweet(text="hello", in_reply_to_tweet_id=root["id"])
    assert "deleted" in err.value.response.json()["detail"]
    assert x_app.get_tweet(root["id"]).data is None


def test_direct_messages(x_user: tweepy.Client, ctl: SandboxControl) -> None:
    open_user = ctl.add_tweet("@acmeair help", {"username": "openu"})["author_id"]
    closed = ctl.add_tweet("@acmeair help", {"username": "closedu", "dms_open": False})
    resp = x_user.create_direct_message(participant_id=open_user, text="Hi, how can we help?")
    assert resp.data["dm_event_id"]
    assert resp.data["dm_conversation_id"] == f"{BRAND_X_ID}-{open_user}" or \
        resp.data["dm_conversation_id"] == f"{open_user}-{BRAND_X_ID}"
    with pytest.raises(tweepy.Forbidden):
        x_user.create_direct_message(participant_id=closed["author_id"], text="Hi")
    assert [s["participant_id"] for s in ctl.sent("x_dm")] == [open_user]


def test_duplicate_reply_is_refused(x_user: tweepy.Client, ctl: SandboxControl) -> None:
    """X refuses a tweet whose text the account already posted (here: to the same tweet);
    the same words to another tweet, or after the first was deleted, go through."""
    root = ctl.add_tweet("@acmeair lost my bag", {"username": "sam"})["id"]
    other = ctl.add_tweet("@acmeair lost my bag too", {"username": "kim"})["id"]
    first = x_user.create_tweet(text="Sorry, DM us", in_reply_to_tweet_id=root)
    with pytest.raises(tweepy.Forbidden) as err:
        x_user.create_tweet(text="Sorry, DM us", in_reply_to_tweet_id=root)
    assert err.value.api_messages == [
        "You are not allowed to create a Tweet with duplicate content."]
    x_user.create_tweet(text="Sorry, DM us", in_reply_to_tweet_id=other)
    ctl.delete_tweet(first.data["id"])
    x_user.create_tweet(text="Sorry, DM us", in_reply_to_tweet_id=root)
    assert len(ctl.sent("x_reply")) == 3


def _reference_page(tweets: list, query: dict[str, str], max_results: int) -> list[int]:
    """The page a full scan picks: every filter over the whole newest-first list."""
    since = int(query["since_id"]) if "since_id" in query else None
    until = int(query["until_id"]) if "until_id" in query else None
    before = decode_token("next_token", query["next_token"]) if "next_token" in query else None
    start = parse_time(query["start_time"]) if "start_time" in query else None
    selected = [t.id for t in tweets
                if (since is None or t.id > since) and (until is None or t.id < until)
                and (before is None or t.id < before)
                and (start is None or t.created_at >= start)]
    return selected[:max_results + 1]


def test_timeline_reads_lazily_but_pages_like_a_full_scan() -> None:
    """The bisecting, early-stopping timeline gives the same pages and tokens as filtering
    every tweet, with deleted tweets and created_at out of id order in the store."""
    w = World()
    rng = random.Random(7)
    now = w.now()
    made = [w.add_tweet(f"tweet {i}", {"username": f"u{i % 5}"},
                        created_at=now - rng.randrange(3600)) for i in range(120)]
    for t in rng.sample(made, 20):
        w.delete_object("x", str(t.id))
    live = w.visible_tweets()
    assert [t.id for t in live] == sorted((t.id for t in made if not t.deleted), reverse=True)
    ids = [t.id for t in made]
    cases: list[dict[str, str]] = [{}]
    for _ in range(60):
        q: dict[str, str] = {"max_results": str(rng.choice([10, 25, 100]))}
        if rng.random() < 0.5:
            q["since_id"] = str(rng.choice(ids))
        if rng.random() < 0.4:
            q["until_id"] = str(rng.choice(ids))
        if rng.random() < 0.5:
            q["next_token"] = encode_token(rng.choice(ids) + rng.choice([0, 1]))
        if rng.random() < 0.3:
            q["start_time"] = iso_x(now - rng.randrange(3600))
        cases.append(q)
    for q in cases:
        size = int(q.get("max_results", "10"))
        with w.lock:
            got = timeline(q, w, w.tweets_newest_first, token_param="next_token", low=10,
                           high=100)
        want = _reference_page(live, q, size)
        assert [int(t["id"]) for t in got.get("data", [])] == want[:size], q
        assert got["meta"]["result_count"] == len(want[:size])
        assert ("next_token" in got["meta"]) == (len(want) > size), q
