"""Every page and role through Streamlit's AppTest, against a seeded temporary SQLite store.

What each role may see and do: the login form, refusals and
lockout, exactly the pages of each role (a page outside a role is not served even when asked
for by URL), the most urgent mention first, mention text shown only as text, and the actions
that write: acknowledge an alert, use a canned reply, queue a reply, move to private.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from storage.models import Alert, Reply, User, utcnow
from tests.dashboard.conftest import APP
from tests.dashboard.seed import (
    ASSIGNED_REF,
    HOSTILE_REF,
    HOSTILE_TEXT,
    PASSWORDS,
    TOP_REF,
    TOP_TEXT,
)

EXPECTED_PAGES = {
    "agent1": ["Inbox"],
    "manager1": ["Inbox", "Alerts", "Trends"],
    "analyst1": ["Trends"],
    "admin1": ["Settings"],
}


def _app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=30)


def _submit_login(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(password)
    next(b for b in at.button if b.label == "Log in").click()
    return at.run()


def login(username: str) -> AppTest:
    at = _app().run()
    _submit_login(at, username, PASSWORDS[username])
    assert not at.exception, at.exception
    return at


def nav_pages(at: AppTest) -> list[str]:
    """The pages the navigation lists (hidden URL aliases that only refuse are left out)."""
    names = [str(info.get("page_name")) for info in at._registered_pages.values()]
    return [n for n in names if n != "Not available"] if "Log in" not in names else ["Log in"]


def goto(at: AppTest, title: str) -> AppTest:
    page_hash = next(h for h, info in at._registered_pages.items()
                     if info.get("page_name") == title)
    at._page_hash = page_hash
    at.run()
    assert not at.exception, at.exception
    return at


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def texts(at: AppTest) -> list[str]:
    return [str(t.value) for t in at.text]


def all_markdown(at: AppTest) -> list[str]:
    """Every element whose content Streamlit renders as markdown."""
    out: list[str] = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success", "title",
                 "header", "subheader"):
        out.extend(str(e.value) for e in getattr(at, kind))
    return out


def test_login_form_has_the_contract_labels(store: Any) -> None:
    at = _app().run()
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    assert [b.label for b in at.button] == ["Log in"]
    assert nav_pages(at) == ["Log in"]


def test_wrong_password_is_refused_with_a_clear_message(store: Any) -> None:
    at = _submit_login(_app().run(), "agent1", "not-the-password")
    assert [e.value for e in at.error] == ["Wrong username or password."]
    assert "Inbox" not in titles(at)
    assert nav_pages(at) == ["Log in"]


def test_lockout_after_five_failures(store: Any) -> None:
    """Locked after five failures; the form never says so (a locked account reads like a
    wrong password), the audit log does."""
    at = _app().run()
    for _ in range(5):
        _submit_login(at, "agent1", "wrong-password")
    assert [e.value for e in at.error] == ["Wrong username or password."]
    _submit_login(_app().run(), "agent1", PASSWORDS["agent1"])  # another browser, same lock
    assert [e.value for e in at.error] == ["Wrong username or password."]
    assert "Inbox" not in titles(at)
    from storage.models import AuditEntry

    with store.session() as session:
        assert session.execute(select(AuditEntry.target).where(
            AuditEntry.action == "user_locked")).scalars().all() == ["agent1"]


@pytest.mark.parametrize("username", list(EXPECTED_PAGES))
def test_each_role_sees_exactly_its_pages(store: Any, username: str) -> None:
    at = login(username)
    assert nav_pages(at) == EXPECTED_PAGES[username]
    assert titles(at) == [EXPECTED_PAGES[username][0]]
    for page in EXPECTED_PAGES[username]:
        goto(at, page)
        assert titles(at) == [page]
        assert not at.exception


@pytest.mark.parametrize(("username", "forbidden"), [
    ("agent1", "alerts"), ("agent1", "trends"), ("agent1", "settings"),
    ("analyst1", "inbox"), ("analyst1", "alerts"), ("analyst1", "settings"),
    ("manager1", "settings"), ("admin1", "inbox"), ("admin1", "trends"),
])
def test_a_page_outside_the_role_is_not_served(store: Any, username: str,
                                               forbidden: str) -> None:
    from streamlit.util import calc_hash

    at = login(username)
    at._page_hash = calc_hash(forbidden)  # what asking for /<forbidden> by URL requests
    at.run()
    assert not at.exception
    assert titles(at) == []
    assert [e.value for e in at.error] == ["You do not have access to this page."]
    assert at.dataframe.len == 0
    assert at.metric.len == 0


def test_page_functions_check_the_role_server_side(store: Any, monkeypatch: Any) -> None:
    """Even if navigation offered it, a page refuses a role it is not for."""
    from dashboard import auth

    at = login("analyst1")
    monkeypatch.setitem(auth.ROLE_PAGES, "analyst", ("Trends", "Alerts"))
    at.run()
    goto(at, "Alerts")
    assert "Alerts" not in titles(at)
    assert "You do not have access to this page." in [e.value for e in at.error]


def test_inbox_shows_the_most_urgent_mention_first(store: Any) -> None:
    at = login("agent1")
    shown = texts(at)
    # The first thing on the page under the title: the top card with the most urgent mention.
    assert TOP_REF in shown[0]
    assert shown[1] == TOP_TEXT
    table = at.dataframe[0].value
    assert table["mention"].iloc[0] == TOP_REF
    assert list(table["urgency"]) == sorted(table["urgency"], reverse=True)
    # The opened mention defaults to the most urgent one.
    assert at.selectbox(key="cw_open").value == TOP_REF


def test_hostile_mention_text_is_shown_as_text_only(store: Any) -> None:
    at = login("agent1")
    table = at.dataframe[0].value
    assert HOSTILE_TEXT in list(table["text"])
    at.selectbox(key="cw_open").set_value(HOSTILE_REF).run()
    assert not at.exception
    assert HOSTILE_TEXT in texts(at)
    for value in all_markdown(at):
        for needle in ("<img", "<script", "](javascript:", "**bold**", "$e=mc", ":smile:",
                       "=HYPERLINK"):
            assert needle not in value, (needle, value)
    # The thread shows the post it belongs to and the brand's own reply, labelled.
    assert "New route to Lisbon from May!" in texts(at)
    captions = [c.value.replace("\\", "").replace("\u200b", "") for c in at.caption]
    assert any(c.startswith("Post · Acme Air (brand)") for c in captions), captions
    assert any(c.startswith("Acme Air (brand)") for c in captions), captions


def test_assigned_to_someone_else_is_shown_and_reply_refused_in_words(store: Any) -> None:
    at = login("agent1")
    at.selectbox(key="cw_open").set_value(ASSIGNED_REF).run()
    assert any("Assigned to agent2" in w.value for w in at.warning)
    reply_id = next(t for t in at.text_area if t.label == "Reply").key
    at.text_area(key=reply_id).input("We are on it").run()
    next(b for b in at.button if b.label == "Queue reply").click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any("assigned to agent2" in e for e in errors), errors
    with store.session() as session:
        assert session.execute(select(Reply)).first() is None


def test_canned_reply_then_reply_is_queued(store: Any) -> None:
    at = login("agent1")
    mid_key = next(t for t in at.text_area if t.label == "Reply").key
    assert at.selectbox(key=mid_key.replace("reply", "canned")).options == ["Sorry DM"]
    next(b for b in at.button if b.label == "Use canned reply").click().run()
    canned = "Sorry about this! Please send us a DM with your booking."
    assert at.text_area(key=mid_key).value == canned
    assert any("/ 280 weighted characters on X" in c.value for c in at.caption)
    next(b for b in at.button if b.label == "Queue reply").click().run()
    assert not at.exception
    assert any("Reply queued" in s.value for s in at.success), [e.value for e in at.error]
    with store.session() as session:
        replies = list(session.execute(select(Reply)).scalars())
    assert [(r.kind, r.text, r.agent, r.state) for r in replies] == [
        ("public", canned, "agent1", "queued")]


def test_move_to_private_queues_message_and_public_note(store: Any) -> None:
    at = login("agent1")
    at.selectbox(key="cw_open").set_value(HOSTILE_REF).run()
    private_key = next(t for t in at.text_area if t.label == "Private message").key
    at.text_area(key=private_key).input("Hi, could you send your booking code?").run()
    next(b for b in at.button if b.label == "Move to private").click().run()
    assert not at.exception
    assert any("Private message queued" in s.value for s in at.success), \
        [e.value for e in at.error]
    with store.session() as session:
        kinds = sorted(r.kind for r in session.execute(select(Reply)).scalars())
    assert kinds == ["private", "public_note"]


def test_a_reply_stuck_for_a_missing_token_says_why_under_it(
        store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The responder keeps a reply it cannot send (no page token) queued with the reason;
    the conversation shows that reason under the reply, not just "reply queued"."""
    from carewatch.settings import load_settings
    from responders.outbox import run_due

    monkeypatch.delenv("CAREWATCH_FB_PAGE_TOKEN")
    at = login("agent1")
    at.selectbox(key="cw_open").set_value(HOSTILE_REF).run()
    reply_key = next(t for t in at.text_area if t.label == "Reply").key
    at.text_area(key=reply_key).input("Sorry about this, we're on it").run()
    next(b for b in at.button if b.label == "Queue reply").click().run()
    assert [w.value for w in at.warning] == []
    summary = run_due(store, load_settings())
    assert summary.sent == 0
    at.run()
    assert not at.exception
    warnings = [w.value.replace("\\", "").replace("\u200b", "") for w in at.warning]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("Not sent yet: Facebook and Instagram need a page access "
                                  "token: set CAREWATCH_FB_PAGE_TOKEN"), warnings


