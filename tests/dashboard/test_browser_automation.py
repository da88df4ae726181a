"""Rules, suggestions and approvals end to end in headless Chromium (issue 11).

Two tweets reach the sandbox; `carewatch listen --once` (a real process, the real tweepy
client) scores them, gives them the topic Bags and lets a `[[rules]]` rule assign them to
agent1, tag them and hold its canned reply for a manager. Then, in the browser, against a
real `carewatch dashboard` process:

- agent1 sees both in the queue with the topic chip Bags and opens one: its topic, the
  "routed by rule ..." line and the suggestions panel (the canned reply for its topic, the
  knowledge-base article) show; "Use this reply" fills the reply box and queues nothing;
- agent1 has no approval queue, although two replies wait;
- manager1 edits and approves one held reply and rejects the other with a reason;
  `carewatch respond --once` (twice) sends the edited text once, the rejected one never.
Chromium is required as in test_browser.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.dashboard.test_browser import (
    _login,
    _open,
    _require_chromium,
    _shot,
    _wait_idle,
    _wait_title,
    running_dashboard,
)
from tests.listener.conftest import carewatch_env
from tests.listener.helpers import CONTRACT_TOML, X_USER_CONTEXT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "a-long-enough-passphrase"
RULE = "bags to agent1"
KB_TITLE = "Delayed or lost baggage"
CONFIG = CONTRACT_TOML + f"""
[knowledge]
paths = ["kb/*.md"]

[[topics]]
name = "Bags"
keywords = ["suitcase*", "luggage", "baggage"]

[[topics]]
name = "Refunds"
keywords = ["refund*", "money back"]

[[canned_replies]]
name = "Bag trace"
text = "Hi {{first_name}}, sorry your bag hasn't arrived. Please DM us the file reference. \
^{{agent}}"
topics = ["Bags"]

