"""Topics at ingest: each new item gets its best topic and confidence right after scoring.

The model is loaded from the database once (rebuilt there first when `[[topics]]` changed)
and re-read when another process stores a new one (`carewatch topics learn`), checked at
most every `REFRESH_SECONDS`, so a long-running listener picks up a learned model without
a restart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from sqlalchemy.exc import SQLAlchemyError

from carewatch.domain import Mention
from carewatch.log import get_logger
from carewatch.settings import Settings
from carewatch.topics import TopicModel
from storage.db import Database
from storage.topics import current_model_id, ensure_topic_model, load_topic_model

log = get_logger(__name__)
REFRESH_SECONDS = 30.0


class TopicAssigner:
    """Sets `topic` and `topic_confidence` on scored mentions. Thread-safe. The model is
    loaded at the first page, not at construction: an Ingestor is built before anything
    is known about the database (a receiver may start before `init`)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.model: TopicModel | None = None
        self._model_id: int | None = None
        self._loaded = False
        self._checked = float("-inf")
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Load or re-read the model if due. The listener calls it before it opens a
        page's write transaction and then assigns with `refresh=False`: the first load
        writes (`ensure_topic_model`), which on SQLite would wait for that very
        transaction's write lock."""
        with self._lock:
            if time.monotonic() - self._checked < REFRESH_SECONDS:
                return
            self._checked = time.monotonic()
            try:
                if not self._loaded:
                    with self.db.write() as session:
                        self.model = ensure_topic_model(session, self.settings)
                        self._model_id = current_model_id(session)
                    self._loaded = True
                    return
                with self.db.session() as session:
                    model_id = current_model_id(session)
                    if model_id != self._model_id:
                        self.model = load_topic_model(session)
                        self._model_id = model_id
                        log.info("topic_model_reloaded",
                                 topics=len(self.model.labels) if self.model else 0)
            except SQLAlchemyError as exc:  # tried again after REFRESH_SECONDS
                log.warning("topic_model_unavailable", error=type(exc).__name__)

    def assign(self, mentions: Sequence[Mention], *, refresh: bool = True) -> None:
        """Topic the scored, non-own mentions in one batch (the fast path); `refresh`:
        load or re-read the model first if due (see `refresh`)."""
        todo = [m for m in mentions if not m.is_own and m.score is not None]
        if not todo:
            return
        if refresh:
            self.refresh()
        model = self.model
        if model is None:
            return
        guesses = model.predict_many([m.text for m in todo],
                                     [m.score.sentiment_label.value for m in todo if m.score])
        for mention, guess in zip(todo, guesses, strict=True):
            mention.topic = guess.topic
            mention.topic_confidence = guess.confidence if guess.topic else None
