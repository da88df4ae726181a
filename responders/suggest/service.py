"""Suggestions for one stored item: gather the candidates (canned replies, knowledge
articles, the team's sent replies to similar items), rank them together, keep the best.

Reads only; never queues. The item's topics are the stored topic model's ranked
probabilities for its text (the agent's correction, stored on the item, counts as certain),
or, without a model, the item's stored topic alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.orm import Session

from carewatch.domain import MentionRef
from carewatch.settings import Settings
from responders.placeholders import fill, placeholder_values
from responders.queue import reply_kind
from responders.rules import RuleViolation, check_mention, parse_ref
from responders.suggest.knowledge import load_articles
from responders.suggest.rank import (
    Canned,
    Item,
    PastReply,
    Suggestion,
    best,
    rank_canned,
    rank_knowledge,
    rank_past,
)
from storage.canned import canned_replies
from storage.db import Database
from storage.mentions import mention_by_ref
from storage.models import Mention
from storage.past_replies import SentReply, recent_sent_replies

#: How many of the newest sent replies similar items are looked for in.
PAST_LIMIT = 2000


class TopicPredictor(Protocol):
    """What suggestions need of a topic model (`carewatch.topics.TopicModel`)."""

    def predict(self, text: str, sentiment: str | None = None) -> Any: ...


ModelLoader = Callable[[Session], TopicPredictor | None]


def stored_model(session: Session) -> TopicPredictor | None:
    """The topic model kept in the database (None when topics were never configured or
    learned)."""
    from storage.topics import load_topic_model

    return load_topic_model(session)


@dataclass(frozen=True, slots=True)
class Suggestions:
    """The best replies for one item, with what they were chosen for."""

    ref: str
    kind: str
    topics: tuple[tuple[str, float], ...]
    items: list[Suggestion]


def item_topics(mention: Mention, model: TopicPredictor | None
                ) -> tuple[tuple[str, float], ...]:
    """(topic, probability) best first: the model's ranking of the item's text, with the
    item's stored topic at no less than its stored confidence (a correction: 1.0)."""
    ranked: dict[str, float] = {}
    if model is not None:
        guess = model.predict(mention.text, mention.sentiment_label)
        ranked = {str(t): float(p) for t, p in guess.ranked}
    if mention.topic:
        stored = 1.0 if mention.topic_confidence is None else mention.topic_confidence
        ranked[mention.topic] = max(ranked.get(mention.topic, 0.0), stored)
    return tuple(sorted(ranked.items(), key=lambda kv: -kv[1]))


def _canned(session: Session, settings: Settings, mention: Mention, agent: str
            ) -> list[Canned]:
    """Stored canned replies, plus configured ones not stored yet, filled for the item
    (a reply whose template is broken is left out). A stored reply without topics or
    language takes them from the configured reply of the same name: seeding never changes
    a stored reply, so topics added to `carewatch.toml` later still count."""
    configured = {c.name: c for c in settings.canned_replies}
    rows: list[tuple[str, str, tuple[str, ...], str]] = []
    for row in canned_replies(session):
        config = configured.pop(row.name, None)
        rows.append((row.name, row.text,
                     tuple(row.topics or (config.topics if config else ())),
                     row.lang or (config.lang if config else "")))
    rows += [(c.name, c.text, tuple(c.topics), c.lang) for c in configured.values()]
    out: list[Canned] = []
    for name, template, topics, lang in rows:
        try:
            text = fill(template, mention, agent)
        except RuleViolation:
            continue
        out.append(Canned(name, template, text, topics, lang))
    return out


def _swap(text: str, old: str | None, new: str) -> str:
    if not old or len(old) < 2 or old == new:
        return text
    return re.sub(rf"(?<![\w@]){re.escape(old)}(?!\w)", lambda _: new, text)


def adapt(reply: SentReply, values: dict[str, str]) -> str:
    """A past reply written for someone else, addressed to this item's author: their
    handle and first name replaced by the new author's."""
    text = reply.text
    if reply.author_handle:
        text = re.sub(rf"@{re.escape(reply.author_handle)}(?!\w)", lambda _: values["handle"],
                      text, flags=re.IGNORECASE)
    old_first = (reply.author_name or "").split()[:1]
    return _swap(text, old_first[0] if old_first else None, values["first_name"])


def _past(session: Session, mention: Mention, agent: str, limit: int) -> list[PastReply]:
    values = placeholder_values(mention, agent)
    return [PastReply(f"{r.platform}:{r.external_id}", r.item_text, adapt(r, values), r.topic,
                      r.agent)
            for r in recent_sent_replies(session, limit=limit, exclude_mention_pk=mention.id)]


def suggest(db: Database, settings: Settings, ref: MentionRef | str, *, agent: str,
            knowledge_dir: Path, model: ModelLoader | None = None, n: int = 3,
            past_limit: int = PAST_LIMIT) -> Suggestions:
    """The `n` best replies for the item `ref`, best first. RuleViolation (one line) for an
    unknown or malformed ref or the brand's own post; KnowledgeError for `[knowledge]
    paths` that match nothing or an article that cannot be read. `model` loads the topic
    model (default: the stored one)."""
    parsed = parse_ref(ref)
    articles = load_articles(settings.knowledge.paths, knowledge_dir)
    with db.session() as session:
        mention = check_mention(mention_by_ref(session, parsed, with_author=True), parsed)
        topics = item_topics(mention, (model or stored_model)(session))
        item = Item(mention.text, mention.platform, reply_kind(mention), mention.lang, topics,
                    mention.sentiment_label,
                    "complaint" in (mention.urgency_reasons or "").split(";"))
        canned = _canned(session, settings, mention, agent)
        past = _past(session, mention, agent, past_limit)
    candidates: Sequence[Suggestion] = [
        *rank_canned(item, canned), *rank_knowledge(item, articles),
        *rank_past(item, past, agent=agent)]
    return Suggestions(str(parsed), item.kind, topics, best(candidates, n))
