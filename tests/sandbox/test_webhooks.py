"""Signed Meta webhook delivery to a real HTTP receiver on a loopback port: verification,
payload shapes, signatures, retries, duplicates, and API calls that never wait on it."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import facebook
import pytest

from sandbox.control import SandboxControl, SandboxError
from sandbox.world import FB_PAGE_ID, IG_USER_ID

SECRET = "app-secret"
TOKEN = "verify-me"


@dataclass
class Receiver:
    """What a Meta webhook endpoint got; the first ``fail_first`` POSTs answer 500."""

    url: str = ""
    fail_first: int = 0
    delay: float = 0.0
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(raw) for _, raw in self.posts]


@contextmanager
def receiver(**options: Any) -> Iterator[Receiver]:
    rec = Receiver(**options)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query)
            ok = (query.get("hub.mode") == ["subscribe"]
                  and query.get("hub.verify_token") == [TOKEN])
            self.send_response(200 if ok else 403)
            self.end_headers()
            self.wfile.write(query["hub.challenge"][0].encode() if ok else b"no")

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(rec.delay)
            with rec.lock:
                rec.attempts += 1
                failing = rec.attempts <= rec.fail_first
                if not failing:
                    rec.posts.append((dict(self.headers.items()), raw))
            self.send_response(500 if failing else 200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/meta"
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def send(graph: facebook.GraphAPI, recipient: dict[str, str], text: str) -> Any:
    return graph.put_object(FB_PAGE_ID, "messages", recipient=json.dumps(recipient),
                            message=json.dumps({"text": text}), messaging_type="RESPONSE")


def test_every_event_is_delivered_signed(graph: facebook.GraphAPI,
                                         ctl: SandboxControl) -> None:
    with receiver() as rec:
        with pytest.raises(SandboxError, match=r"hub\.challenge"):
            ctl.subscribe_webhooks(rec.url, SECRET, verify_token="wrong")
        assert ctl.subscribe_webhooks(rec.url, SECRET, verify_token=TOKEN)["subscribed"]
        ana = ctl.add_message("messenger", "my bag is lost", {"name": "Ana"})
        answer = send(graph, {"id": ana["sender_id"]}, "Sorry Ana!")
        cara = ctl.add_message("instagram", "hi", {"username": "cara"})
        post = ctl.add_fb_post("Summer sale")["id"]
        top = ctl.add_fb_comment("cancelled!", post_id=post, author={"name": "Ben"})
        reply = ctl.add_fb_comment("sorry Ben", parent_id=top["id"], author="page")
        media = ctl.add_ig_media("New route")["id"]
        ig = ctl.add_ig_comment("lost bag", media_id=media, author={"username": "finn"})
        ctl.add_ig_comment("@finn DM us", parent_id=ig["id"], author="brand")  # not sent
        ig_reply = ctl.add_ig_comment("done", parent_id=ig["id"], author={"username": "finn"})
        state = ctl.webhooks(idle_within=10)
        assert state["idle"]
        assert state["delivered"] == 7
        assert state["failed"] == 0

    for headers, raw in rec.posts:
        expected = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        assert headers["X-Hub-Signature-256"] == f"sha256={expected}"
        assert headers["Content-Type"] == "application/json"
    bodies = rec.bodies()
    entry = bodies[0]["entry"][0]
    assert bodies[0]["object"] == "page"
    assert entry["id"] == FB_PAGE_ID
    event = entry["messaging"][0]
    assert event["sender"] == {"id": ana["sender_id"]}
    assert event["recipient"] == {"id": FB_PAGE_ID}
    assert event["message"] == {"mid": ana["id"], "text": "my bag is lost"}
    assert event["timestamp"] > 10**12
    assert entry["time"] > 10**12
    echo = bodies[1]["entry"][0]["messaging"][0]
    assert echo["sender"] == {"id": FB_PAGE_ID}
    assert echo["recipient"] == {"id": ana["sender_id"]}
    assert echo["message"] == {"mid": answer["message_id"], "text": "Sorry Ana!",
                               "is_echo": True}
    insta = bodies[2]
    assert insta["object"] == "instagram"
    assert insta["entry"][0]["id"] == IG_USER_ID
    assert insta["entry"][0]["messaging"][0]["sender"] == {"id": cara["sender_id"]}

    feed = [b["entry"][0]["changes"][0] for b in bodies[3:5]]
    assert {c["field"] for c in feed} == {"feed"}
    assert feed[0]["value"] == {
        "item": "comment", "verb": "add", "comment_id": top["id"], "post_id": post,
        "parent_id": post, "from": {"id": top["from_id"], "name": "Ben"},
        "message": "cancelled!", "created_time": feed[0]["value"]["created_time"]}
    assert feed[1]["value"]["parent_id"] == top["id"]
    assert feed[1]["value"]["from"]["id"] == FB_PAGE_ID == reply["from_id"]

    comments = [b["entry"][0]["changes"][0] for b in bodies[5:]]
    assert comments[0] == {"field": "comments", "value": {
        "from": {"id": ig["from_id"], "username": "finn"},
        "media": {"id": media, "media_product_type": "FEED"}, "id": ig["id"],
        "text": "lost bag"}}
    assert comments[1]["value"]["parent_id"] == ig["id"]
    assert comments[1]["value"]["id"] == ig_reply["id"]
    assert ctl.state()["webhooks"]["delivered"] == 7


def test_failed_deliveries_are_retried_then_given_up(ctl: SandboxControl) -> None:
    with receiver(fail_first=2) as rec:
        ctl.subscribe_webhooks(rec.url, SECRET)
        sent = ctl.add_message("messenger", "hello?", {"name": "Ana"})
        state = ctl.webhooks(idle_within=10)
        assert (state["delivered"], state["retried"], state["attempts"]) == (1, 2, 3)
        assert rec.bodies()[0]["entry"][0]["messaging"][0]["message"]["mid"] == sent["id"]

    with receiver(fail_first=100) as rec:
        ctl.subscribe_webhooks(rec.url, SECRET, max_attempts=2)
        ctl.add_message("messenger", "anyone?", {"name": "Ana"})
        state = ctl.webhooks(idle_within=10)
        assert (state["delivered"], state["failed"]) == (1, 1)
        assert rec.attempts == 2
    assert ctl.state()["webhooks"]["failed"] == 1


def test_duplicates_and_never_blocking(graph: facebook.GraphAPI,
                                       ctl: SandboxControl) -> None:
    with receiver(delay=0.5) as rec:
        ctl.subscribe_webhooks(rec.url, SECRET, duplicates=1)
        ana = ctl.add_message("messenger", "first", {"name": "Ana"})
        started = time.monotonic()
        send(graph, {"id": ana["sender_id"]}, "answer")  # two deliveries are still waiting
        assert time.monotonic() - started < 0.4
        ctl.duplicate_webhooks(1)
        ctl.add_message("messenger", "second", ana["sender_id"])
        state = ctl.webhooks(idle_within=10)
        assert (state["delivered"], state["duplicated"]) == (5, 2)
    mids = [b["entry"][0]["messaging"][0]["message"]["mid"] for b in rec.bodies()]
    assert mids[0] == mids[1] == ana["id"]
    assert mids[3] == mids[4] != mids[2]
    assert rec.posts[0][1] == rec.posts[1][1]  # the same bytes, the same signature

    ctl.unsubscribe_webhooks()
    ctl.add_message("messenger", "third", ana["sender_id"])
    assert ctl.webhooks(idle_within=5)["delivered"] == 5
    assert not ctl.webhooks()["subscribed"]
