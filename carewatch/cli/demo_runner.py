"""`carewatch demo`: the whole product on one machine with no configuration.

It starts the platform sandbox (fed with generated mentions that keep arriving), points the
real clients at it, creates the SQLite store and one user per role, runs the scheduler
(listeners, responder, alerts) and the Meta webhook receiver (subscribed in the sandbox, so
messages and comments arrive the moment they are made) in this process and the dashboard as
a child process, prints the URL and the logins, and stops everything on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from carewatch.cli.common import AppContext, Failure, UsageError
from carewatch.cli.demo_knowledge import SUGGESTIONS_CONFIG, write_articles
from carewatch.cli.jobs import run_listener_forever
from carewatch.cli.webhooks import receiver_app
from carewatch.log import configure_logging, get_logger
from carewatch.settings import Settings, load_settings
from listener.webhooks.server import ReceiverServer
from responders.teamwork import seed_canned_replies
from sandbox.control import SandboxControl
from sandbox.server import SandboxServer
from storage.db import Database, DatabaseError, open_database, redact_url
from storage.migrate import upgrade
from storage.users import create_or_update_user

log = get_logger(__name__)

DEMO_DIR = Path(".demo")
DEMO_USERS = {
    "agent": ("agent", "agent-demo-pass"),
    "manager": ("manager", "manager-demo-pass"),
    "analyst": ("analyst", "analyst-demo-pass"),
    "admin": ("admin", "admin-demo-pass"),
}
DEMO_TOKENS = {
    "CAREWATCH_X_BEARER_TOKEN": "demo-bearer-token",
    "CAREWATCH_X_CONSUMER_KEY": "demo-consumer-key",
    "CAREWATCH_X_CONSUMER_SECRET": "demo-consumer-secret",
    "CAREWATCH_X_ACCESS_TOKEN": "1500000000000000000-demo-access-token",
    "CAREWATCH_X_ACCESS_TOKEN_SECRET": "demo-access-secret",
    "CAREWATCH_FB_PAGE_TOKEN": "demo-page-token",
    "CAREWATCH_META_APP_SECRET": "demo-app-secret",
    "CAREWATCH_META_VERIFY_TOKEN": "demo-verify-token",
}
DEMO_CONFIG = """\
# Written by `carewatch demo`: the sandbox's brand, polled every few seconds.
[brand]
name = "Acme Air"
handles = ["acmeair"]

[[sources]]
platform = "x"
kind = "search"
query = "@acmeair OR \\"acme air\\" -is:retweet"
every = "10s"

[[sources]]
platform = "x"
kind = "mentions"
user_id = "1500000000000000000"
every = "10s"

[[sources]]
platform = "facebook"
page_id = "100000000000001"
every = "15s"

[[sources]]
platform = "instagram"
ig_user_id = "17841400000000001"
every = "15s"

[[sources]]
platform = "x"
kind = "dms"
user_id = "1500000000000000000"
every = "10s"

[[sources]]
platform = "facebook"
kind = "messenger"
page_id = "100000000000001"
every = "10s"

[[sources]]
platform = "instagram"
kind = "direct"
page_id = "100000000000001"
ig_user_id = "17841400000000001"
every = "10s"

[alerts]
first_response_minutes = 60

[[topics]]
name = "Lost Luggage"
keywords = ["lost bag*", "luggage", "suitcase", "baggage"]
examples = ["my bag never arrived"]

[[topics]]
name = "Late Flight"
keywords = ["delay*", "late", "waiting at the gate"]

[[topics]]
name = "Refund"
keywords = ["refund*", "money back", "charged twice"]

[[canned_replies]]
name = "Apology + DM"
text = "Hi {first_name}, I'm sorry about this. Please send us a DM with your booking \
reference and we'll sort it out. ^{agent}"

[[canned_replies]]
name = "Thanks"
text = "Thank you {handle}, we're glad you flew with us! ^{agent}"

# Rules: urgent complaints go round robin to the care team; praise on X gets a thank-you
# queued for the manager's approval (Inbox, "Approval queue").
[[teams]]
name = "care"
members = ["agent", "manager"]

[[rules]]
name = "urgent to care"
when = { sentiment = ["negative"], urgency_at_least = 0.6 }
then = { assign = "care", tag = "urgent", priority = "high" }

