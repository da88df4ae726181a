"""Topics in the database: the current model (plain JSON), the examples it was learned
from, agents' corrections, the per-hour per-topic counts behind the Trends series, and
re-topicking open items when the model changes.

The hourly counts are kept exact by moving single items between (hour, topic) cells: at
ingest, on a correction and on a re-topic, so the Trends series reads a small table and
never scans mentions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from carewatch.domain import OPEN_STATUSES
from carewatch.settings import Settings
from carewatch.topics import TopicModel, config_digest, train
from storage.bulk import insert_rows, utc_hour
from storage.models import AuditEntry, HourlyTopicStat, Mention, TopicCorrection, TopicModelRow
from storage.statements import dialect_insert

NEGATIVE = "negative"
RETOPIC_BATCH = 2000
Cell = tuple[datetime, str]


# ------------------------------------------------------------------------- the model
def _current_row(session: Session) -> TopicModelRow | None:
    return session.execute(
        select(TopicModelRow).order_by(TopicModelRow.id.desc()).limit(1)).scalar_one_or_none()


def load_topic_model(session: Session) -> TopicModel | None:
    """The stored model, or None when topics were never configured nor learned."""
    row = _current_row(session)
    return None if row is None else TopicModel.from_json(row.model)


def stored_examples(session: Session) -> list[tuple[str, str]]:
    """The labelled examples of the last `topics learn` (empty when topics are configured
    only)."""
    row = _current_row(session)
    return [] if row is None else [(str(t), str(lab)) for t, lab in row.examples]


def save_topic_model(session: Session, model: TopicModel, *, actor: str,
                     examples: Sequence[tuple[str, str]] | None = None) -> None:
    """Store `model` as the current one (replacing the previous), audited. `examples`: the
    labelled examples it was learned from; None keeps the stored ones."""
    kept = stored_examples(session) if examples is None else list(examples)
    session.execute(delete(TopicModelRow))
    session.add(TopicModelRow(created_by=actor, labels=list(model.labels),
                              model=model.to_json(), examples=[list(e) for e in kept]))
    session.add(AuditEntry(actor=actor, action="topic_model_saved", target=None,
                           details={"topics": list(model.labels), "examples": len(kept)}))
    session.flush()


def topic_names(session: Session, settings: Settings) -> list[str]:
    """The topics that exist now: the configured `[[topics]]` and the stored model's labels
    (one small column read; a model not yet rebuilt after a `[[topics]]` removal still
    counts that topic until it is)."""
    row = session.execute(select(TopicModelRow.labels).order_by(TopicModelRow.id.desc())
                          .limit(1)).scalar_one_or_none()
    return sorted({t.name for t in settings.topics} | {str(x) for x in row or []})


def brand_words(settings: Settings) -> list[str]:
    """The brand's own names, masked so the model learns problems rather than brands."""
    return [settings.brand.name, *settings.brand.handles]


def build_topic_model(session: Session, settings: Settings,
                      examples: Sequence[tuple[str, str]] | None = None, *,
                      on_progress: Callable[[int, int], None] | None = None
                      ) -> TopicModel | None:
    """Train from `examples` (default: the stored ones), the agents' corrections and the
    configured topics; None when there is no topic at all."""
    learned = stored_examples(session) if examples is None else list(examples)
    rows = [*learned, *corrections_as_examples(session)]
    if not settings.topics and not any(label for _, label in rows):
        return None
    return train(rows, settings.topics, mask_words=brand_words(settings),
                 on_progress=on_progress)


def _is_current(model: TopicModel | None, settings: Settings) -> bool:
    return model is not None and model.source == config_digest(settings.topics,
                                                               brand_words(settings))


def topic_model_for_reading(session: Session | None, settings: Settings
                            ) -> TopicModel | None:
    """The model `ensure_topic_model` would use, without writing anything (for `score`,
    which may run before any listener stored a model, or after `[[topics]]` changed): the
    stored one when current, else one built in memory; `session` None: no database yet."""
    model = None if session is None else load_topic_model(session)
    if _is_current(model, settings) or (model is None and not settings.topics):
        return model
    if session is None:
        return train([], settings.topics, mask_words=brand_words(settings))
    return build_topic_model(session, settings)


def ensure_topic_model(session: Session, settings: Settings, *, actor: str = "system"
                       ) -> TopicModel | None:
    """The model to use now: the stored one when it was built with the current `[[topics]]`
    and brand, else a rebuild (stored and re-applied to open items)."""
    model = load_topic_model(session)
    if _is_current(model, settings):
        return model
    if model is None and not settings.topics:
        return None
    rebuilt = build_topic_model(session, settings)
    if rebuilt is None:
        session.execute(delete(TopicModelRow))
        return None
    save_topic_model(session, rebuilt, actor=actor)
    retopic_open(session, rebuilt)
    return rebuilt


# ---------------------------------------------------------------------- corrections
def corrections_as_examples(session: Session) -> list[tuple[str, str]]:
    """Each corrected item's text with the topic the agent chose ("" = no topic)."""
    stmt = (select(Mention.text, TopicCorrection.topic)
            .join(Mention, Mention.id == TopicCorrection.mention_id)
            .order_by(TopicCorrection.mention_id))
    return [(text or "", topic) for text, topic in session.execute(stmt).all()]


