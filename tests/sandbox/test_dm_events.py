"""`GET /2/dm_conversations/with/:participant_id/dm_events` through real tweepy: the route the
responder reads a DM back with after an uncertain send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
import tweepy

from sandbox.control import SandboxControl
from sandbox.world import BRAND_X_ID

FIELDS = ["id", "text", "event_type", "created_at", "sender_id", "dm_conversation_id"]


def _customer(ctl: SandboxControl, username: str = "dana") -> str:
    return str(ctl.add_tweet("@acmeair help", {"username": username})["author_id"])


def test_conversation_newest_first_with_fields_and_paging(x_user: tweepy.Client,
                                                          ctl: SandboxControl) -> None:
    dana = _customer(ctl)
    other = _customer(ctl, "olly")
    ctl.add_dm("my bag is lost", dana)
    sent = [x_user.create_direct_message(participant_id=dana, text=f"reply {i}")
            .data["dm_event_id"] for i in range(4)]
    x_user.create_direct_message(participant_id=other, text="not in dana's conversation")
    started = datetime.now(UTC) - timedelta(minutes=1)

    pages: list[list[tweepy.DirectMessageEvent]] = []
    token = None
    while True:
        resp = x_user.get_direct_message_events(
            participant_id=dana, dm_event_fields=FIELDS, max_results=2,
            pagination_token=token, user_auth=True)
        assert resp.meta["result_count"] == len(resp.data)
        pages.append(resp.data)
        token = resp.meta.get("next_token")
        if token is None:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    events = [e for p in pages for e in p]
    assert [str(e.id) for e in events[:4]] == sent[::-1]  # newest first
    assert [e.text for e in events] == ["reply 3", "reply 2", "reply 1", "reply 0",
                                        "my bag is lost"]
    assert {e.event_type for e in events} == {"MessageCreate"}
    assert [e.sender_id for e in events] == [int(BRAND_X_ID)] * 4 + [int(dana)]
    low, high = sorted([BRAND_X_ID, dana], key=int)
    assert {e.dm_conversation_id for e in events} == {f"{low}-{high}"}
    assert all(e.created_at >= started for e in events)

    # Default fields are id, event_type and text only; a filter on another type is empty.
    bare = x_user.get_direct_message_events(participant_id=dana, max_results=1)
    assert set(bare.data[0].data) == {"id", "event_type", "text"}
    assert bare.data[0].text == "reply 3"
    joins = x_user.get_direct_message_events(participant_id=dana,
                                             event_types="ParticipantsJoin")
    assert joins.data is None
    assert joins.meta == {"result_count": 0}
    nobody = x_user.get_direct_message_events(participant_id=_customer(ctl, "newbie"))
    assert nobody.data is None
    assert nobody.meta == {"result_count": 0}


def test_bad_parameters_are_x_400s(x_user: tweepy.Client, ctl: SandboxControl) -> None:
    dana = _customer(ctl)
    for params in ({"max_results": 0}, {"max_results": 101},
                   {"dm_event_fields": ["id", "bogus"]}, {"event_types": "Nope"},
                   {"pagination_token": "!!"}):
        with pytest.raises(tweepy.BadRequest):
            x_user.get_direct_message_events(participant_id=dana, **params)


def test_user_context_is_required(x_app: tweepy.Client, x_user: tweepy.Client,
                                  ctl: SandboxControl, session: requests.Session) -> None:
    dana = _customer(ctl)
    with pytest.raises(tweepy.Forbidden) as err:  # app-only bearer
        x_app.get_direct_message_events(participant_id=dana, user_auth=False)
    assert err.value.response.json()["title"] == "Unsupported Authentication"
    with pytest.raises(tweepy.Forbidden):
        x_app.create_direct_message(participant_id=dana, text="hi", user_auth=False)
    anonymous = session.get(
        f"https://api.twitter.com/2/dm_conversations/with/{dana}/dm_events")
    assert anonymous.status_code == 401
    assert ctl.sent("x_dm") == []

    ctl.set_dm_lookup(False)  # an app without DM read access
    with pytest.raises(tweepy.Forbidden) as err:
        x_user.get_direct_message_events(participant_id=dana)
    assert err.value.response.json()["reason"] == "client-not-enrolled"


def test_rate_limit_headers_429_and_faults(x_user: tweepy.Client, ctl: SandboxControl
                                           ) -> None:
    dana = _customer(ctl)
    ctl.set_limits(dm_lookup=2)
    first = x_user.get_direct_message_events(participant_id=dana)
    assert first.meta == {"result_count": 0}
    raw = x_user.session.get(
        f"https://api.twitter.com/2/dm_conversations/with/{dana}/dm_events",
        headers={"Authorization": f'OAuth oauth_token="{BRAND_X_ID}-abc"'})
    assert raw.status_code == 200
    assert raw.headers["x-rate-limit-limit"] == "2"
    assert raw.headers["x-rate-limit-remaining"] == "0"
    assert int(raw.headers["x-rate-limit-reset"]) > datetime.now(UTC).timestamp()
    with pytest.raises(tweepy.TooManyRequests) as err:
        x_user.get_direct_message_events(participant_id=dana)
    assert err.value.reset_time is not None

    ctl.set_limits(reset_windows=True, dm_lookup=300)
    ctl.add_fault("/dm_events", "503", method="GET")
    with pytest.raises(tweepy.TwitterServerError):
        x_user.get_direct_message_events(participant_id=dana)
    assert x_user.get_direct_message_events(participant_id=dana).meta["result_count"] == 0
    logged = ctl.requests(path="/2/dm_conversations/with/", method="GET")
    assert [r["fault"] for r in logged][-2:] == ["503", None]
