"""`carewatch alerts [--json]` and `carewatch alerts ack ID --as USER` through the real entry
point (`carewatch.cli.main`)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

import carewatch.cli as cli
from storage.db import open_database
from storage.migrate import upgrade
from tests.alerts.conftest import T0, burst, engine_for, mention, quiet_history
from tests.alerts.conftest import store as put


@pytest.fixture
def cli_db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.chdir(tmp_path)  # no ./carewatch.toml
    monkeypatch.delenv("CAREWATCH_CONFIG", raising=False)
    monkeypatch.setenv("CAREWATCH_DATABASE_URL", url)
    # This test is about the alerts command only; other groups are tested by their owners.
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("alerts",))
    db = open_database(url)
    upgrade(db.engine)
    yield db
    db.dispose()


def test_alerts_json_and_ack(cli_db, clock, capsys):
    engine = engine_for(cli_db, clock)
    clock.at(T0)
    engine.on_new_mentions(put(cli_db, quiet_history(T0, hours=24)))
    clock.at(T0 + timedelta(minutes=13))
    engine.on_new_mentions(put(cli_db, burst(T0 + timedelta(minutes=1), 12)))
    engine.on_new_mentions(put(cli_db, [mention("bad", T0 - timedelta(minutes=30),
                                                label="negative")]))
    capsys.readouterr()

    assert cli.main(["alerts", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["kind"] for r in records]
    assert {r["kind"] for r in records} == {"spike",
                                                                             "risk_words"}
    for r in records:
        assert list(r) == ["id", "kind", "severity", "summary", "mention_ids", "first_seen",
                           "last_seen", "acknowledged_by"]
        assert r["first_seen"] == "2026-11-23T12:13:00Z"
        assert r["acknowledged_by"] is None
        assert len(r["mention_ids"]) == 12
        assert r["mention_ids"][0].startswith("x:")
        assert r["severity"] in ("low", "medium", "high", "critical")

    spike_id = next(r["id"] for r in records if r["kind"] == "spike")
    assert cli.main(["alerts", "ack", str(spike_id), "--as", "maria"]) == 0
    assert f"alert {spike_id} acknowledged by maria" in capsys.readouterr().out
    assert cli.main(["alerts", "--json"]) == 0
    after = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert after[spike_id]["acknowledged_by"] == "maria"

    assert cli.main(["alerts"]) == 0
    table = capsys.readouterr().out
    assert "open alert" in table
    assert "spike" in table
    assert "maria" in table

    assert cli.main(["alerts", "ack", "999", "--as", "maria"]) == 2
    assert "no alert with id 999" in capsys.readouterr().err


def test_alerts_json_empty_list(cli_db, capsys):
    assert cli.main(["alerts", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
