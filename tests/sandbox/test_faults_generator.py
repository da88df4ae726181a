"""Faults on demand, the request log, the generator and the server wrapper."""

from __future__ import annotations

import time

import facebook
import pytest
import requests
import tweepy

from sandbox.control import SandboxControl
from sandbox.generator import Generator
from sandbox.server import SandboxServer
from sandbox.world import FB_PAGE_ID, World


def test_graph_5xx_malformed_slow(graph: facebook.GraphAPI, ctl: SandboxControl,
                                  session: requests.Session) -> None:
    ctl.add_fault("/feed", "503")
    with pytest.raises(facebook.GraphAPIError) as err:
        graph.get_connections(FB_PAGE_ID, "feed")
    assert err.value.code == 2
    assert err.value.result["error"]["is_transient"] is True
    assert graph.get_connections(FB_PAGE_ID, "feed") == {"data": []}

    ctl.add_fault(r"^/v\d+\.\d+/" + FB_PAGE_ID + "/feed$", "malformed")
    resp = session.get(f"https://graph.facebook.com/v21.0/{FB_PAGE_ID}/feed",
                       params={"access_token": "t"})
    assert resp.status_code == 200
    assert resp.text == '{"data": ['
    assert resp.headers["content-type"] == "application/json"

    ctl.add_fault("/feed", "slow", delay=0.3)
    started = time.monotonic()
    graph.get_connections(FB_PAGE_ID, "feed")
    assert time.monotonic() - started >= 0.3
    assert [r["fault"] for r in ctl.requests(path="/feed")] == ["503", None, "malformed", None]


def test_drop_response_performs_write(x_user: tweepy.Client, ctl: SandboxControl) -> None:
    root = ctl.add_tweet("@acmeair hi")["id"]
    ctl.add_fault("/2/tweets", "drop_response", method="POST")
    with pytest.raises(tweepy.TwitterServerError):
        x_user.create_tweet(text="reply", in_reply_to_tweet_id=root)
    assert [s["text"] for s in ctl.sent("x_reply")] == ["reply"]
    posted = ctl.requests(path="^/2/tweets$", method="POST")[0]
    assert posted["body"]["reply"]["in_reply_to_tweet_id"] == root
    assert posted["status"] == 503


def test_x_fault_kinds_and_revoked(x_app: tweepy.Client, ctl: SandboxControl) -> None:
    ctl.add_fault("/2/", "500", count=2)
    for _ in range(2):
        with pytest.raises(tweepy.TwitterServerError):
            x_app.search_recent_tweets("x")
    x_app.search_recent_tweets("x")
    ctl.add_fault("/2/users", "revoked")
    with pytest.raises(tweepy.Unauthorized):
        x_app.get_user(id="1500000000000000000")
    with pytest.raises(tweepy.Unauthorized):
        x_app.search_recent_tweets("x")  # revocation is permanent
    with pytest.raises(Exception, match="unknown fault kind"):
        ctl.add_fault("/2/", "explode")


def test_generator_is_deterministic_and_nasty() -> None:
    a, b = World(generator=Generator), World(generator=Generator)
    a.seed(300, seed=11)
    b.seed(300, seed=11)
    texts_a = [t.text for t in a.visible_tweets()]
    assert texts_a == [t.text for t in b.visible_tweets()]
    assert [c.message for c in a.fb_comments.values()] == \
        [c.message for c in b.fb_comments.values()]
    every = texts_a + [c.message for c in a.fb_comments.values()] + \
        [p.message for p in a.fb_posts.values()] + [c.text for c in a.ig_comments.values()]
    joined = "\n".join(every)
    assert any(t.is_retweet for t in a.tweets.values())
    assert any(u.followers >= 100_000 for u in a.x_users.values())
    assert any(t.lang in ("es", "fr", "ko") for t in a.tweets.values())
    assert any(ch in joined for ch in ("<img", "=HYPERLINK", "\u202e", "\u200b", "[click]"))
    assert all(len(t.text) <= 280 for t in a.tweets.values())
    assert any(c.parent_id for c in a.fb_comments.values())
    assert any(c.username == "acmeair" and c.parent_id for c in a.ig_comments.values())
    assert a.state()["x"]["tweets"] > 100
    assert all(t.created_at <= a.now() for t in a.tweets.values())


def test_generate_now_and_live(ctl: SandboxControl, world: World) -> None:
    before = ctl.state()
    ctl.generate(5)
    after = ctl.state()
    total = lambda s: s["x"]["tweets"] + s["facebook"]["comments"] + \
        s["facebook"]["posts"] + s["instagram"]["comments"] + s["instagram"]["media"]  # noqa: E731
    assert total(after) - total(before) >= 5
    ctl.live(1200)  # one every 50 ms
    time.sleep(0.4)
    assert ctl.state()["live"]
    ctl.live(0)
    assert not ctl.state()["live"]
    assert total(ctl.state()) > total(after)


def test_server_picks_port_and_stops() -> None:
    with SandboxServer(seed=3, seed_count=20) as srv:
        ctl = SandboxControl(srv.base_url)
        assert srv.port > 0
        assert ctl.health()
        assert ctl.state()["x"]["tweets"] > 0
    with pytest.raises(requests.ConnectionError):
        requests.get(srv.base_url + "/_sandbox/health", timeout=1)


def test_gateway_timeout_and_empty_reads(x_user: tweepy.Client, x_app: tweepy.Client,
                                         graph: facebook.GraphAPI, ctl: SandboxControl) -> None:
    """504 is a server error on both APIs; `empty` answers one read as if nothing matched
    (a search that has not caught up with a write), the next read sees the write."""
    root = ctl.add_tweet("@acmeair where is my bag")["id"]
    ctl.add_fault("/2/tweets", "504", method="POST")
    with pytest.raises(tweepy.TwitterServerError) as err:
        x_user.create_tweet(text="On it", in_reply_to_tweet_id=root)
    assert err.value.response.status_code == 504
    assert ctl.sent("x_reply") == []
    x_user.create_tweet(text="On it", in_reply_to_tweet_id=root)
    ctl.add_fault("/2/tweets/search/recent", "empty", method="GET")
    query = f"conversation_id:{root} from:acmeair"
    assert x_app.search_recent_tweets(query).data is None
    assert [t.text for t in x_app.search_recent_tweets(query).data] == ["On it"]

    ctl.add_fault("/feed", "504")
    with pytest.raises(facebook.GraphAPIError):
        graph.get_connections(FB_PAGE_ID, "feed")
    post = ctl.add_fb_post("Summer sale")["id"]
    ctl.add_fault(f"/{post}", "empty", method="GET")
    assert graph.get_connections(post, "comments") == {"data": []}


def test_extra_ports_serve_one_world_and_the_log_names_the_port() -> None:
    """A client given a port of its own is recognisable in the request log (the chaos test
    tells its processes apart this way), and a request's log entry says when it ended."""
    with SandboxServer(extra_ports=2) as server:
        first, second = server.extra_base_urls
        ctl = SandboxControl(server.base_url)
        ctl.add_fb_post("One world behind every port")
        http = requests.Session()
        http.trust_env = False
        for base in (first, second, first):
            resp = http.get(f"{base}/v21.0/{FB_PAGE_ID}/feed", params={"access_token": "t"})
            assert [p["message"] for p in resp.json()["data"]] == ["One world behind every port"]
        logged = ctl.requests(path="/v21.0/")
        ports = [int(base.rsplit(":", 1)[1]) for base in (first, second, first)]
        assert [r["port"] for r in logged] == ports
        assert server.port not in ports
        assert all(r["time"] <= r["done"] for r in logged)
