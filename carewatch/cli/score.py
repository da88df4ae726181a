"""`carewatch score`: batch scoring of any CSV with a text column."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from carewatch.cli import app
from carewatch.cli.common import UsageError, app_context, check_out_path


@app.command("score")
def score_command(
    ctx: typer.Context,
    in_path: Path = typer.Option(..., "--in", help="Input CSV (UTF-8) with a text column."),
    out_path: Path = typer.Option(..., "--out", help="Output CSV: every input column plus "
                                  "sentiment, sentiment_label, urgency, urgency_reasons, lang."),
    text_column: str = typer.Option("text", "--text-column", help="Column holding the text."),
    workers: int | None = typer.Option(None, "--workers", min=1,
                                       help="Processes to use (default: all cores)."),
) -> None:
    """Score every row of a CSV for sentiment, urgency and language, streamed in chunks."""
    from listener.scoring.batch import ScoringInputError, score_csv

    check_out_path(out_path)  # before any work: scoring never runs into an unwritable OUT
    settings = app_context(ctx).settings
    try:
        rows = score_csv(in_path, out_path, text_column=text_column, workers=workers,
                         progress=sys.stderr.isatty(), urgency=settings.urgency,
                         first_response_minutes=settings.alerts.first_response_minutes)
    except ScoringInputError as exc:
        raise UsageError(str(exc)) from None
    print(f"scored {rows:,} rows into {out_path}", file=sys.stderr)
