"""The Graph API emulation (Facebook + Instagram), driven by the real facebook-sdk client."""

from __future__ import annotations

import json

import facebook
import pytest
import requests

from sandbox.control import SandboxControl
from sandbox.world import FB_PAGE_ID, IG_USER_ID

COMMENT_FIELDS = ("id,message,created_time,from{id,name},parent{id},comment_count,"
                  "like_count,can_reply_privately,permalink_url")


def _private_reply(graph: facebook.GraphAPI, sender: str, comment_id: str, text: str) -> dict:
    return graph.request(f"{graph.version}/{sender}/messages", post_args={
        "recipient": json.dumps({"comment_id": comment_id}),
        "message": json.dumps({"text": text})})


def test_feed_paging_with_get_all_connections(graph: facebook.GraphAPI,
                                              ctl: SandboxControl) -> None:
    ctl.add_fb_post("Summer sale!", ago=5000)
    for i in range(11):
        ctl.add_fb_post(f"visitor post {i}", {"name": "Ana Silva"}, ago=1000 - i)
    first = graph.get_connections(FB_PAGE_ID, "feed", fields="id,message,created_time,from,"
                                  "permalink_url", limit=5)
    assert len(first["data"]) == 5
    assert "access_token=" in first["paging"]["next"]
    assert first["data"][0]["message"] == "visitor post 10"
    assert first["data"][0]["created_time"].endswith("+0000")
    every = list(graph.get_all_connections(FB_PAGE_ID, "feed", fields="id,message,from",
                                           limit=5))
    assert len(every) == 12
    assert every[-1]["from"] == {"id": FB_PAGE_ID, "name": "Acme Air"}
    assert len({p["id"] for p in every}) == 12
    own = graph.get_connections(FB_PAGE_ID, "posts")["data"]
    assert [p["message"] for p in own] == ["Summer sale!"]
    visitors = graph.get_connections(FB_PAGE_ID, "visitor_posts", limit=100)["data"]
    assert len(visitors) == 11


def test_comments_stream_toplevel_order_summary(graph: facebook.GraphAPI,
                                                ctl: SandboxControl) -> None:
    post = ctl.add_fb_post("New route to Seoul", ago=9000)["id"]
    top = ctl.add_fb_comment("my flight was cancelled", post_id=post,
                             author={"name": "Leo Park"}, ago=3000)["id"]
    page_reply = ctl.add_fb_comment("Sorry Leo, DM us", parent_id=top, author="page",
                                    ago=2000)["id"]
    follow = ctl.add_fb_comment("sent!", parent_id=top, author={"name": "Leo Park"},
                                ago=1000)["id"]
    other = ctl.add_fb_comment("love it", post_id=post, author={"name": "Zoe"}, ago=500)["id"]

    stream = graph.get_connections(post, "comments", filter="stream", fields=COMMENT_FIELDS,
                                   summary="true")
    assert [c["id"] for c in stream["data"]] == [top, page_reply, follow, other]
    assert stream["summary"]["total_count"] == 4
    by_id = {c["id"]: c for c in stream["data"]}
    assert by_id[page_reply]["parent"] == {"id": top}
    assert by_id[page_reply]["from"]["id"] == FB_PAGE_ID
    assert by_id[top]["comment_count"] == 2
    assert "parent" not in by_id[top]
    assert by_id[top]["can_reply_privately"] is True
    assert by_id[page_reply]["can_reply_privately"] is False

    toplevel = graph.get_connections(post, "comments", order="reverse_chronological")
    assert [c["id"] for c in toplevel["data"]] == [other, top]
    replies = graph.get_connections(top, "comments")
    assert [c["id"] for c in replies["data"]] == [page_reply, follow]
    since = graph.get_connections(post, "comments", filter="stream",
                                  since=str(int(ctl.state()["now"]) - 1500))
    assert [c["id"] for c in since["data"]] == [follow, other]
    single = graph.get_object(top, fields="id,message,from{id,name}")
    assert single == {"id": top, "message": "my flight was cancelled",
                      "from": {"id": by_id[top]["from"]["id"], "name": "Leo Park"}}
    with pytest.raises(facebook.GraphAPIError) as err:
        graph.get_object(top, fields="id,bogus")
    assert err.value.code == 100


