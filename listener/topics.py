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

from carewatch.domain import Mention
from carewatch.log import get_logger
from carewatch.settings import Settings
from carewatch.topics import TopicModel
from storage.db import Database
from storage.topics import current_model_id, ensure_topic_model, load_topic_model

log = get_logger(__name__)
REFRESH_SECONDS = 30.0


class TopicAssigner:
    """Sets `topic` and `topic_confidence` on scored mentions. Thread-safe."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        with db.write() as session:
            self.model: TopicModel | None = ensure_topic_model(session, settings)
            self._model_id = current_model_id(session)
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        with self._lock:
            if time.monotonic() - self._checked < REFRESH_SECONDS:
                return
            self._checked = time.monotonic()
            with self.db.session() as session:
                model_id = current_model_id(session)
                if model_id != self._model_id:
                    self.model = load_topic_model(session)
                    self._model_id = model_id
                    log.info("topic_model_reloaded", topics=len(self.model.labels)
                             if self.model else 0)

    def assign(self, mentions: Sequence[Mention]) -> None:
        """Topic the scored, non-own mentions in one batch (the fast path)."""
        self._refresh()
        model = self.model
        todo = [m for m in mentions if not m.is_own and m.score is not None]
        if model is None or not todo:
            return
        guesses = model.predict_many([m.text for m in todo],
                                     [m.score.sentiment_label.value for m in todo if m.score])
        for mention, guess in zip(todo, guesses, strict=True):
            mention.topic = guess.topic
            mention.topic_confidence = guess.confidence if guess.topic else None
