"""Messenger and Instagram Direct conversations and the Send API, through facebook-sdk as
carewatch builds it (`carewatch.platforms.graph.graph_client`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import facebook
import pytest

from carewatch.platforms.graph import graph_client
from carewatch.settings import load_settings
from sandbox.control import SandboxControl
from sandbox.server import SandboxServer
from sandbox.world import FB_PAGE_ID, IG_USER_ID, World

FIELDS = "id,updated_time,participants,messages{id,message,from,to,created_time}"
HOUR = 3600.0


@pytest.fixture
def api(server: SandboxServer, world: World, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> facebook.GraphAPI:
    """The page's Graph client exactly as carewatch makes it, pointed at the sandbox."""
    config = tmp_path / "carewatch.toml"
    config.write_text('[brand]\nname = "Acme Air"\n', encoding="utf-8")
    monkeypatch.setenv("CAREWATCH_CONFIG", str(config))
    monkeypatch.setenv("CAREWATCH_GRAPH_API_URL", server.base_url)
    monkeypatch.setenv("CAREWATCH_FB_PAGE_TOKEN", "page-token")
    return graph_client(load_settings())


def send(api: facebook.GraphAPI, recipient: dict[str, str], text: str, *,
         messaging_type: str | None = "RESPONSE", tag: str | None = None,
         page: str = FB_PAGE_ID) -> Any:
    args = {"recipient": json.dumps(recipient), "message": json.dumps({"text": text})}
    if messaging_type is not None:
        args["messaging_type"] = messaging_type
    if tag is not None:
        args["tag"] = tag
    return api.put_object(page, "messages", **args)