def test_a_reply_with_a_control_character_is_refused_in_words(store: Any) -> None:
    """A NUL or escape pasted into a reply or a private message is refused with one line
    (PostgreSQL refuses NUL, a platform would get it unseen); nothing is queued."""
    at = login("agent1")
    reply_key = next(t for t in at.text_area if t.label == "Reply").key
    at.text_area(key=reply_key).input("Sorry\x00 about that").run()
    next(b for b in at.button if b.label == "Queue reply").click().run()
    assert not at.exception
    assert [e.value.replace("\\", "") for e in at.error] == [
        "The reply holds an invisible control character (pasted in?); remove it and queue "
        "again."]
    private_key = next(t for t in at.text_area if t.label == "Private message").key
    at.text_area(key=private_key).input("Your code\x1b[31m please").run()
    next(b for b in at.button if b.label == "Move to private").click().run()
    assert len(at.error) == 1
    with store.session() as session:
        assert session.execute(select(Reply)).first() is None


def test_a_database_error_in_an_action_is_one_line_without_the_sql() -> None:
    """A write the database refuses (or that loses its connection) is said by the driver's
    first line: never the statement, nor the values it carried."""
    from sqlalchemy.exc import DataError

    from dashboard.actions import _run

    def refused() -> None:
        raise DataError("INSERT INTO replies (text) VALUES (%(text)s)",
                        {"text": "secret draft"},
                        Exception("PostgreSQL text fields cannot contain NUL (0x00) bytes"))

    outcome = _run("Queue reply", refused)
    assert not outcome.ok
    assert outcome.message.startswith("The database refused this (PostgreSQL text fields")
    assert "INSERT" not in outcome.message
    assert "secret draft" not in outcome.message
    assert "\n" not in outcome.message


