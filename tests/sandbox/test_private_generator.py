"""Generated private traffic: customers who start DMs on their own (the same for a seed), and
customers who answer the brand's private messages while the live feed runs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import facebook
import tweepy

from sandbox.control import SandboxControl
from sandbox.generator import Generator
from sandbox.world import BRAND_X_ID, FB_PAGE_ID, World


def _private(world: World) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    graph = [(c.platform, m.from_id, m.text) for c in world.conversations.values()
             for m in c.messages]
    return graph, [(e.sender_id, e.text) for e in world.dm_events]


def test_seeded_private_conversations_are_deterministic() -> None:
    a, b = World(generator=Generator), World(generator=Generator)
    made = a.seed(240, seed=5)
    b.seed(240, seed=5)
    assert made["private"] == 20
    assert _private(a) == _private(b)
    graph, dms = _private(a)
    assert {platform for platform, _, _ in graph} == {"messenger", "instagram"}
    assert dms[0][0] != BRAND_X_ID  # customers open their conversations
    for c in a.conversations.values():
        assert c.messages[0].from_id == c.customer_id
        assert c.messages[-1].created <= a.now()
    assert any(m.from_id == c.brand_id for c in a.conversations.values()
               for m in c.messages)  # some have the brand's answer already
    other = World(generator=Generator)
    other.seed(240, seed=6)
    assert _private(other) != _private(a)
    # Public traffic is drawn apart from the private one: the same texts with or without.
    assert [t.text for t in a.visible_tweets()] == [t.text for t in b.visible_tweets()]


def _wait_for(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_customers_answer_private_messages_live(graph: facebook.GraphAPI,
                                                x_user: tweepy.Client,
                                                ctl: SandboxControl, world: World) -> None:
    post = ctl.add_fb_post("Summer sale")["id"]
    complaint = ctl.add_fb_comment("Flight cancelled, no help at all", post_id=post,
                                   author={"name": "Ana Silva"})
    dana = ctl.add_tweet("@acmeair lost my bag", {"username": "dana"})["author_id"]
    ctl.live(0.5, answer_after=0.2)  # hardly any new items; quick answers
    try:
        # The complaint moves private; the customer answers in the conversation ...
        moved = graph.put_object(FB_PAGE_ID, "messages",
                                 recipient=json.dumps({"comment_id": complaint["id"]}),
                                 message=json.dumps({"text": "Sorry Ana, DM us the ref"}))
        conversation = world.find_conversation(moved["recipient_id"], "messenger")
        assert conversation is not None
        answer = _wait_for(lambda: [m for m in conversation.messages
                                    if m.from_id == moved["recipient_id"]])
        assert answer[0].text
        # ... which opens the window for the agent's private answer.
        graph.put_object(FB_PAGE_ID, "messages",
                         recipient=json.dumps({"id": moved["recipient_id"]}),
                         message=json.dumps({"text": "Rebooked you on AC101"}),
                         messaging_type="RESPONSE")
        assert _wait_for(lambda: len([m for m in conversation.messages
                                      if m.from_id == conversation.customer_id]) == 2)

        x_user.create_direct_message(participant_id=dana, text="Hi Dana, your ref?")
        reply = _wait_for(lambda: [e for e in x_user.get_direct_message_events(
            participant_id=dana, dm_event_fields=["sender_id"]).data or []
            if str(e.sender_id) == dana])
        assert reply[0].text
    finally:
        ctl.live(0)
    # Nothing answers once the feed stops.
    x_user.create_direct_message(participant_id=dana, text="Anything else?")
    time.sleep(0.5)
    assert world.dm_conversation(BRAND_X_ID, dana)[0].text == "Anything else?"