def refused(api: facebook.GraphAPI, recipient: dict[str, str], text: str,
            **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(facebook.GraphAPIError) as err:
        send(api, recipient, text, **kwargs)
    error: dict[str, Any] = err.value.result["error"]
    return error


def assert_outside_window(error: dict[str, Any]) -> None:
    assert error["message"] == "(#10) This message is sent outside of allowed window."
    assert (error["type"], error["code"], error["error_subcode"]) == ("OAuthException", 10,
                                                                     2018278)


def test_conversations_newest_first_nested_messages_and_paging(
        api: facebook.GraphAPI, ctl: SandboxControl) -> None:
    ana = ctl.add_message("messenger", "my bag is lost", {"name": "Ana Silva"}, ago=300)
    for i in range(3):
        ctl.add_message("messenger", f"follow-up {i}", ana["sender_id"], ago=200 - i)
    ben = ctl.add_message("messenger", "refund?", {"name": "Ben Okafor"}, ago=100)
    ctl.add_message("instagram", "hi from insta", {"username": "cara.k"}, ago=50)
    assert ana["conversation_id"].startswith("t_")
    assert ana["id"].startswith("m_")
    assert ana["recipient_id"] == FB_PAGE_ID
    low, high = sorted([FB_PAGE_ID, ana["sender_id"]], key=int)
    assert ana["thread_key"] == f"{low}-{high}"

    first = api.get_connections(FB_PAGE_ID, "conversations", platform="messenger",
                                fields=FIELDS, limit=1)
    assert [c["id"] for c in first["data"]] == [ben["conversation_id"]]
    assert "access_token=" in first["paging"]["next"]
    assert first["paging"]["cursors"]["after"]
    every = list(api.get_all_connections(FB_PAGE_ID, "conversations", platform="messenger",
                                         fields=FIELDS, limit=1))
    assert [c["id"] for c in every] == [ben["conversation_id"], ana["conversation_id"]]
    ana_conv = every[1]
    assert ana_conv["updated_time"].endswith("+0000")
    assert ana_conv["participants"] == {"data": [
        {"id": ana["sender_id"], "name": "Ana Silva"}, {"id": FB_PAGE_ID, "name": "Acme Air"}]}
    messages = ana_conv["messages"]["data"]
    assert [m["message"] for m in messages] == ["follow-up 2", "follow-up 1", "follow-up 0",
                                                "my bag is lost"]
    assert messages[-1] == {"id": ana["id"], "message": "my bag is lost",
                            "from": {"id": ana["sender_id"], "name": "Ana Silva"},
                            "to": {"data": [{"id": FB_PAGE_ID, "name": "Acme Air"}]},
                            "created_time": messages[-1]["created_time"]}
    assert "next" not in ana_conv["messages"]["paging"]

    # A nested limit pages the messages themselves; `next` continues on the messages edge.
    nested = api.get_object(ana["conversation_id"],
                            fields="id,messages.limit(2){id,message,from}")
    assert [m["message"] for m in nested["messages"]["data"]] == ["follow-up 2",
                                                                  "follow-up 1"]
    assert f"/{ana['conversation_id']}/messages?" in nested["messages"]["paging"]["next"]
    rest = list(api.get_all_connections(ana["conversation_id"], "messages",
                                        fields="id,message", limit=2))
    assert [m["message"] for m in rest] == [m["message"] for m in messages]
    assert api.get_object(ana["id"], fields="id,message,from") == {
        "id": ana["id"], "message": "my bag is lost",
        "from": {"id": ana["sender_id"], "name": "Ana Silva"}}
    assert set(api.get_object(ana["id"])) == {"id", "created_time"}

    found = api.get_connections(FB_PAGE_ID, "conversations", user_id=ben["sender_id"])
    assert [c["id"] for c in found["data"]] == [ben["conversation_id"]]
    with pytest.raises(facebook.GraphAPIError):
        api.get_connections(FB_PAGE_ID, "conversations", platform="whatsapp")
    with pytest.raises(facebook.GraphAPIError):
        api.get_object(ana["conversation_id"], fields="id,bogus")


def test_instagram_conversations_carry_usernames(api: facebook.GraphAPI,
                                                 ctl: SandboxControl) -> None:
    cara = ctl.add_message("instagram", "hi from insta", {"username": "cara.k"})
    ctl.add_message("messenger", "not instagram", {"name": "Dan"})
    for page in (FB_PAGE_ID, IG_USER_ID):
        listed = api.get_connections(page, "conversations", platform="instagram",
                                     fields=FIELDS)
        assert len(listed["data"]) == 1
    conv = listed["data"][0]
    assert conv["participants"]["data"] == [{"id": cara["sender_id"], "username": "cara.k"},
                                            {"id": IG_USER_ID, "username": "acmeair"}]
    assert conv["messages"]["data"][0]["from"] == {"id": cara["sender_id"],
                                                   "username": "cara.k"}
    answer = send(api, {"id": cara["sender_id"]}, "Hi Cara, how can we help?")
    assert answer["recipient_id"] == cara["sender_id"]
    again = api.get_object(conv["id"], fields="messages{message,from}")
    assert again["messages"]["data"][0] == {
        "id": answer["message_id"], "message": "Hi Cara, how can we help?",
        "from": {"id": IG_USER_ID, "username": "acmeair"}}
    assert ctl.sent("message")[0]["platform"] == "instagram"


def test_send_api_windows(api: facebook.GraphAPI, ctl: SandboxControl) -> None:
    ana = ctl.add_message("messenger", "help please", {"name": "Ana"}, ago=23 * HOUR)
    to_ana = {"id": ana["sender_id"]}
    ok = send(api, to_ana, "Inside 24 h")
    assert ok == {"recipient_id": ana["sender_id"], "message_id": ok["message_id"]}
    assert send(api, to_ana, "An update", messaging_type="UPDATE")["message_id"]

    ctl.age_conversation(ana["conversation_id"], 2 * HOUR)  # now 25 h since Ana wrote
    assert_outside_window(refused(api, to_ana, "Too late"))
    assert_outside_window(refused(api, to_ana, "Wrong tag", messaging_type="MESSAGE_TAG",
                                  tag="ACCOUNT_UPDATE"))
    agent = send(api, to_ana, "Agent here", messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
    assert agent["message_id"].startswith("m_")

    ctl.age_conversation(ana["conversation_id"], 6 * 24 * HOUR)  # more than 7 days
    assert_outside_window(refused(api, to_ana, "Way too late", messaging_type="MESSAGE_TAG",
                                  tag="HUMAN_AGENT"))
    ctl.add_message("messenger", "still there?", ana["sender_id"])  # the window reopens
    assert send(api, to_ana, "Yes!")["message_id"]

    assert refused(api, to_ana, "no type", messaging_type=None)["code"] == 100
    assert refused(api, to_ana, "no tag", messaging_type="MESSAGE_TAG")["code"] == 100
    assert refused(api, {"id": "6999999999999999"}, "who?")["error_subcode"] == 2018001

    sent = ctl.sent("message")
    assert [s["text"] for s in sent] == ["Inside 24 h", "An update", "Agent here", "Yes!"]
    assert sent[2]["messaging_type"] == "MESSAGE_TAG"
    assert sent[2]["tag"] == "HUMAN_AGENT"
    # Every sent message is in the conversation, read back newest first.
    back = api.get_connections(ana["conversation_id"], "messages", fields="message,from")
    assert [m["message"] for m in back["data"]][:2] == ["Yes!", "still there?"]
    assert back["data"][0]["from"]["id"] == FB_PAGE_ID


def test_private_reply_opens_conversation_and_waits_for_the_customer(
        api: facebook.GraphAPI, ctl: SandboxControl) -> None:
    post = ctl.add_fb_post("Summer sale")["id"]
    comment = ctl.add_fb_comment("flight cancelled!", post_id=post,
                                 author={"name": "Eve Park"})
    reply = send(api, {"comment_id": comment["id"]}, "Sorry Eve, tell us more here",
                 messaging_type=None)
    assert reply == {"recipient_id": comment["from_id"], "message_id": reply["message_id"]}
    assert reply["message_id"].startswith("m_")
    private = ctl.sent("private_reply")[0]
    assert private["id"] == reply["message_id"]
    conv = api.get_connections(FB_PAGE_ID, "conversations", platform="messenger",
                               fields=FIELDS)["data"]
    assert len(conv) == 1
    assert conv[0]["id"] == private["conversation_id"]
    assert conv[0]["messages"]["data"][0]["id"] == reply["message_id"]
    assert conv[0]["messages"]["data"][0]["to"]["data"][0]["id"] == comment["from_id"]

    eve = {"id": comment["from_id"]}
    assert_outside_window(refused(api, eve, "Are you there?"))
    assert_outside_window(refused(api, eve, "Agent", messaging_type="MESSAGE_TAG",
                                  tag="HUMAN_AGENT"))
    assert refused(api, {"comment_id": comment["id"]}, "twice",
                   messaging_type=None)["code"] == 10900
    ctl.add_message("messenger", "Booking ABC123", comment["from_id"])
    assert send(api, eve, "Thanks, rebooked you")["recipient_id"] == comment["from_id"]

    # On Instagram the private reply lands in the Instagram conversation.
    media = ctl.add_ig_media("New route")["id"]
    ig_comment = ctl.add_ig_comment("bag lost", media_id=media, author={"username": "finn"})
    ig_reply = send(api, {"comment_id": ig_comment["id"]}, "DMing you", messaging_type=None)
    ig_conv = api.get_connections(IG_USER_ID, "conversations", fields=FIELDS)["data"][0]
    assert ig_conv["participants"]["data"][0] == {"id": ig_comment["from_id"],
                                                  "username": "finn"}
    assert ig_conv["messages"]["data"][0]["id"] == ig_reply["message_id"]


def test_send_faults_apply(api: facebook.GraphAPI, ctl: SandboxControl) -> None:
    ana = ctl.add_message("messenger", "help", {"name": "Ana"})
    to_ana = {"id": ana["sender_id"]}
    messages = f"/{FB_PAGE_ID}/messages"
    ctl.add_fault(messages, "503", method="POST")
    with pytest.raises(facebook.GraphAPIError) as err:
        send(api, to_ana, "lost before")
    assert err.value.code == 2
    assert ctl.sent("message") == []

    ctl.add_fault(messages, "drop_response", method="POST")
    with pytest.raises(facebook.GraphAPIError):
        send(api, to_ana, "lost after")
    written = ctl.sent("message")
    assert [s["text"] for s in written] == ["lost after"]  # the write happened
    back = api.get_connections(ana["conversation_id"], "messages", fields="id,message")
    assert back["data"][0] == {"id": written[0]["id"], "message": "lost after"}

    ctl.add_fault(messages, "429", method="POST")
    with pytest.raises(facebook.GraphAPIError) as err:
        send(api, to_ana, "limited")
    assert err.value.code == 4
    ctl.set_limits(reset_windows=True)
    ctl.add_fault("/conversations", "revoked")
    with pytest.raises(facebook.GraphAPIError) as err:
        api.get_connections(FB_PAGE_ID, "conversations")
    assert err.value.code == 190