[[rules]]
name = "thank praise"
when = { platform = ["x"], visibility = "public", sentiment = ["positive"] }
then = { reply_canned = "Thanks", approval = true }
"""


def _free_port(preferred: int) -> int:
    for candidate in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise UsageError("no free port for the dashboard")


def _wait_for_http(url: str, timeout: float, proc: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + timeout
    session = requests.Session()
    session.trust_env = False
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if session.get(url, timeout=2).status_code < 500:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.5)
    return False


def run_demo(context: AppContext, *, dashboard_port: int, sandbox_port: int) -> None:
    # The demo's terminal is for the banner and problems; routine polling stays quiet.
    configure_logging(os.environ.get("CAREWATCH_LOG_LEVEL", "WARNING"))
    DEMO_DIR.mkdir(exist_ok=True)
    config_path = DEMO_DIR / "carewatch.toml"
    config_path.write_text(DEMO_CONFIG + SUGGESTIONS_CONFIG, encoding="utf-8")
    write_articles(DEMO_DIR / "kb")
    database_url = os.environ.get("CAREWATCH_DATABASE_URL",
                                  f"sqlite:///{(DEMO_DIR / 'carewatch.db').resolve()}")
    stop = threading.Event()

    with SandboxServer(port=sandbox_port, seed=7, seed_count=400, live_rate=8.0) as sandbox:
        env = {
            **DEMO_TOKENS,
            "CAREWATCH_CONFIG": str(config_path.resolve()),
            "CAREWATCH_DATABASE_URL": database_url,
            "CAREWATCH_X_API_URL": sandbox.base_url,
            "CAREWATCH_GRAPH_API_URL": sandbox.base_url,
        }
        os.environ.update(env)
        context.config_path = str(config_path)
        settings = load_settings(config_path)
        try:
            db = open_database(settings.database_url)
        except DatabaseError as exc:
            raise UsageError(str(exc)) from None
        upgrade(db.engine)
        seed_canned_replies(db, settings)
        with db.write() as session:
            for role, (username, password) in DEMO_USERS.items():
                create_or_update_user(session, username, role, password, actor="demo")

        receiver = _start_webhooks(context, sandbox.base_url)
        port = _free_port(dashboard_port)
        dashboard = subprocess.Popen(
            [sys.executable, "-m", "carewatch", "dashboard", "--port", str(port)],
            env={**os.environ}, stdin=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        scheduler_thread = threading.Thread(
            target=_run_scheduler, args=(db, settings, stop), name="carewatch-scheduler",
            daemon=True)
        scheduler_thread.start()

        def _stop(_signum: int, _frame: object) -> None:
            stop.set()

        previous = signal.signal(signal.SIGTERM, _stop)
        try:
            if not _wait_for_http(url, 90, dashboard):
                raise Failure(f"the dashboard did not start on {url}")
            print(_banner(url, sandbox.base_url, receiver.url, settings.database_url),
                  flush=True)
            while not stop.is_set() and dashboard.poll() is None:
                stop.wait(1.0)
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            signal.signal(signal.SIGTERM, previous)
            print("\nstopping carewatch demo...", file=sys.stderr, flush=True)
            if dashboard.poll() is None:
                dashboard.terminate()
                try:
                    dashboard.wait(10)
                except subprocess.TimeoutExpired:
                    dashboard.kill()
            scheduler_thread.join(15)
            receiver.stop()
            context.close()
            db.dispose()


def _start_webhooks(context: AppContext, sandbox_url: str) -> ReceiverServer:
    """The webhook receiver on a free port, subscribed in the sandbox with the demo's app
    secret and verify token (the sandbox checks the challenge first, as Meta does)."""
    receiver = ReceiverServer(receiver_app(context)).start()
    try:
        SandboxControl(sandbox_url).subscribe_webhooks(
            receiver.url, DEMO_TOKENS["CAREWATCH_META_APP_SECRET"],
            verify_token=DEMO_TOKENS["CAREWATCH_META_VERIFY_TOKEN"])
    except Exception as exc:
        receiver.stop()
        raise Failure(f"the sandbox could not subscribe the webhook receiver: {exc}") from None
    return receiver


def _run_scheduler(db: Database, settings: Settings, stop: threading.Event) -> None:
    try:
        run_listener_forever(db, settings, stop)
    except Exception as exc:
        log.error("scheduler_stopped", error=str(exc))


def _banner(url: str, sandbox_url: str, webhooks_url: str, database_url: str) -> str:
    logins = "\n".join(f"    {role:<8} user {u!r:<10} password {p!r}"
                       for role, (u, p) in DEMO_USERS.items())
    return (
        "\ncarewatch demo is running\n"
        f"  dashboard: {url}\n"
        f"  logins:\n{logins}\n"
        f"  platform sandbox: {sandbox_url}\n"
        f"  webhooks: {webhooks_url} (signed deliveries from the sandbox)\n"
        f"  database: {redact_url(database_url)}\n"
        "  Ctrl-C stops everything.\n"
    )
