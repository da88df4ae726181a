"""Rules through the CLI, end to end: the real sandbox and clients, the real CLI, a real
database. `listen --once` scores a new tweet and a rule assigns, tags and queues a canned
reply for approval; `approve` releases it and `respond --once` sends it exactly once. The
webhook receiver routes what it stores the same way. Config errors exit 2 in one line."""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import pytest
import requests
from sqlalchemy import select

from carewatch.cli.common import AppContext
from carewatch.cli.webhooks import receiver_app
from listener.webhooks.server import ReceiverServer
from responders.teamwork import pending_approvals
from sandbox.control import SandboxControl
from storage.db import Database
from storage.models import AuditEntry, Mention, Reply
from storage.routing import routing_for
from tests.listener.conftest import CliRunner
from tests.listener.helpers import BRAND_PAGE, CONTRACT_TOML, X_USER_CONTEXT
from tests.listener.webhook_helpers import APP_SECRET, VERIFY_TOKEN, messaging_body, signed

RULES_TOML = CONTRACT_TOML + """
[[canned_replies]]
name = "Bag trace"
text = "Hi {first_name}, sorry your bag hasn't arrived. Please DM us the file reference. ^{agent}"

[[rules]]
name = "bags to maria"
when = { keywords = ["suitcase*"] }
then = { assign = "maria", tag = "bags", reply_canned = "Bag trace" }
"""


