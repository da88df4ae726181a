"""Export fixtures: a store full of hostile mention texts, and readers for every format.

The texts are the ones that break exports in practice: spreadsheet formula triggers, HTML,
bidi overrides, emoji ZWJ sequences, zero-width characters, CR/LF inside a cell, a long text,
quotes and commas. The brand's own post is stored too and must never come out; so are an
echo (a retweet: always a row) and a Messenger conversation (the customer's message is a row
only with `include_private`, the brand's answer never).
"""

from __future__ import annotations

import csv
import importlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from carewatch import domain
from storage.db import Database, open_database
from storage.export import COLUMNS
from storage.mentions import upsert_mentions
from storage.migrate import upgrade

BASE = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
LONG = ('He said "no", then, left.\n' * 200)[:5000]
HOSTILE = [
    '=HYPERLINK("http://x","y")',
    "+1",
    "-2",
    "@SUM(A1)",
    "\t=1",
    "\r=cmd|' /C calc'!A0",
    "<img src=x onerror=alert(1)>",
    "RTL \u202egnp.exe reversed",
    "family \U0001F468\u200d\U0001F469\u200d\U0001F467 and \U0001F3F3\ufe0f\u200d\U0001F308",
    "zero\u200bwidth\u200c\u200djoin\ufeffbom\u2060wj",
    "line one\r\nline two\nline three\rline four",
    LONG,
    'quotes "and", commas, \'single\'',
    "_x0041_ literal escape-lookalike and ctrl \x01 char",
    "line sep\u2028para sep\u2029end",
    "trailing spaces and tab\t ",
    "plain question: where is my bag?",
]
PLATFORM_CYCLE = [domain.Platform.X, domain.Platform.FACEBOOK, domain.Platform.INSTAGRAM]
LABELS = [domain.SentimentLabel.NEGATIVE, domain.SentimentLabel.NEUTRAL,
          domain.SentimentLabel.POSITIVE]


def _author(i: int, platform: domain.Platform) -> domain.Author:
    if platform is domain.Platform.FACEBOOK:
        return domain.Author(platform, f"fb{i:04d}", handle=None, name=f"Face Book {i}",
                             followers=None)
    handle = "=evil_handle" if i == 0 else f"user_{i}"
    return domain.Author(platform, f"{platform.value}{i:04d}", handle=handle, name=f"U {i}",
                         followers=1000 + i)


PAGE_ID = "100000000000001"
PRIVATE_TEXT = "PRIVATE-7f3a my booking ref is QX9Z, card ends 4242"
PRIVATE_REF = ("facebook", "m_private-1")
ECHO_REF = ("x", "x-echo-1")


def _private_and_echo() -> list[domain.Mention]:
    """A retweet of the brand (an echo), a customer's Messenger message and the brand's
    answer in the same conversation; none between 11:00Z and 14:00Z, where a test counts."""
    customer = domain.Author(domain.Platform.FACEBOOK, "psid-9001", handle=None,
                             name="Dana Private", followers=None)
    page = domain.Author(domain.Platform.FACEBOOK, PAGE_ID, handle=None, name="Acme Air")
    thread = domain.conversation_key(PAGE_ID, customer.external_id)
    return [
        domain.Mention(
            platform=domain.Platform.X, external_id=ECHO_REF[1],
            text="RT @acmeair: The new lounge is open", created_at=BASE + timedelta(hours=7.5),
            author=domain.Author(domain.Platform.X, "x0777", handle="fan_777", followers=5),
            thread_id="t-echo", url="https://example.test/echo", lang="en", is_echo=True,
            score=domain.Score(0.4, domain.SentimentLabel.POSITIVE, 0.0, ["echo"], "en"),
        ),
        domain.Mention(
            platform=domain.Platform.FACEBOOK, external_id=PRIVATE_REF[1], text=PRIVATE_TEXT,
            created_at=BASE + timedelta(hours=8, minutes=20), author=customer,
            thread_id=thread, lang="en", visibility=domain.Visibility.PRIVATE,
            score=domain.Score(-0.3, domain.SentimentLabel.NEGATIVE, 0.4, ["negative"], "en"),
        ),
        domain.Mention(
            platform=domain.Platform.FACEBOOK, external_id="m_own-1",
            text="Thanks Dana, checking now.", created_at=BASE + timedelta(hours=8, minutes=40),
            author=page, thread_id=thread, lang="en", is_own=True,
            visibility=domain.Visibility.PRIVATE,
            score=domain.Score(0.2, domain.SentimentLabel.POSITIVE, 0.0, [], "en"),
        ),
    ]


def build_mentions() -> list[domain.Mention]:
    """The hostile mentions (one per text) plus two sharing a timestamp, plus one own post,
    plus the echo and the private conversation."""
    out: list[domain.Mention] = []
    for i, text in enumerate(HOSTILE):
        platform = PLATFORM_CYCLE[i % 3]
        created = BASE + timedelta(hours=i)
        if i == 5:
            created = BASE + timedelta(hours=4)  # same instant as #4: id breaks the tie
        out.append(domain.Mention(
            platform=platform, external_id=f"{platform.value}-{1000 + i}", text=text,
            created_at=created, author=_author(i, platform), thread_id=f"t{i % 4}",
            parent_id=None if i % 2 else f"p{i}", url=f"https://example.test/{i}",
            lang="en",
            score=domain.Score(sentiment=-0.512345678 + i * 0.07, sentiment_label=LABELS[i % 3],
                               urgency=min(1.0, 0.123456 * (i % 9)),
                               urgency_reasons=["negative", "question"] if i % 2 else [],
                               lang="en"),
        ))
    out.append(domain.Mention(
        platform=domain.Platform.X, external_id="x-own-1", text="We are sorry! DM us.",
        created_at=BASE + timedelta(hours=2, minutes=30),
        author=domain.Author(domain.Platform.X, "1500000000000000000", handle="acmeair"),
        is_own=True,
        score=domain.Score(0.2, domain.SentimentLabel.POSITIVE, 0.0, [], "en"),
    ))
    return out + _private_and_echo()


