"""`carewatch score`: batch scoring of any CSV with a text column."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from carewatch.cli import app
from carewatch.cli.common import AppContext, UsageError, app_context, check_out_path
from carewatch.config_source import DEFAULT_DATABASE_URL, DEFAULT_FIRST_RESPONSE_MINUTES

if TYPE_CHECKING:
    from carewatch.topics import TopicModel


def stored_topic_model(context: AppContext) -> TopicModel | None:
    """The topic model the listener would use, read without writing: the stored one, or
    one built from `[[topics]]` (and the stored examples) when none is stored yet or the
    configuration changed since. None when topics were never configured nor learned: then
    the topic columns stay empty. A SQLite file that does not exist is not created just
    to look."""
    defaults = context.defaults_only()
    database_url = DEFAULT_DATABASE_URL if defaults else context.settings.database_url
    db = None
    if not _absent_sqlite_file(database_url):
        try:
            db = context.database()  # refuses a SQLite file that does not exist
        except UsageError:
            db = None
    if defaults and db is None:
        return None
    from storage.topics import load_topic_model, topic_model_for_reading

    if db is None:
        return topic_model_for_reading(None, context.settings)
    with db.session() as session:
        if defaults:
            return load_topic_model(session)
        return topic_model_for_reading(session, context.settings)


_SQLITE_FILE_RE = re.compile(r"sqlite(?:\+\w+)?:///([^?%]+)(?:\?.*)?")


def _absent_sqlite_file(database_url: str) -> bool:
    """Whether the URL names a SQLite file that does not exist, told without SQLAlchemy:
    importing it costs ~0.15 s, half of `carewatch score`'s start-up, and with no database
    file there is no topic model to load. Anything else ("sqlite://", ":memory:", other
    backends, a %-escaped name, a file that exists) returns False and goes through
    `make_url`."""
    match = _SQLITE_FILE_RE.fullmatch(database_url)
    if match is None or match.group(1) == ":memory:":
        return False
    return not Path(match.group(1)).exists()


@app.command("score")
def score_command(
    ctx: typer.Context,
    in_path: Path = typer.Option(..., "--in", help="Input CSV (UTF-8) with a text column."),
    out_path: Path = typer.Option(..., "--out", help="Output CSV: every input column plus "
                                  "sentiment, sentiment_label, urgency, urgency_reasons, lang, "
                                  "topic, topic_confidence."),
    text_column: str = typer.Option("text", "--text-column", help="Column holding the text."),
    workers: int | None = typer.Option(None, "--workers", min=1,
                                       help="Processes to use (default: all cores)."),
) -> None:
    """Score every row of a CSV for sentiment, urgency, language and topic, streamed in
    chunks."""
    from listener.scoring.batch import ScoringInputError, score_csv

    check_out_path(out_path)  # before any work: scoring never runs into an unwritable OUT
    context = app_context(ctx)
    if context.defaults_only():
        # Nothing configured: the defaults are the settings, without importing pydantic
        # (~0.2 s, two thirds of the start-up, spent before the workers start). `Scorer`
        # builds the default urgency rules from None.
        urgency, first_response = None, DEFAULT_FIRST_RESPONSE_MINUTES
    else:
        settings = context.settings
        urgency = settings.urgency
        first_response = settings.alerts.first_response_minutes
    try:
        rows = score_csv(in_path, out_path, text_column=text_column, workers=workers,
                         progress=sys.stderr.isatty(), urgency=urgency,
                         first_response_minutes=first_response,
                         topic_model=stored_topic_model(context))
    except ScoringInputError as exc:
        raise UsageError(str(exc)) from None
    print(f"scored {rows:,} rows into {out_path}", file=sys.stderr)