def test_public_and_private_replies(graph: facebook.GraphAPI, ctl: SandboxControl) -> None:
    post = ctl.add_fb_post("Hello", ago=9000)["id"]
    comment = ctl.add_fb_comment("refund??", post_id=post, author={"name": "Kim"},
                                 ago=100)["id"]
    old = ctl.add_fb_comment("old one", post_id=post, author={"name": "Kim"},
                             ago=8 * 86400)["id"]
    reply = graph.put_object(comment, "comments", message="We're on it")
    got = graph.get_object(reply["id"], fields="from,parent")
    assert got["from"]["id"] == FB_PAGE_ID
    assert got["parent"]["id"] == comment

    first = _private_reply(graph, FB_PAGE_ID, comment, "Hi Kim, your refund...")
    assert first["recipient_id"]
    assert first["message_id"]
    with pytest.raises(facebook.GraphAPIError) as err:
        _private_reply(graph, FB_PAGE_ID, comment, "again")
    assert err.value.code == 10900
    with pytest.raises(facebook.GraphAPIError) as err:
        _private_reply(graph, FB_PAGE_ID, old, "late")
    assert err.value.code == 10
    assert err.value.result["error"]["error_subcode"] == 2018278
    with pytest.raises(facebook.GraphAPIError) as err:
        _private_reply(graph, FB_PAGE_ID, "999_999", "nobody")
    assert err.value.code == 100
    kinds = [(s["kind"], s.get("comment_id") or s.get("target_id")) for s in ctl.sent()]
    assert kinds == [("facebook_comment", comment), ("private_reply", comment)]


def test_instagram(graph: facebook.GraphAPI, ctl: SandboxControl) -> None:
    media = ctl.add_ig_media("Our new lounge ✨", ago=9000)["id"]
    ctl.add_ig_media("stuck in Denver thanks @acmeair", {"username": "tagger"}, ago=50)
    top = ctl.add_ig_comment("where is my bag", media_id=media,
                             author={"username": "yuna.k"}, ago=100)["id"]
    me = graph.get_object(IG_USER_ID, fields="id,username,followers_count")
    assert me["username"] == "acmeair"
    assert me["followers_count"] > 0
    listed = graph.get_connections(IG_USER_ID, "media",
                                   fields="id,caption,timestamp,permalink,comments_count")
    assert listed["data"][0]["id"] == media
    assert listed["data"][0]["comments_count"] == 1
    assert listed["data"][0]["timestamp"].endswith("+0000")
    tags = graph.get_connections(IG_USER_ID, "tags", fields="id,caption,username")
    assert tags["data"][0]["username"] == "tagger"
    comments = graph.get_connections(media, "comments",
                                     fields="id,text,timestamp,username,from{id,username}")
    assert comments["data"][0]["from"]["username"] == "yuna.k"
    assert comments["data"][0]["username"] == "yuna.k"
    reply = graph.put_object(top, "replies", message="@yuna.k so sorry, DM us")
    replies = graph.get_connections(top, "replies", fields="id,text,username")["data"]
    assert replies == [{"id": reply["id"], "text": "@yuna.k so sorry, DM us",
                        "username": "acmeair"}]
    with pytest.raises(facebook.GraphAPIError) as err:
        graph.put_object(reply["id"], "replies", message="nested")
    assert err.value.code == 100
    assert _private_reply(graph, IG_USER_ID, top, "Hi!")["message_id"]
    with pytest.raises(facebook.GraphAPIError) as err:
        _private_reply(graph, FB_PAGE_ID, top, "Hi again")
    assert err.value.code == 10900


def test_errors_revoke_and_headers(graph: facebook.GraphAPI, ctl: SandboxControl,
                                   session: requests.Session) -> None:
    resp = session.get(f"https://graph.facebook.com/v21.0/{FB_PAGE_ID}/feed",
                       params={"access_token": "t"})
    assert resp.headers["content-type"] == "application/json"
    assert json.loads(resp.headers["x-app-usage"])["call_count"] >= 0
    assert FB_PAGE_ID in json.loads(resp.headers["x-business-use-case-usage"])
    with pytest.raises(facebook.GraphAPIError) as err:
        graph.get_object("123456789")
    assert err.value.code == 100
    ctl.revoke("graph")
    with pytest.raises(facebook.GraphAPIError) as err:
        graph.get_connections(FB_PAGE_ID, "feed")
    assert err.value.code == 190
    assert err.value.result["error"]["error_subcode"] == 460
    assert err.value.type == "OAuthException"


def test_graph_rate_limit_code_4(graph: facebook.GraphAPI, ctl: SandboxControl) -> None:
    ctl.set_limits(graph=2)
    graph.get_object(FB_PAGE_ID)
    graph.get_object(FB_PAGE_ID)
    with pytest.raises(facebook.GraphAPIError) as err:
        graph.get_object(FB_PAGE_ID)
    assert err.value.code == 4
    assert err.value.result["error"]["is_transient"] is True