[[rules]]
name = "{RULE}"
when = {{ keywords = ["suitcase*"] }}
then = {{ assign = "agent1", tag = "bags", reply_canned = "Bag trace" }}
"""
KB_ARTICLE = (f"---\ntopics: [Bags]\n---\n# {KB_TITLE}\n\nMost delayed suitcases reach "
              "you within 48 hours: open a file at the baggage desk and keep its reference.\n")


def _carewatch(env: dict[str, str], folder: Path, *argv: str, stdin: bytes = b"") -> None:
    done = subprocess.run([sys.executable, "-m", "carewatch", *argv], input=stdin, env=env,
                          cwd=folder, capture_output=True, timeout=120)
    assert done.returncode == 0, (argv, done.stderr.decode())


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    _require_chromium()
    from sandbox.control import SandboxControl
    from sandbox.server import SandboxServer
    from storage.db import open_database

    folder = tmp_path_factory.mktemp("dash-rules-e2e")
    url = f"sqlite:///{folder / 'e2e.db'}"
    (folder / "kb").mkdir()
    (folder / "kb" / "bags.md").write_text(KB_ARTICLE, encoding="utf-8")
    with SandboxServer() as sandbox:
        control = SandboxControl(sandbox.base_url)
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("CAREWATCH_")},
               **carewatch_env(folder, sandbox.base_url, url, CONFIG), **X_USER_CONTEXT}
        _carewatch(env, folder, "init")
        for name, role in (("agent1", "agent"), ("manager1", "manager")):
            _carewatch(env, folder, "users", "add", name, "--role", role, "--password-stdin",
                       stdin=f"{PASSWORD}\n".encode())
        kept = control.add_tweet("@acmeair my suitcase never arrived in Lisbon",
                                 {"username": "kimp", "name": "Kim Park"})
        dropped = control.add_tweet("@acmeair where is my suitcase?? flight AC 812",
                                    {"username": "leol", "name": "Leo Lund"})
        _carewatch(env, folder, "listen", "--once")
        db = open_database(url)
        try:
            with running_dashboard(env, folder) as base:
                yield {"url": base, "db": db, "env": env, "folder": folder,
                       "control": control, "kept": f"x:{kept['id']}",
                       "dropped": f"x:{dropped['id']}"}
        finally:
            db.dispose()


def _replies(db: Any) -> list[tuple[int, str, str, str | None, str, str | None]]:
    """(id, ref, state, agent, text, last_error) of every reply, oldest first."""
    from storage.models import Mention, Reply

    with db.session() as session:
        rows = session.execute(
            select(Reply.id, Mention.platform, Mention.external_id, Reply.state, Reply.agent,
                   Reply.text, Reply.last_error)
            .join(Mention, Mention.id == Reply.mention_pk).order_by(Reply.id)).all()
    return [(i, f"{p}:{e}", s, a, t, err) for i, p, e, s, a, t, err in rows]


def _held(db: Any) -> dict[str, int]:
    return {ref: reply_id for reply_id, ref, state, agent, _, _ in _replies(db)
            if state == "pending_approval" and agent == f"rule:{RULE}"}


def test_listen_routed_both_items(served: dict[str, Any]) -> None:
    """The state the browser checks build on, read from the database."""
    from storage.mentions import mention_by_ref
    from storage.routing import routing_for

    with served["db"].session() as session:
        for ref in (served["kept"], served["dropped"]):
            mention = mention_by_ref(session, ref)
            assert mention is not None
            assert (mention.topic, mention.assignee) == ("Bags", "agent1")
            assert routing_for(session, mention.id).tags == ["bags"]
    assert set(_held(served["db"])) == {served["kept"], served["dropped"]}


def test_agent_sees_topic_routing_and_suggestions(served: dict[str, Any], page: Any) -> None:
    db = served["db"]
    before = _replies(db)
    _login(page, served["url"], "agent1", PASSWORD)
    _wait_title(page, "Inbox")
    _wait_idle(page)
    # The topic chips in the queue's topic column (the grid draws on a canvas; its
    # accessible copy holds the cells): both routed items are Bags.
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.locator("canvas").first.wait_for()
    expect(grid.locator('[role="gridcell"]').filter(has_text=re.compile(r"^Bags$"))
           ).to_have_count(2)
    _open(page, served["kept"])
    texts = page.locator('[data-testid="stText"]')
    texts.filter(has_text="my suitcase never arrived in Lisbon").first.wait_for()
    # The topic, as the opened item's topic control names it (the name's case kept).
    page.get_by_text(re.compile(r"^Topic:\W*Bags( \(\d+%\))?$")).first.wait_for()
    # Why it is here: the rule that routed it.
    routed = texts.filter(has_text=f"routed by rule '{RULE}'").first
    routed.wait_for()
    assert "assign agent1" in routed.inner_text()
    assert "tag bags" in routed.inner_text()
    texts.filter(has_text="tags bags").first.wait_for()
    # The suggestions: the canned reply for the topic and the knowledge-base article.
    captions = page.locator('[data-testid="stCaptionContainer"]')
    captions.filter(has_text="canned 'Bag trace' for topic Bags").first.wait_for()
    captions.filter(has_text=f"knowledge article '{KB_TITLE}'").first.wait_for()
    canned = texts.filter(has_text="Hi Kim, sorry your bag hasn't arrived").first
    canned.wait_for()
    canned_text = canned.inner_text()
    assert canned_text.endswith("^agent1"), canned_text
    texts.filter(has_text="open a file at the baggage desk").first.wait_for()
    reply = page.get_by_role("textbox", name="Reply", exact=True)
    expect(reply).to_have_value("")
    # The canned suggestion's card: the innermost block holding its caption and a button.
    card = page.locator('[data-testid^="stVerticalBlock"]').filter(
        has=page.locator('[data-testid="stCaptionContainer"]',
                         has_text="canned 'Bag trace'")).filter(
        has=page.get_by_role("button", name="Use this reply")).last
    card.get_by_role("button", name="Use this reply").click()
    _wait_idle(page)
    expect(page.get_by_role("textbox", name="Reply", exact=True)).to_have_value(canned_text)
    _shot(page, "agent-suggestion-used")
    assert _replies(db) == before  # filled, never queued


def test_agent_has_no_approval_queue(served: dict[str, Any], page: Any) -> None:
    assert len(_held(served["db"])) == 2  # there is something to approve
    _login(page, served["url"], "agent1", PASSWORD)
    _wait_title(page, "Inbox")
    _wait_idle(page)
    page.get_by_text("Open mention").first.wait_for()  # the page is drawn below the queue
    assert page.get_by_text("Approval queue").count() == 0
    assert page.get_by_role("button", name="Approve edited").count() == 0


def test_manager_edits_approves_and_rejects(served: dict[str, Any], page: Any) -> None:
    db, control = served["db"], served["control"]
    held = _held(db)
    kept, dropped = held[served["kept"]], held[served["dropped"]]
    _login(page, served["url"], "manager1", PASSWORD)
    _wait_title(page, "Inbox")
    _wait_idle(page)
    page.get_by_text("Approval queue (2)").first.wait_for()
    card = page.locator(f".st-key-cw_approval_{kept}")
    box = card.get_by_role("textbox", name="Reply text")
    expect(box).to_have_value(re.compile(r"^Hi Kim, sorry your bag hasn't arrived"))
    edited = "Hi Kim, so sorry: your bag is traced and on its way to Lisbon. ^maria"
    box.fill(edited)
    box.press("Control+Enter")
    _wait_idle(page)
    card.get_by_role("button", name="Approve edited").click()
    page.get_by_text(f"Reply #{kept} approved (edited); it is sent by the responder.").wait_for()
    _wait_idle(page)
    page.get_by_text("Approval queue (1)").first.wait_for()
    card = page.locator(f".st-key-cw_approval_{dropped}")
    reason = card.get_by_role("textbox", name="Reason (for a rejection)")
    reason.fill("the customer already has a file")
    reason.press("Enter")
    _wait_idle(page)
    card.get_by_role("button", name="Reject").click()
    page.get_by_text(f"Reply #{dropped} rejected; it will not be sent.").wait_for()
    page.get_by_text("Approval queue (0)").first.wait_for()
    _shot(page, "manager-approvals-done")
    rows = {reply_id: (state, text, error)
            for reply_id, _, state, _, text, error in _replies(db)}
    assert rows[kept][:2] == ("queued", edited)
    assert rows[dropped][0] == "failed"
    assert rows[dropped][2] == "rejected by manager1: the customer already has a file"

    for _ in range(2):
        _carewatch(served["env"], served["folder"], "respond", "--once")
    sent = control.sent()
    assert [(s["in_reply_to"], s["text"]) for s in sent] == [
        (served["kept"].split(":", 1)[1], edited)]
    states = {reply_id: state for reply_id, _, state, _, _, _ in _replies(db)}
    assert (states[kept], states[dropped]) == ("sent", "failed")
