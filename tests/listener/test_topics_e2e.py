"""Topics end to end, on SQLite and PostgreSQL: the real sandbox and clients, the real CLI.

Configured `[[topics]]` → `listen --once` stores each new item's topic and confidence
(praise gets none) → the export's `topic` column is filled → `topics learn` re-topics the
open items → `score` adds `topic` and `topic_confidence` from the stored model.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from sandbox.server import SandboxServer
from storage.db import Database
from storage.models import HourlyTopicStat
from tests.listener.conftest import CliRunner
from tests.listener.helpers import CONTRACT_TOML, stored
from tests.topics.examples import labelled
from tests.topics.test_cli_learn import write_examples

TOPICS_TOML = CONTRACT_TOML + """
[[topics]]
name = "Lost Luggage"
keywords = ["lost bag*", "luggage", "suitcase"]
examples = ["my bag did not arrive", "where is my baggage"]

[[topics]]
name = "Late Flight"
keywords = ["delay*", "late"]
examples = ["the flight is two hours late"]
"""

TWEETS = {
    "bag": "@acmeair my suitcase never arrived and nobody answers",
    "late": "@acmeair flight AC12 delayed 3 hours, still at the gate",
    "praise": "@acmeair thank you, lovely crew and my luggage came out first!",
    "refund": "@acmeair when do I get my refund for the cancelled trip?",
}


def test_topics_from_listen_to_export_learn_and_score(
        database_url: str, sandbox: SandboxServer, make_env: Callable[..., dict],
        cli: CliRunner, open_db: Callable[[str], Database], tmp_path: Path) -> None:
    ids = {k: str(sandbox.world.add_tweet(text, {"username": f"cust_{k}"}).id)
           for k, text in TWEETS.items()}
    make_env(database_url, TOPICS_TOML)
    assert cli("init")[0] == 0
    code, err = cli("listen", "--once")
    assert code == 0, err
    db = open_db(database_url)
    rows = stored(db, "x")
    got = {k: (rows[i].topic, rows[i].topic_confidence) for k, i in ids.items()}
    assert got["bag"][0] == "Lost Luggage"
    assert got["late"][0] == "Late Flight"
    assert got["praise"] == (None, None)
    for topic, confidence in got.values():
        assert (confidence is None) == (topic is None)
        assert confidence is None or 0 < confidence <= 1
    with db.session() as s:
        counts = {t: c for t, c in s.execute(
            select(HourlyTopicStat.topic, HourlyTopicStat.count)).all() if c}
    assert counts["Lost Luggage"] >= 1
    assert counts["Late Flight"] >= 1

    out = tmp_path / "mentions.csv"
    assert cli("export", "mentions", "--format", "csv", "--out", str(out))[0] == 0
    with out.open(encoding="utf-8") as fh:
        exported = {r["external_id"]: r["topic"] for r in csv.DictReader(fh)}
    assert exported[ids["bag"]] == "Lost Luggage"
    assert exported[ids["praise"]] == ""

    # Learning a model (with a Refund topic) re-topics the open items.
    src = write_examples(tmp_path / "labelled.csv", labelled())
    code, err = cli("topics", "learn", "--in", str(src), "--label-column", "reason")
    assert code == 0, err
    assert "re-topicked" in err
    rows = stored(db, "x")
    assert rows[ids["refund"]].topic == "Refund"
    assert rows[ids["bag"]].topic == "Lost Luggage"
    assert rows[ids["praise"]].topic is None

    scored = tmp_path / "scored.csv"
    write_examples(tmp_path / "in.csv", [(t, "") for t in TWEETS.values()])
    code, err = cli("score", "--in", str(tmp_path / "in.csv"), "--out", str(scored))
    assert code == 0, err
    with scored.open(encoding="utf-8") as fh:
        out_rows = list(csv.DictReader(fh))
    assert [r["topic"] for r in out_rows] == ["Lost Luggage", "Late Flight", "", "Refund"]
    assert out_rows[2]["topic_confidence"] == ""
    assert all(0 < float(r["topic_confidence"]) <= 1 for r in out_rows if r["topic"])
