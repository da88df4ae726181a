"""Notifications against a real SMTP server on loopback (aiosmtpd) and a local HTTP receiver."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from carewatch.settings import NotifyConfig
from storage.models import AlertNotification
from tests.alerts.conftest import T0, burst, engine_for, make_settings, quiet_history
from tests.alerts.conftest import store as put
from tests.receivers import Inbox, Webhook, free_port, smtp_server, webhook_server


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as served:
        yield served


@pytest.fixture
def hook_server() -> Iterator[tuple[Webhook, str]]:
    with webhook_server() as served:
        yield served


def _targets(smtp_port: int, url: str) -> list[NotifyConfig]:
    return [NotifyConfig(kind="email", smtp_host="127.0.0.1", smtp_port=smtp_port,
                         sender="carewatch@acme.example", to=["social-lead@acme.example"]),
            NotifyConfig(kind="webhook", url=url)]


def _burst_scenario(db, engine, clock) -> None:
    clock.at(T0)
    engine.on_new_mentions(put(db, quiet_history(T0, hours=24)))
    clock.at(T0 + timedelta(minutes=13))
    engine.on_new_mentions(put(db, burst(T0 + timedelta(minutes=1), 12)))


def test_each_alert_reaches_each_target_once(db, clock, smtp, hook_server):
    inbox, port = smtp
    hook, url = hook_server
    engine = engine_for(db, clock, make_settings(_targets(port, url),
                                                 first_response_minutes=1440))
    _burst_scenario(db, engine, clock)
    assert engine.notify_pending() == 4
    assert len(inbox.messages) == 2
    assert len(hook.delivered) == 2
    subjects = sorted(m["Subject"] for m in inbox.messages)
    assert subjects[0].startswith("[carewatch] CRITICAL risk_words: 12 mentions about safety")
    assert subjects[1].startswith("[carewatch] HIGH spike: 12 negative mentions in 15 min on x")
    body = inbox.messages[0].get_payload()
    assert "smoke in the cabin" in body
    assert "acknowledge: carewatch alerts ack" in body
    texts = sorted(d["text"] for d in hook.delivered)
    assert texts[0].startswith("CRITICAL risk_words")
    assert texts[1].startswith("HIGH spike")
    # Nothing pending: a second run and an extension send nothing more.
    assert engine.notify_pending() == 0
    clock.advance(minutes=5)
    engine.on_new_mentions(put(db, burst(T0 + timedelta(minutes=14), 3)))
    clock.advance(minutes=5)
    assert engine.notify_pending() == 0
    assert len(inbox.messages) == 2
    assert len(hook.delivered) == 2


def test_failing_webhook_is_retried_with_backoff_and_delivered_once(db, clock, smtp,
                                                                    hook_server):
    inbox, port = smtp
    hook, url = hook_server
    hook.fail_first = 1
    engine = engine_for(db, clock, make_settings(_targets(port, url),
                                                 first_response_minutes=1440))
    _burst_scenario(db, engine, clock)
    # First run: the webhook answers 500 once; the target is then skipped for this run, the
    # email target is not held up.
    assert engine.notify_pending() == 2
    assert len(inbox.messages) == 2
    assert hook.delivered == []
    assert hook.attempts == 1
    with db.session() as session:
        key = NotifyConfig(kind="webhook", url=url).key
        rows = session.execute(select(AlertNotification).where(
            AlertNotification.target_key == key)).scalars().all()
        failed = [r for r in rows if r.attempts == 1]
        assert len(failed) == 1
        assert failed[0].last_error == "webhook: HTTP 500"
        assert failed[0].next_attempt_at == clock() + timedelta(seconds=30)
    # 10 s later: the one that failed is not due yet; the one skipped in that run goes out.
    clock.advance(seconds=10)
    assert engine.notify_pending() == 1
    assert len(hook.delivered) == 1
    assert hook.attempts == 2
    # After the backoff the failed one is retried and delivered.
    clock.advance(seconds=25)
    assert engine.notify_pending() == 1
    assert len(hook.delivered) == 2
    assert hook.attempts == 3
    clock.advance(minutes=30)
    assert engine.notify_pending() == 0
    assert len(inbox.messages) == 2
    assert len(hook.delivered) == 2
    with db.session() as session:
        states = session.execute(select(AlertNotification.state)).scalars().all()
    assert states == ["sent"] * 4


def test_dead_smtp_does_not_block_webhook(db, clock, hook_server):
    hook, url = hook_server
    dead = free_port()  # nothing listens here
    engine = engine_for(db, clock, make_settings(_targets(dead, url),
                                                 first_response_minutes=1440))
    _burst_scenario(db, engine, clock)
    assert engine.notify_pending() == 2
    assert len(hook.delivered) == 2
    with db.session() as session:
        rows = session.execute(select(AlertNotification).where(
            AlertNotification.target_key.like("email:%"))).scalars().all()
    assert len(rows) == 2
    assert all(r.state == "pending" for r in rows)
    assert any(r.attempts == 1 and "smtp 127.0.0.1" in (r.last_error or "") for r in rows)
    # Backoff grows and is capped.
    d = engine.dispatcher
    assert [d.backoff(n).total_seconds() for n in (1, 2, 3, 10)] == [30, 60, 120, 900]


def test_mention_text_cannot_ping_slack_channels(db, clock, hook_server):
    hook, url = hook_server
    engine = engine_for(db, clock, make_settings([NotifyConfig(kind="webhook", url=url)]))
    clock.at(T0)
    from tests.alerts.conftest import mention

    engine.on_new_mentions(put(db, [mention("<!channel> I will sue you\nnow", T0,
                                            label="negative")]))
    assert engine.notify_pending() == 1
    text = hook.delivered[0]["text"]
    assert "<!channel>" not in text
    assert "&lt;!channel&gt; I will sue you now" in text


def test_webhook_logged_as_host_and_digest_never_its_path(db, clock, hook_server, capsys):
    """The receiver's path holds the secret (as Slack's does): the dispatcher's log lines
    name the target by host and digest only, whether delivery fails or succeeds."""
    from carewatch.log import configure_logging, load_now

    configure_logging("INFO")  # whatever level an earlier test left
    load_now()
    hook, url = hook_server
    secret_url = f"{url}/services/T0AAA/B0BBB/s3cr3tXXXXXXXX"
    hook.fail_first = 1
    target = NotifyConfig(kind="webhook", url=secret_url)
    engine = engine_for(db, clock, make_settings([target], first_response_minutes=1440))
    capsys.readouterr()
    _burst_scenario(db, engine, clock)
    engine.notify_pending()
    clock.advance(minutes=30)
    engine.notify_pending()
    assert len(hook.delivered) == 2
    err = capsys.readouterr().err
    assert "alert notification failed; will retry" in err
    assert "alert notified" in err
    assert target.label in err
    assert "s3cr3t" not in err
    assert "/services/" not in err
