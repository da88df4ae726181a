"""Private conversations end to end in headless Chromium, against a store seeded with the
dashboard seed plus private conversations (`private_seed.py`).

An agent opens a customer's Messenger answer and sees one timeline (the public complaint,
the move to private, the customer's answer, the agent's answer), each item labelled public
or private with its channel, and the messaging window; with CAREWATCH_UPDATE_SCREENSHOTS=1
the view is saved as docs/screenshot-conversation.png for the README. An analyst reaches no
private text.
Chromium is required as in test_browser.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.conftest import publish_screenshot
from tests.dashboard.private_seed import (
    AGENT_ANSWER_TEXT,
    ANSWER_REF,
    ANSWER_TEXT,
    COMPLAINT_TEXT,
    MOVE_TEXT,
    PRIVATE_TEXTS,
    seed_private,
)
from tests.dashboard.seed import PASSWORDS, seed
from tests.dashboard.test_browser import (
    ROOT,
    _login,
    _open,
    _require_chromium,
    _shot,
    _wait_idle,
    _wait_title,
    running_dashboard,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    _require_chromium()
    from storage.db import open_database
    from storage.migrate import upgrade

    folder = tmp_path_factory.mktemp("dash-private-e2e")
    url = f"sqlite:///{folder / 'e2e.db'}"
    config = folder / "carewatch.toml"
    config.write_text('[brand]\nname = "Acme Air"\nhandles = ["acmeair"]\n', encoding="utf-8")
    env = {**os.environ, "CAREWATCH_DATABASE_URL": url, "CAREWATCH_CONFIG": str(config)}
    db = open_database(url)
    upgrade(db.engine)
    seed(db)
    seed_private(db)
    try:
        with running_dashboard(env, folder) as base:
            yield {"url": base, "db": db}
    finally:
        db.dispose()


def _caption(where: Any, text: str) -> Any:
    return where.locator('[data-testid="stCaptionContainer"]').filter(has_text=text).first


def test_agent_opens_a_private_item_and_sees_the_case_timeline(served: dict[str, Any],
                                                               page: Any) -> None:
    _login(page, served["url"], "agent1", PASSWORDS["agent1"])
    _wait_title(page, "Inbox")
    _wait_idle(page)
    # The queue marks the private items.
    page.locator('[data-testid="stDataFrame"]').first.wait_for(state="visible")
    _open(page, ANSWER_REF)
    page.get_by_role("tab", name="Message in the conversation").wait_for()
    _caption(page, "Messaging window:").wait_for()
    assert "left to answer" in _caption(page, "Messaging window:").inner_text()
    page.get_by_role("button", name="Send in Messenger").wait_for()
    heading = page.locator("h3", has_text="Conversation").first
    heading.wait_for()
    texts = page.locator('[data-testid="stText"]')
    for text in (COMPLAINT_TEXT, MOVE_TEXT, ANSWER_TEXT, AGENT_ANSWER_TEXT):
        texts.filter(has_text=text).first.wait_for()
    _caption(page, "Maria Ramos · public · Facebook").wait_for()
    _caption(page, "Acme Air (brand) · 🔒 private · Messenger").wait_for()
    _caption(page, "Maria Ramos · 🔒 private · Messenger").wait_for()
    # The timeline reads oldest to newest, down the page.
    tops = [texts.filter(has_text=text).nth(1 if text == ANSWER_TEXT else 0)
            .bounding_box()["y"] for text in (COMPLAINT_TEXT, MOVE_TEXT, ANSWER_TEXT,
                                              AGENT_ANSWER_TEXT)]
    assert tops == sorted(tops), tops
    # The shot: the opened item, its reply box with the window, and the whole timeline.
    page.set_viewport_size({"width": 1440, "height": 1400})
    page.wait_for_timeout(500)
    page.locator("h3", has_text="Private message").first.evaluate(
        "element => element.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(800)
    shot = _shot(page, "agent-conversation")
    publish_screenshot(shot, "screenshot-conversation.png")


def test_analyst_reaches_no_private_text(served: dict[str, Any], page: Any) -> None:
    _login(page, served["url"], "analyst1", PASSWORDS["analyst1"])
    _wait_title(page, "Trends")
    _wait_idle(page)
    page.get_by_role("button", name="Download CSV").wait_for()
    content = page.content()
    for text in PRIVATE_TEXTS:
        assert text not in content, text
    for path in ("inbox", "alerts"):  # asked for by URL (the login kept): refused
        page.goto(f"{served['url']}/{path}")
        page.get_by_text("You do not have access to this page.").wait_for()
        _wait_idle(page)
        content = page.content()
        for text in PRIVATE_TEXTS:
            assert text not in content, text


def test_screenshot_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/screenshot-conversation.png)" in readme
    assert Path(ROOT / "docs" / "screenshot-conversation.png").is_file()
