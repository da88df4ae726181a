"""`carewatch topics learn|rebuild`: topics learned from labelled examples, kept in the
database for the listener, `score` and the dashboard.

`learn` reads a CSV (every distinct non-empty label is a topic; rows with an empty label
teach "no topic"), trains together with the configured `[[topics]]` and the agents'
corrections, stores the model and its examples, and re-topics the open items. The input is
checked before the database is touched, so a bad file or column exits 2 and changes nothing.
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from carewatch.cli import app
from carewatch.cli.common import UsageError, app_context
from carewatch.topics.evidence import EVIDENCE_BELOW
from carewatch.topics.learn import MAX_PER_LABEL, capped_count
from listener.scoring.batch import ScoringInputError, _check_input, _input_error
from storage.topics import build_topic_model, retopic_open, save_topic_model

topics_app = typer.Typer(help="Topics: learn them from labelled examples, or rebuild.",
                         no_args_is_help=True)
app.add_typer(topics_app, name="topics")
ACTOR = "cli"
#: Fewer examples than this hardly describe a topic, and a label used once or twice is
#: often a misspelt other label: said on stderr, with the labels named. Still learned (each
#: distinct non-empty label is a topic, CONTRACT.md), and named only on evidence
#: (`carewatch.topics.evidence`), so a stray label cannot file ordinary text under it.
FEW_PER_LABEL = 3


def read_examples(path: Path, label_column: str, text_column: str) -> list[tuple[str, str]]:
    """(text, label) of every row with a text; UsageError (one line) on a bad file, a
    missing column or a file without any label."""
    try:
        _check_input(path, text_column)
    except ScoringInputError as exc:
        raise UsageError(str(exc)) from None
    csv.field_size_limit(1 << 24)
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh, strict=True)
            if label_column not in (reader.fieldnames or []):
                shown = ", ".join(repr(c) for c in (reader.fieldnames or [])[:20])
                raise UsageError(f"{path}: no column {label_column!r}; the columns are "
                                 f"{shown} (choose one with --label-column)")
            rows = [((row.get(text_column) or ""), (row.get(label_column) or "").strip())
                    for row in reader]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(str(_input_error(exc, path))) from None
    examples = [(text, label) for text, label in rows if text.strip()]
    if not any(label for _, label in examples):
        raise UsageError(f"{path}: the column {label_column!r} has no labels (each distinct "
                         "non-empty label is a topic)")
    counts = Counter(label for _, label in examples if label)
    few = sorted(label for label, n in counts.items() if n < FEW_PER_LABEL)
    if few:  # often a stray spelling of another label
        shown = ", ".join(f"{label!r} ({counts[label]})" for label in few[:10])
        print(f"warning: {path}: fewer than {FEW_PER_LABEL} examples for {shown}: learned, "
              "but a misspelt label makes a topic of its own (fix the label, or add "
              "examples)", file=sys.stderr)
    return examples


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on a terminal's stderr, or nothing."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _train_and_store(ctx: typer.Context, examples: list[tuple[str, str]] | None) -> None:
    context = app_context(ctx)
    settings = context.settings
    db = context.database()
    with db.session() as session, _progress("learning topics") as on_progress:
        model = build_topic_model(session, settings, examples, on_progress=on_progress)
    if model is None:
        raise UsageError("no topics: learn some (carewatch topics learn) or configure "
                         "[[topics]] in carewatch.toml")
    with db.write() as session:
        save_topic_model(session, model, actor=ACTOR, examples=examples)
        changed = retopic_open(session, model)
    names = ", ".join(model.labels)
    print(f"{len(model.labels)} topics: {names}", file=sys.stderr)
    if model.evidence:
        print(f"learned from fewer than {EVIDENCE_BELOW} examples: "
              f"{', '.join(sorted(model.evidence))}; an item gets one of these only when it "
              "shares words that only that topic's examples use (or one of its keywords): "
              "more examples let the model generalise", file=sys.stderr)
    print(f"re-topicked {changed:,} open item(s)", file=sys.stderr)
    known = {label.casefold() for label in model.labels}
    for rule in settings.rules:  # said now, when the user can still fix it
        for topic in rule.when.topics or []:
            if topic.casefold() not in known:
                print(f"warning: rule {rule.name!r} names topic {topic!r}, which is not a "
                      "topic now: the rule matches nothing on it", file=sys.stderr)


@topics_app.command("learn")
def learn_command(
    ctx: typer.Context,
    in_path: Path = typer.Option(..., "--in", help="CSV (UTF-8) of labelled examples."),
    label_column: str = typer.Option(..., "--label-column",
                                     help="Column holding each row's topic (empty: none)."),
    text_column: str = typer.Option("text", "--text-column", help="Column holding the text."),
) -> None:
    """Learn topics from labelled examples (each distinct non-empty label is a topic),
    with the configured [[topics]] and the agents' corrections; re-topics open items."""
    examples = read_examples(in_path, label_column, text_column)
    print(f"read {len(examples):,} examples from {in_path}", file=sys.stderr)
    kept = capped_count(examples)  # `train` chooses them
    if kept < len(examples):
        print(f"learning from {kept:,} of them (at most {MAX_PER_LABEL:,} per topic; the "
              "same ones whatever the order)", file=sys.stderr)
    _train_and_store(ctx, examples)


@topics_app.command("rebuild")
def rebuild_command(ctx: typer.Context) -> None:
    """Rebuild the model from the stored examples, the configured [[topics]] and the
    agents' corrections; re-topics open items."""
    _train_and_store(ctx, None)