MENTIONS = build_mentions()
EXPORTED = [m for m in MENTIONS
            if not m.is_own and m.visibility is domain.Visibility.PUBLIC]
WITH_PRIVATE = [m for m in MENTIONS if not m.is_own]
ASSIGNED_REF = ("x", "x-1000")
FIRST_RESPONSE = datetime(2026, 11, 2, 8, 30, 15, tzinfo=UTC)


def fill(db: Database) -> None:
    """Store the sample through the real upsert, then put one mention into the workflow."""
    from sqlalchemy import update

    from storage.models import AuditEntry, Mention

    with db.write() as session:
        upsert_mentions(session, MENTIONS, source_key="test",
                        brand_author_ids={("x", "1500000000000000000"),
                                          ("facebook", PAGE_ID)})
        session.execute(
            update(Mention)
            .where(Mention.platform == ASSIGNED_REF[0], Mention.external_id == ASSIGNED_REF[1])
            .values(status="replied", assignee="=agent", first_response_at=FIRST_RESPONSE)
        )
        for i, (actor, action, details) in enumerate([
            ("alice", "reply", {"text": "=1+1", "ref": "x:x-1000"}),
            ("=bob", "assign", {"to": "carol", "note": "línea\r\nnueva"}),
            ("carol", "status", {}),
        ]):
            session.add(AuditEntry(at=BASE + timedelta(minutes=i), actor=actor, action=action,
                                   target="x:x-1000", details=details))


def expected_rows(*, since: datetime | None = None, until: datetime | None = None,
                  platform: str | None = None,
                  include_private: bool = False) -> list[dict[str, Any]]:
    """What the export must contain, computed from the sample (not from the store)."""
    rows = []
    for m in WITH_PRIVATE if include_private else EXPORTED:
        if (since and m.created_at < since) or (until and m.created_at >= until):
            continue
        if platform and m.platform.value != platform:
            continue
        assert m.score is not None
        assigned = (m.platform.value, m.external_id) == ASSIGNED_REF
        rows.append({
            "platform": m.platform.value, "external_id": m.external_id,
            "thread_id": m.thread_id, "parent_id": m.parent_id,
            "author_id": m.author.external_id,
            "author_handle": m.author.handle or m.author.name,
            "author_followers": m.author.followers, "text": m.text, "created_at": m.created_at,
            "lang": "en", "url": m.url, "sentiment": round(m.score.sentiment, 4),
            "sentiment_label": m.score.sentiment_label.value,
            "urgency": round(m.score.urgency, 4),
            "urgency_reasons": ";".join(m.score.urgency_reasons),
            "status": "replied" if assigned else "closed" if m.is_echo else "new",
            "assignee": "=agent" if assigned else None,
            "first_response_at": FIRST_RESPONSE if assigned else None,
            "visibility": m.visibility.value, "topic": "",
        })
    rows.sort(key=lambda r: r["created_at"])  # stable: ties keep the sample's order
    return rows


@contextmanager
def filled_store(url: str) -> Iterator[Database]:
    """A migrated store at `url` holding the sample, closed afterwards."""
    db = open_database(url)
    upgrade(db.engine)
    fill(db)
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture(scope="module")
def filled_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """One filled SQLite store per module: exports only read it."""
    path = tmp_path_factory.mktemp("exportdb") / "carewatch.db"
    with filled_store(f"sqlite:///{path}") as db:
        yield db


# ------------------------------------------------------------------ readers


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return header, [dict(zip(header, row, strict=True)) for row in reader]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    assert data.endswith(b"\n") or data == b""
    # Split on LF only: U+2028/2029 inside a text are not line ends in JSON Lines.
    return [json.loads(line) for line in data.decode("utf-8").split("\n")[:-1]]


def read_xlsx(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every sheet's rows, strings un-escaped the way Excel reads them (`_xHHHH_`)."""
    import openpyxl
    from openpyxl.utils.escape import unescape

    book = openpyxl.load_workbook(path, read_only=True)
    out = {}
    for sheet in book.worksheets:
        out[sheet.title] = [tuple(unescape(v) if isinstance(v, str) else v for v in row)
                            for row in sheet.iter_rows(values_only=True)]
    book.close()
    return out


def read_parquet(path: Path) -> Any:
    import pyarrow.parquet as pq

    return pq.read_table(path)


def spreadsheet_safe(value: str | None) -> str | None:
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value


def iso(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> Any:
    """Run `carewatch.cli.main([...])` against a database URL; returns (exit code, stderr).

    Only the command modules that import cleanly are registered, so a colleague's module in
    progress cannot break the export tests (their own tests cover it).
    """
    import carewatch.cli as cli_module

    usable = []
    for name in cli_module.COMMAND_MODULES:
        try:
            importlib.import_module(f"carewatch.cli.{name}")
        except Exception:
            continue
        usable.append(name)
    assert "export" in usable
    monkeypatch.setattr(cli_module, "COMMAND_MODULES", tuple(usable))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CAREWATCH_CONFIG", raising=False)

    def run(args: list[str], url: str) -> tuple[int, str]:
        monkeypatch.setenv("CAREWATCH_DATABASE_URL", url)
        capsys.readouterr()
        code = cli_module.main(args)
        return code, capsys.readouterr().err

    return run


def assert_columns(header: list[str] | tuple[Any, ...]) -> None:
    assert list(header) == list(COLUMNS)
