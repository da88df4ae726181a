"""Placeholders are filled the same way for canned replies, the dashboard and suggestions;
a past reply is re-addressed to the new item's author."""

from __future__ import annotations

import pytest

from responders.placeholders import check_template, fill, placeholder_values
from responders.rules import RuleViolation
from responders.suggest.service import adapt
from storage.models import Author, Mention
from storage.past_replies import SentReply


def _mention(platform: str, handle: str | None, name: str | None) -> Mention:
    return Mention(id=42, platform=platform, external_id="1", text="t",
                   author=Author(platform=platform, external_id="9", handle=handle, name=name))


def test_values_per_platform() -> None:
    x = _mention("x", "jdoe", "Jane Doe")
    assert placeholder_values(x, "maria") == {
        "first_name": "Jane", "handle": "@jdoe", "agent": "maria", "case_id": "CW-42"}
    fb = _mention("facebook", None, "Bob Smith")  # Facebook accounts have a name, no handle
    assert fill("{handle}: hi {first_name}, {case_id} ^{agent}", fb, "al") == (
        "Bob Smith: hi Bob, CW-42 ^al")
    nobody = _mention("x", None, None)
    assert fill("Hi {first_name}", nobody, "al") == "Hi there"


def test_broken_and_unknown_placeholders_are_refused() -> None:
    with pytest.raises(RuleViolation, match=r"unknown placeholder \{name\}"):
        check_template("Hi {name}")
    with pytest.raises(RuleViolation, match="broken placeholder"):
        fill("Hi {first_name", _mention("x", "a", "A"), "al")


def test_past_reply_is_addressed_to_the_new_author() -> None:
    old = SentReply(1, "Hi Jane, sorry @JDoe! Janet will call. ^maria", "maria", "public", 7,
                    "x", "5", "bag lost", None, "jdoe", "Jane Doe")
    values = placeholder_values(_mention("x", "ann_b", "Ann Brown"), "alice")
    assert adapt(old, values) == "Hi Ann, sorry @ann_b! Janet will call. ^maria"
