"""End to end in headless Chromium: `carewatch dashboard --port N` against a seeded store.

What a user sees: the login form, wrong passwords refused, each role's
pages and no others (also when asked for by URL), the most urgent mention on the agent's
first screen, hostile markup shown as text with no element created and no script run, a
reply and a move-to-private queued, a CSV downloaded. Screenshots go to
artifacts/screenshots/ (and, with CAREWATCH_UPDATE_SCREENSHOTS=1, the README's inbox shot).

Debian's chromium is required (CI installs it): missing, the test FAILS saying so, unless
CAREWATCH_SKIP_BROWSER=1 asks to skip it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.dashboard.conftest import CHROMIUM, publish_screenshot
from tests.dashboard.seed import HOSTILE_REF, HOSTILE_TEXT, PASSWORDS, TOP_REF, TOP_TEXT, seed
from tests.receivers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
EXPECTED_PAGES = {"agent1": ["Inbox"], "manager1": ["Inbox", "Alerts", "Trends"],
                  "analyst1": ["Trends"], "admin1": ["Settings"]}


def _require_chromium() -> None:
    if os.environ.get("CAREWATCH_SKIP_BROWSER") == "1":
        pytest.skip("CAREWATCH_SKIP_BROWSER=1: browser tests skipped on request")
    if not Path(CHROMIUM).exists():
        message = (f"Chromium not found at {CHROMIUM}: install Debian's 'chromium' package "
                   "(apt-get install -y chromium; `make test` does it as root)")
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must run the browser tests
        pytest.skip(message)


def _dashboard_argv(port: int) -> list[str]:
    from carewatch.cli import COMMAND_MODULES

    if "dashboard" in COMMAND_MODULES:
        return [sys.executable, "-m", "carewatch", "dashboard", "--port", str(port)]
    # Until carewatch.cli lists the module (see test_dashboard_command_is_registered).
    launcher = ("import sys, importlib, carewatch.cli as c; c._register(); "
                "importlib.import_module('carewatch.cli.dashboard'); "
                "sys.exit(c.app(args=sys.argv[1:], prog_name='carewatch', "
                "standalone_mode=True))")
    return [sys.executable, "-c", launcher, "dashboard", "--port", str(port)]


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"carewatch dashboard exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"the dashboard did not answer on {url} within {timeout:.0f}s")


@contextmanager
def running_dashboard(env: dict[str, str], folder: Path) -> Iterator[str]:
    """A real `carewatch dashboard` process on a free port, answering, until the block ends;
    yields its base URL."""
    port = free_port()
    proc = subprocess.Popen(_dashboard_argv(port), env=env, cwd=folder,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    _require_chromium()
    from storage.db import open_database
    from storage.migrate import upgrade

    folder = tmp_path_factory.mktemp("dash-e2e")
    url = f"sqlite:///{folder / 'e2e.db'}"
    config = folder / "carewatch.toml"
    config.write_text('[brand]\nname = "Acme Air"\nhandles = ["acmeair"]\n', encoding="utf-8")
    env = {**os.environ, "CAREWATCH_DATABASE_URL": url, "CAREWATCH_CONFIG": str(config),
           "CAREWATCH_FB_PAGE_TOKEN": "EAAB-e2e-secret-token"}
    db = open_database(url)
    upgrade(db.engine)
    seed(db)
    # One user through the real command, as an operator creates one.
    added = subprocess.run(
        [sys.executable, "-m", "carewatch", "users", "add", "cliagent", "--role", "agent",
         "--password-stdin"], input=b"cli-agent-pass\n", env=env, cwd=folder,
        capture_output=True, timeout=60)
    assert added.returncode == 0, added.stderr.decode()
    try:
        with running_dashboard(env, folder) as base:
            yield {"url": base, "db": db}
    finally:
        db.dispose()


def _shot(page: Any, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def _login(page: Any, base: str, username: str, password: str, path: str = "") -> None:
    page.goto(f"{base}/{path}")
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()


def _wait_title(page: Any, title: str) -> None:
    page.locator("h1", has_text=title).first.wait_for(state="visible")


def _nav(page: Any) -> list[str]:
    links = page.locator('[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]')
    return [t.strip() for t in links.all_inner_texts()]


def _wait_idle(page: Any) -> None:
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=20_000)


def test_dashboard_command_is_registered() -> None:
    from carewatch.cli import COMMAND_MODULES

    assert "dashboard" in COMMAND_MODULES, \
        "carewatch.cli.COMMAND_MODULES must list 'dashboard' for `carewatch dashboard`"


def test_wrong_password_refused(served: dict[str, Any], page: Any) -> None:
    _login(page, served["url"], "agent1", "definitely-wrong")
    page.get_by_text("Wrong username or password.").wait_for()
    assert page.locator("h1", has_text="Inbox").count() == 0
    _shot(page, "login-refused")


@pytest.mark.parametrize("username", list(EXPECTED_PAGES))
def test_each_role_sees_its_pages(served: dict[str, Any], page: Any, username: str) -> None:
    _login(page, served["url"], username, PASSWORDS[username])
    first = EXPECTED_PAGES[username][0]
    _wait_title(page, first)
    _wait_idle(page)
    if len(EXPECTED_PAGES[username]) > 1:
        page.locator('[data-testid="stSidebarNavLink"]').first.wait_for(state="visible")
        assert _nav(page) == EXPECTED_PAGES[username]
    else:  # Streamlit hides its menu for a single page; the app lists it as a link instead
        page.locator('[data-testid="stPageLink"]').first.wait_for(state="visible")
        assert _nav(page) == []
        assert page.locator('[data-testid="stPageLink"]').all_inner_texts() == [first]
    links = [t.strip() for t in page.locator("section[data-testid=stSidebar] a")
             .all_inner_texts()]
    for other in {"Inbox", "Alerts", "Trends", "Settings"} - set(EXPECTED_PAGES[username]):
        assert other not in links
        assert page.locator("h1", has_text=other).count() == 0
    _shot(page, f"{username}-{first.lower()}")
    if username == "admin1":
        assert "EAAB-e2e-secret-token" not in page.content()


@pytest.mark.parametrize(("username", "path"), [("agent1", "alerts"), ("agent1", "settings"),
                                           ("analyst1", "inbox"), ("manager1", "settings")])
def test_pages_outside_the_role_are_not_served_by_url(served: dict[str, Any], page: Any,
                                                      username: str, path: str) -> None:
    _login(page, served["url"], username, PASSWORDS[username], path)
    page.get_by_text("You do not have access to this page.").wait_for()
    _wait_idle(page)
    assert page.locator("h1").count() == 0
    assert page.locator('[data-testid="stDataFrame"]').count() == 0
    page.get_by_role("link", name=f"Go to {EXPECTED_PAGES[username][0]}").click()
    _wait_title(page, EXPECTED_PAGES[username][0])


@pytest.mark.parametrize(("username", "path", "title"), [
    ("admin1", "Settings", "Settings"), ("manager1", "TRENDS", "Trends"),
    ("agent1", "Settings", None), ("analyst1", "Inbox", None)])
def test_page_urls_in_another_casing(served: dict[str, Any], page: Any, username: str,
                                     path: str, title: str | None) -> None:
    """`/Settings` is the page named `Settings` too: the login form answers there (no "page
    not found" dialog over it), then the page if the role has it, else the refusal."""
    page.set_default_timeout(15_000)
    _login(page, served["url"], username, PASSWORDS[username], path)
    if title is not None:
        _wait_title(page, title)
        return
    page.get_by_text("You do not have access to this page.").wait_for()
    _wait_idle(page)
    assert page.locator("h1").count() == 0


def test_agent_first_screen_and_hostile_text(served: dict[str, Any], page: Any) -> None:
    _login(page, served["url"], "agent1", PASSWORDS["agent1"])
    _wait_title(page, "Inbox")
    _wait_idle(page)
    top = page.locator('[data-testid="stText"]').filter(has_text=TOP_TEXT).first
    top.wait_for(state="visible")
    box = top.bounding_box()
    assert box is not None
    assert box["y"] + box["height"] <= 900, "top mention below the fold"
    page.locator('[data-testid="stDataFrame"] canvas').first.wait_for()
    page.wait_for_timeout(1000)  # the grid draws its rows after its canvas appears
    shot = _shot(page, "agent-inbox")
    publish_screenshot(shot, "screenshot-inbox.png")
    # Open the hostile mention: its markup must show as characters, never as elements.
    _open(page, HOSTILE_REF)
    hostile = page.locator('[data-testid="stText"]').filter(has_text=HOSTILE_TEXT).first
    hostile.wait_for(state="visible")
    hostile.scroll_into_view_if_needed()
    assert page.locator('img[src="x"]').count() == 0
    assert page.locator('a[href^="javascript"]').count() == 0
    assert page.locator("script", has_text="alert(2)").count() == 0
    assert page.locator("strong", has_text="bold").count() == 0
    page.wait_for_timeout(500)
    _shot(page, "agent-hostile-mention")


def _open(page: Any, ref: str) -> None:
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Open mention")
    box.locator("input").click()
    box.locator("input").fill(ref)
    page.keyboard.press("Enter")
    # The opened item's header names it (the grid's hidden accessible copy does too).
    page.locator('[data-testid="stText"]').filter(has_text=ref).first.wait_for()
    _wait_idle(page)


def _replies(db: Any) -> list[tuple[str, str, str]]:
    from storage.models import Mention, Reply

    with db.session() as session:
        rows = session.execute(
            select(Reply.kind, Reply.state, Mention.platform, Mention.external_id)
            .join(Mention, Mention.id == Reply.mention_pk).order_by(Reply.id)
        ).all()
    return [(kind, state, f"{p}:{e}") for kind, state, p, e in rows]


def test_agent_queues_a_reply_and_a_move_to_private(served: dict[str, Any], page: Any) -> None:
    db = served["db"]
    before = len(_replies(db))
    _login(page, served["url"], "agent1", PASSWORDS["agent1"])
    _wait_title(page, "Inbox")
    _wait_idle(page)
    reply = page.get_by_role("textbox", name="Reply", exact=True)
    reply.fill("So sorry, a supervisor is contacting the crew now.")
    reply.press("Control+Enter")
    _wait_idle(page)
    page.get_by_role("button", name="Queue reply").click()
    page.get_by_text("Reply queued").first.wait_for()
    _shot(page, "agent-reply-queued")
    _open(page, HOSTILE_REF)
    tab = page.get_by_role("tab", name="Move to private")
    deadline = time.monotonic() + 15
    while tab.count() != 1 and time.monotonic() < deadline:  # stale elements of the rerun
        page.wait_for_timeout(200)
    tab.click()
    private = page.get_by_role("textbox", name="Private message", exact=True)
    private.fill("Could you send us your booking code?")
    private.press("Control+Enter")
    _wait_idle(page)
    page.get_by_role("button", name="Move to private").click()
    page.get_by_text("Private message queued").first.wait_for()
    rows = _replies(db)[before:]
    assert ("public", "queued", TOP_REF) in rows
    assert ("private", "queued", HOSTILE_REF) in rows
    assert ("public_note", "queued", HOSTILE_REF) in rows


def test_analyst_downloads_csv(served: dict[str, Any], page: Any) -> None:
    _login(page, served["url"], "analyst1", PASSWORDS["analyst1"])
    _wait_title(page, "Trends")
    _wait_idle(page)
    _shot(page, "analyst-trends")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV").click()
    data = Path(info.value.path()).read_text(encoding="utf-8-sig")
    header = data.splitlines()[0]
    assert header.startswith("platform,external_id,thread_id")
    assert len(data.strip().splitlines()) == 1 + 7  # every mention of the week, own posts not
    assert TOP_TEXT in data


def test_manager_alerts_page(served: dict[str, Any], page: Any) -> None:
    _login(page, served["url"], "manager1", PASSWORDS["manager1"], "alerts")
    _wait_title(page, "Alerts")
    _wait_idle(page)
    page.get_by_text("Safety words in 2 mentions (smoke)").wait_for()
    _shot(page, "manager-alerts")


def test_a_click_after_the_account_was_locked_lands_on_the_login(served: dict[str, Any],
                                                                 page: Any) -> None:
    """The button's callback re-reads the user: locked after logging in, the click changes
    nothing and the browser shows the login form."""
    from sqlalchemy import select

    from storage.mentions import mention_by_ref
    from storage.models import User, utcnow
    from storage.users import LOCKOUT
    from tests.dashboard.seed import TOP_REF

    db = served["db"]
    _login(page, served["url"], "cliagent", "cli-agent-pass")
    _wait_title(page, "Inbox")
    page.get_by_role("tab", name="Assign & status").click()
    claim = page.get_by_role("button", name="Claim")
    claim.wait_for()
    with db.write() as session:
        session.execute(select(User).where(User.username == "cliagent")).scalar_one() \
            .locked_until = utcnow() + LOCKOUT
    claim.click()
    page.get_by_role("button", name="Log in").wait_for()
    assert page.locator("h1", has_text="Inbox").count() == 0
    with db.session() as session:
        assert mention_by_ref(session, TOP_REF).assignee != "cliagent"  # type: ignore[union-attr]