def correct_topic(session: Session, mention_id: int, topic: str | None, *, actor: str) -> None:
    """An agent sets an item's topic (None: no topic). Stored as the item's topic with
    confidence 1, kept as a training example, audited, and counted in the hourly series."""
    mention = session.get(Mention, mention_id)
    if mention is None:
        raise ValueError(f"no mention with id {mention_id}")
    new = (topic or "").strip() or None
    previous = mention.topic
    stmt = dialect_insert(session, TopicCorrection).values(
        mention_id=mention_id, topic=new or "", previous=previous, actor=actor,
        at=datetime.now(UTC))
    session.execute(stmt.on_conflict_do_update(
        index_elements=["mention_id"],
        set_={"topic": new or "", "actor": actor, "at": datetime.now(UTC)}))
    if new != previous and not mention.is_own:
        cells: dict[Cell, list[int]] = {}
        negative = mention.sentiment_label == NEGATIVE
        _move(cells, mention.created_at, previous, -1, negative)
        _move(cells, mention.created_at, new, +1, negative)
        _apply(session, cells)
    mention.topic, mention.topic_confidence = new, (1.0 if new else None)
    session.add(AuditEntry(actor=actor, action="topic_corrected",
                           target=f"{mention.platform}:{mention.external_id}",
                           details={"from": previous, "to": new}))
    session.flush()


# --------------------------------------------------------------- hourly topic counts
def _move(cells: dict[Cell, list[int]], created_at: datetime, topic: str | None, sign: int,
          negative: bool) -> None:
    if not topic:
        return
    acc = cells.setdefault((utc_hour(created_at), topic), [0, 0])
    acc[0] += sign
    acc[1] += sign * negative


def _apply(session: Session, cells: dict[Cell, list[int]]) -> None:
    """Add the cells' changes to the hourly topic counts: one statement, cells in key
    order (two writers then lock shared rows in the same order)."""
    insert_rows(
        session, HourlyTopicStat.__table__,
        [{"bucket": bucket, "topic": topic, "count": count, "negative_count": negative}
         for (bucket, topic), (count, negative) in sorted(cells.items())
         if count != 0 or negative != 0],
        conflict=("bucket", "topic"),
        on_conflict="DO UPDATE SET count = hourly_topic_stats.count + excluded.count, "
        "negative_count = hourly_topic_stats.negative_count + excluded.negative_count")


def add_topics_to_hourly(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    """Count newly stored items (mention row dicts) in their hour's topic cell."""
    cells: dict[Cell, list[int]] = {}
    for row in rows:
        if not row["is_own"]:
            _move(cells, row["created_at"], row.get("topic"), +1,
                  row["sentiment_label"] == NEGATIVE)
    _apply(session, cells)


def topic_series(session: Session, since: datetime, until: datetime,
                 topics: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Per hour and topic: volume and negative count (pre-aggregated)."""
    stmt = (select(HourlyTopicStat.bucket, HourlyTopicStat.topic, HourlyTopicStat.count,
                   HourlyTopicStat.negative_count)
            .where(HourlyTopicStat.bucket >= since, HourlyTopicStat.bucket < until,
                   HourlyTopicStat.count > 0)
            .order_by(HourlyTopicStat.bucket, HourlyTopicStat.topic))
    if topics:
        stmt = stmt.where(HourlyTopicStat.topic.in_(list(topics)))
    return [{"bucket": b, "topic": t, "count": int(c), "negative": int(n)}
            for b, t, c, n in session.execute(stmt).all()]


# ------------------------------------------------------------------------ re-topic
def retopic_open(session: Session, model: TopicModel | None) -> int:
    """Give every open item (not the brand's own, not corrected by an agent) the topic
    `model` predicts now; returns how many changed. Closed items keep the topic they were
    handled under: their history stays as it was."""
    corrected = select(TopicCorrection.mention_id)
    changed, after = 0, 0
    while True:
        rows = session.execute(
            select(Mention.id, Mention.text, Mention.sentiment_label, Mention.topic,
                   Mention.topic_confidence, Mention.created_at)
            .where(Mention.status.in_(OPEN_STATUSES), Mention.is_own.is_(False),
                   Mention.id > after, Mention.id.not_in(corrected))
            .order_by(Mention.id).limit(RETOPIC_BATCH)).all()
        if not rows:
            return changed
        after = rows[-1].id
        guesses = (model.predict_many([r.text or "" for r in rows],
                                      [r.sentiment_label for r in rows])
                   if model is not None else [None] * len(rows))
        cells: dict[Cell, list[int]] = {}
        updates = []
        for row, guess in zip(rows, guesses, strict=True):
            topic = guess.topic if guess is not None else None
            confidence = guess.confidence if guess is not None and topic else None
            if topic == row.topic and confidence == row.topic_confidence:
                continue
            updates.append({"b_id": row.id, "b_topic": topic, "b_conf": confidence})
            if topic != row.topic:
                negative = row.sentiment_label == NEGATIVE
                _move(cells, row.created_at, row.topic, -1, negative)
                _move(cells, row.created_at, topic, +1, negative)
                changed += 1
        if updates:
            table = Mention.__table__
            session.execute(update(table).where(table.c.id == bindparam("b_id"))
                            .values(topic=bindparam("b_topic"),
                                    topic_confidence=bindparam("b_conf")), updates)
        _apply(session, cells)


def topic_labels(session: Session) -> list[str]:
    """The topics an agent can pick or filter by: the model's, then any still on items."""
    model_row = _current_row(session)
    labels = list(model_row.labels) if model_row is not None else []
    seen = set(labels)
    extra = session.execute(select(func.distinct(HourlyTopicStat.topic))).scalars()
    return labels + sorted(t for t in extra if t not in seen)


def current_model_id(session: Session) -> int | None:
    """The stored model's row id: changes whenever a new model is saved."""
    return session.execute(select(func.max(TopicModelRow.id))).scalar_one_or_none()