def add_user(cli: CliRunner, monkeypatch: pytest.MonkeyPatch, name: str, role: str,
             *flags: str) -> tuple[int, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-enough-passphrase\n"))
    return cli("users", "add", name, "--role", role, "--password-stdin", *flags)


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_rule_routes_a_new_tweet_and_its_approved_reply_is_sent_once(
        database_url: str, control: SandboxControl, make_env: Callable[..., dict],
        cli: CliRunner, open_db: Callable[[str], Database],
        monkeypatch: pytest.MonkeyPatch) -> None:
    make_env(database_url, toml=RULES_TOML)
    for key, value in X_USER_CONTEXT.items():
        monkeypatch.setenv(key, value)
    assert cli("init")[0] == 0
    # The rule names a user nobody added yet: refused at start, nothing polled.
    code, err = cli("listen", "--once")
    assert code == 2
    assert "rules[0].then.assign: unknown user or team 'maria'" in one_line(err)
    db = open_db(database_url)
    with db.session() as session:
        assert session.execute(select(Mention.id)).first() is None

    assert add_user(cli, monkeypatch, "maria", "manager")[0] == 0
    tweet = control.add_tweet("@acmeair my suitcase never arrived in Lisbon",
                              {"username": "kimp", "name": "Kim Park"})
    assert cli("listen", "--once")[0] == 0
    assert cli("listen", "--once")[0] == 0  # again: each item is routed once
    with db.session() as session:
        mention = session.execute(select(Mention).where(
            Mention.external_id == tweet["id"])).scalar_one()
        assert (mention.assignee, mention.status) == ("maria", "assigned")
        assert mention.sentiment_label is not None  # scored before the rules ran
        routing = routing_for(session, mention.id)
        actors = {a for (a,) in session.execute(select(AuditEntry.actor).where(
            AuditEntry.target == f"x:{tweet['id']}"))}
        others = session.execute(select(Mention.assignee).where(
            Mention.id != mention.id, Mention.assignee.is_not(None))).all()
    assert routing.tags == ["bags"]
    assert routing.lines()[0].startswith("routed by rule 'bags to maria': assign maria, "
                                         "tag bags, reply 'Bag trace' (waiting for approval")
    assert actors == {"rule:bags to maria"}
    assert others == []
    [pending] = pending_approvals(db)
    assert pending.agent == "rule:bags to maria"
    assert pending.text.startswith("Hi Kim, sorry your bag")

    assert cli("respond", "--once")[0] == 0
    assert control.sent() == []  # waiting for a manager
    code, err = cli("approve", str(pending.id), "--as", "maria")
    assert code == 0, err
    assert cli("respond", "--once")[0] == 0
    assert cli("respond", "--once")[0] == 0
    sent = control.sent()
    assert [(s["in_reply_to"], s["text"]) for s in sent] == [(tweet["id"], pending.text)]
    with db.session() as session:
        assert session.execute(select(Reply.state)).scalars().all() == ["sent"]


def test_the_webhook_receiver_applies_rules(
        database_url: str, make_env: Callable[..., dict], cli: CliRunner,
        open_db: Callable[[str], Database], monkeypatch: pytest.MonkeyPatch) -> None:
    make_env(database_url, toml=RULES_TOML)
    monkeypatch.setenv("CAREWATCH_META_APP_SECRET", APP_SECRET)
    monkeypatch.setenv("CAREWATCH_META_VERIFY_TOKEN", VERIFY_TOKEN)
    assert cli("init")[0] == 0
    assert add_user(cli, monkeypatch, "maria", "manager")[0] == 0
    context = AppContext()
    with ReceiverServer(receiver_app(context)) as receiver:
        raw, headers = signed(messaging_body(
            "m_rule1", "my suitcase is gone", sender="7200000000000009",
            recipient=BRAND_PAGE, ms=int(time.time() * 1000)))
        http = requests.Session()
        http.trust_env = False
        assert http.post(receiver.url, data=raw, headers=headers, timeout=5).status_code == 200
    context.close()
    db = open_db(database_url)
    with db.session() as session:
        mention = session.execute(select(Mention).where(
            Mention.external_id == "m_rule1")).scalar_one()
        assert mention.assignee == "maria"
        assert routing_for(session, mention.id).tags == ["bags"]
        [reply] = session.execute(select(Reply)).scalars().all()
    # A private message: the answer is a message in its conversation, waiting for approval.
    assert (reply.kind, reply.state, reply.agent) == ("message", "pending_approval",
                                                      "rule:bags to maria")


@pytest.mark.parametrize(("extra", "needle"), [
    ('[[rules]]\nname = "r"\nthen = { tag = "x", bogus = 1 }\n',
     "rules[0].then.bogus: unknown key"),
    ('[[rules]]\nname = "r"\nwhen = { sentiment = ["angry"] }\nthen = { tag = "x" }\n',
     "rules[0].when.sentiment[0]: Input should be 'negative', 'neutral' or 'positive'"),
    ('[[rules]]\nname = "r"\nwhen = { urgency_below = 2 }\nthen = { tag = "x" }\n',
     "rules[0].when.urgency_below: Input should be less than or equal to 1"),
    ('[[rules]]\nname = "r"\nthen = {}\n', "rules[0].then: a rule needs at least one action"),
    ('[[rules]]\nname = "r"\nthen = { assign = "nobody" }\n',
     "rules[0].then.assign: unknown user or team 'nobody'"),
    ('[[rules]]\nname = "r"\nthen = { reply_canned = "Nope" }\n',
     "rules[0].then.reply_canned: unknown canned reply 'Nope'"),
    ('[hours]\ntimezone = "Mars/Olympus"\n', "hours.timezone: unknown time zone 'Mars/Olympus'"),
    ('[hours]\nstart = "18:00"\nend = "09:00"\n', "hours: end '09:00' must be after start"),
    ('[hours]\ndays = ["funday"]\n', "hours.days: unknown day 'fun'"),
    ('[[rules]]\nname = "r"\nthen = { tag = "x" }\n[[rules]]\nname = "r"\nthen = { tag = "y" }\n',
     "two [[rules]] share a name"),
    ('[[rules]]\nname = "r"\nthen = { acknowledge = "Ack" }\n',
     "rules[0].then: 'acknowledge' needs 'move_private'"),
    ('[[topics]]\nname = "Lost Luggage"\nkeywords = ["luggage"]\n[[topics]]\nname = "Refunds"\n'
     'keywords = ["refund*"]\n[[rules]]\nname = "r"\nwhen = { topics = ["Lost Lugage"] }\n'
     'then = { tag = "x" }\n',
     "rules[0].when.topics: unknown topic 'Lost Lugage' in rule 'r': did you mean 'Lost "
     "Luggage'? (the known topics are: Lost Luggage, Refunds)"),
])
@pytest.mark.parametrize("command", [("listen", "--once"), ("respond", "--once"),
                                     ("dashboard", "--port", "1")])
def test_bad_rules_exit_2_in_one_line(extra: str, needle: str, command: tuple[str, ...],
                                      sqlite_url: str, make_env: Callable[..., dict],
                                      cli: CliRunner) -> None:
    make_env(sqlite_url)
    assert cli("init")[0] == 0
    make_env(sqlite_url, toml=CONTRACT_TOML + extra)
    code, err = cli(*command)
    assert code == 2
    assert needle in one_line(err)
