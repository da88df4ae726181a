"""X direct messages through real tweepy: `GET /2/dm_events`, a conversation's events by id
or by participant, and sending by conversation id or by participant, all agreeing."""

from __future__ import annotations

import pytest
import requests
import tweepy

from sandbox.control import SandboxControl
from sandbox.world import BRAND_X_ID

FIELDS = ["id", "text", "event_type", "created_at", "sender_id", "dm_conversation_id",
          "participant_ids"]


def _customer(ctl: SandboxControl, username: str) -> str:
    return str(ctl.add_tweet("@acmeair help", {"username": username,
                                               "name": username.title()})["author_id"])


def _client_of(user_id: str, session: requests.Session) -> tweepy.Client:
    client = tweepy.Client(consumer_key="ck", consumer_secret="cs",
                           access_token=f"{user_id}-abc", access_token_secret="ats")
    client.session = session
    return client


def test_all_routes_agree(x_user: tweepy.Client, ctl: SandboxControl,
                          session: requests.Session) -> None:
    dana, olly = _customer(ctl, "dana"), _customer(ctl, "olly")
    pair = "-".join(sorted([BRAND_X_ID, dana], key=int))

    # The customer writes first, with her own user context: the event's sender is her.
    opened = _client_of(dana, session).create_direct_message(participant_id=BRAND_X_ID,
                                                              text="my bag is lost")
    assert opened.data["dm_conversation_id"] == pair
    by_pair = x_user.create_direct_message(dm_conversation_id=pair, text="Sorry! Ref?")
    by_participant = x_user.create_direct_message(participant_id=dana, text="Still there?")
    assert by_pair.data["dm_conversation_id"] == by_participant.data["dm_conversation_id"] \
        == pair
    x_user.create_direct_message(participant_id=olly, text="Hi Olly")
    ctl.add_dm("ABC123", dana)

    expected = ["ABC123", "Still there?", "Sorry! Ref?", "my bag is lost"]
    with_dana = x_user.get_direct_message_events(participant_id=dana, dm_event_fields=FIELDS)
    in_pair = x_user.get_direct_message_events(dm_conversation_id=pair,
                                               dm_event_fields=FIELDS)
    assert [e.text for e in with_dana.data] == [e.text for e in in_pair.data] == expected
    assert [e.sender_id for e in in_pair.data] == [int(dana), int(BRAND_X_ID),
                                                   int(BRAND_X_ID), int(dana)]
    assert in_pair.data[0].participant_ids == sorted([int(BRAND_X_ID), int(dana)])
    assert {e.dm_conversation_id for e in in_pair.data} == {pair}
    assert str(in_pair.data[2].id) == by_pair.data["dm_event_id"]

    everything = x_user.get_direct_message_events(
        dm_event_fields=FIELDS, expansions=["sender_id", "participant_ids"],
        user_fields=["username"])
    assert [e.text for e in everything.data] == ["ABC123", "Hi Olly", *expected[1:]]
    assert {u.username for u in everything.includes["users"]} == {"acmeair", "dana", "olly"}
    senders = x_user.get_direct_message_events(expansions="sender_id", max_results=1)
    assert [u.id for u in senders.includes["users"]] == [int(dana)]

    pages, token = [], None
    while True:
        resp = x_user.get_direct_message_events(max_results=2, pagination_token=token)
        pages.append([e.text for e in resp.data])
        token = resp.meta.get("next_token")
        if token is None:
            break
    assert pages == [["ABC123", "Hi Olly"], ["Still there?", "Sorry! Ref?"],
                     ["my bag is lost"]]
    # Olly sees only his own conversation.
    assert [e.text for e in _client_of(olly, session).get_direct_message_events().data] == [
        "Hi Olly"]
    assert {s["dm_conversation_id"] for s in ctl.sent("x_dm") if s["participant_id"] == dana
            } == {pair}


def test_conversation_ids_are_checked(x_user: tweepy.Client, ctl: SandboxControl) -> None:
    dana, olly = _customer(ctl, "dana"), _customer(ctl, "olly")
    strangers = "-".join(sorted([dana, olly], key=int))
    with pytest.raises(tweepy.Forbidden):
        x_user.get_direct_message_events(dm_conversation_id=strangers)
    with pytest.raises(tweepy.Forbidden):
        x_user.create_direct_message(dm_conversation_id=strangers, text="hi")
    with pytest.raises(tweepy.BadRequest):
        x_user.get_direct_message_events(expansions="bogus")
    with pytest.raises(tweepy.NotFound):
        x_user.get_direct_message_events(dm_conversation_id="not-a-pair")
    ctl.set_dm_lookup(False)
    with pytest.raises(tweepy.Forbidden):
        x_user.get_direct_message_events()
    assert ctl.sent("x_dm") == []