def test_move_to_private_over_the_limit_is_one_message_and_no_button(store: Any) -> None:
    """A public note over X's 280 (or a private text over its limit) disables "Move to
    private" like "Queue reply": the counter's line is the only message."""
    at = login("agent1")
    private_key = next(t for t in at.text_area if t.label == "Private message").key
    note_key = next(t for t in at.text_input if t.label == "Public note").key
    at.text_area(key=private_key).input("Hi, could you send your booking code? 😊").run()
    at.text_input(key=note_key).input("é" * 290).run()
    assert next(b for b in at.button if b.label == "Move to private").disabled
    assert [e.value for e in at.error] == [
        "290 / 280 weighted characters on X: 10 too many."]
    at.text_input(key=note_key).input("").run()
    assert not next(b for b in at.button if b.label == "Move to private").disabled


def test_manager_acknowledges_an_alert(store: Any) -> None:
    at = login("manager1")
    goto(at, "Alerts")
    assert "Safety words in 2 mentions (smoke)" in texts(at)
    ack = next(b for b in at.button if b.label == "Acknowledge")
    ack.click().run()
    assert not at.exception
    with store.session() as session:
        alert = session.execute(select(Alert)).scalar_one()
        assert alert.acknowledged_by == "manager1"
    assert any("acknowledged" in s.value for s in at.success)
    # Source health names the broken source and what to do.
    assert any("reconnect the Facebook page" in e.value for e in at.error)


def test_trends_page_for_analyst(store: Any) -> None:
    at = login("analyst1")
    assert titles(at) == ["Trends"]
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert labels == ["Mentions", "Negative", "Negative share"]
    assert at.metric[0].value == "7"  # own posts are context, never counted
    assert [b.label for b in at.get("download_button")] == [
        "Download CSV", "Download XLSX", "Download Parquet"]


def test_settings_page_masks_secrets_and_edits_canned_replies(store: Any) -> None:
    at = login("admin1")
    assert titles(at) == ["Settings"]
    page = repr([e for e in at.main]) + repr([d.value for d in at.dataframe])
    assert "EAAB-super-secret-page-token" not in page
    name = next(t for t in at.text_input if t.label == "Name")
    text = next(t for t in at.text_area if t.label == "Text")
    name.input("Thanks")
    text.input("Thank you for flying with us!")
    next(b for b in at.button if b.label == "Save canned reply").click().run()
    assert not at.exception
    from storage.canned import canned_replies

    with store.session() as session:
        assert [(c.name, c.text) for c in canned_replies(session)] == [
            ("Thanks", "Thank you for flying with us!")]


def _add_user_in_settings(name: str, password: str) -> Any:
    """The Settings page's users form, filled in and saved by an admin."""
    at = login("admin1")
    next(t for t in at.text_input if t.label == "New user name").input(name)
    next(t for t in at.text_input if t.label == "Initial password").input(password)
    next(b for b in at.button if b.label == "Save user").click().run()
    assert not at.exception
    return at


def test_settings_adds_a_user(store: Any) -> None:
    at = _add_user_in_settings("agent9", "agent9-password")
    from storage.users import authenticate

    with store.write() as session:
        assert authenticate(session, "agent9", "agent9-password").role == "agent"
    assert at.success, "no confirmation shown"
    assert not any("Note" in s.value for s in at.success)


def test_settings_warns_of_a_short_password(store: Any) -> None:
    """8 to 11 characters are accepted with a note that a longer one is safer."""
    at = _add_user_in_settings("agent8", "pass1234")
    shown = [s.value.replace("\\", "").replace("\u200b", "") for s in at.success]
    assert any("User agent8 added. Note: the password has 8 characters; 12 or more" in s
               for s in shown), shown


def test_session_expires_when_idle(store: Any) -> None:
    from dashboard.auth import SESSION_KEY

    at = login("agent1")
    at.session_state[SESSION_KEY]["expires_at"] = utcnow() - timedelta(seconds=1)
    at.run()
    assert "Inbox" not in titles(at)
    assert any("expired" in i.value for i in at.info)


def test_deleted_user_is_logged_out_on_next_rerun(store: Any) -> None:
    at = login("agent1")
    with store.write() as session:
        session.delete(session.execute(select(User).where(User.username == "agent1"))
                       .scalar_one())
    at.run()
    assert "Inbox" not in titles(at)
    assert [b.label for b in at.button] == ["Log in"]


def test_role_change_takes_effect_on_next_rerun(store: Any) -> None:
    at = login("agent1")
    with store.write() as session:
        session.execute(select(User).where(User.username == "agent1")).scalar_one().role = \
            "analyst"
    at.run()
    assert nav_pages(at) == ["Trends"]


def test_claim_then_close_through_the_responders_api(store: Any) -> None:
    from storage.mentions import mention_by_ref

    at = login("agent1")
    next(b for b in at.button if b.label == "Claim").click().run()
    assert not at.exception
    assert any("Assigned to agent1" in s.value for s in at.success), [e.value for e in at.error]
    next(b for b in at.button if b.label == "Close").click().run()
    with store.session() as session:
        mention = mention_by_ref(session, TOP_REF)
        assert (mention.assignee, mention.status) == ("agent1", "closed")


def test_settings_page_shows_which_listener_polls_each_source(
        store: Any, tmp_path: Any) -> None:
    from storage.sources import claim_source

    config = tmp_path / "carewatch.toml"
    config.write_text(config.read_text(encoding="utf-8") + '\n[[sources]]\nplatform = "x"\n'
                      'kind = "mentions"\nuser_id = "1500000000000000000"\n',
                      encoding="utf-8")
    key = "x:mentions:1500000000000000000"
    with store.write() as session:
        assert claim_source(session, key, "x", "mentions", holder="node-b:4242",
                            lease_seconds=300, every=60, due_only=False)
    at = login("admin1")
    sources = next(d.value for d in at.dataframe if "polled by" in d.value.columns)
    row = sources[sources["source"] == key].iloc[0]
    assert row["polled by"] == "node-b:4242"
    assert row["next due"].endswith("UTC")


def test_a_search_counts_to_a_thousand_and_other_filters_further(store: Any) -> None:
    """1,205 open mentions say "lounge": the search's count stops at SEARCH_COUNT_CAP
    ("1,000+"), the unfiltered queue's is exact."""
    from storage.models import Mention

    with store.write() as session:
        session.add_all(Mention(platform="x", external_id=f"lounge-{i}", source_key="s",
                                text=f"lounge closed again #{i}", created_at=utcnow(),
                                urgency=0.1, status="new") for i in range(1205))
    at = login("agent1")
    unfiltered = [c.value for c in at.caption if "matching" in c.value]
    assert unfiltered[0].startswith("1,2"), unfiltered
    assert "+" not in unfiltered[0], unfiltered
    at.text_input(key="cw_f_search").input("LOUNGE").run()
    assert not at.exception, at.exception
    assert any(c.value.startswith("1,000+ matching") for c in at.caption), \
        [c.value for c in at.caption]
