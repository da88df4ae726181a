"""The agents' queue and what opens from it: inbox pages, single rows and the thread view.

Why their shape: every query here must stay fast on a store with millions of mentions.
The inbox walks the `(is_own, status, urgency)` index once per status with a LIMIT and merges
the short lists; a thread is read by its indexed key, bounded by a LIMIT. Nothing loads a
whole table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from carewatch.domain import OPEN_STATUSES, MentionRef, Status
from storage.models import Author, Mention, Reply, Thread

# Languages the scorer understands (listener.scoring.language.SUPPORTED); storage may not
# import the listener, so the list is repeated here.
SUPPORTED_LANGS = ("en", "ko")
LANG_UNSUPPORTED = "lang_unsupported"
UNASSIGNED = "(unassigned)"
COUNT_CAP = 10_000


@dataclass(slots=True)
class InboxFilters:
    """What the agent narrowed the queue to; empty lists mean 'any'."""

    platforms: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=lambda: list(OPEN_STATUSES))
    sentiments: list[str] = field(default_factory=list)
    min_urgency: float = 0.0
    assignee: str | None = None  # a username, UNASSIGNED, or None for anyone
    langs: list[str] = field(default_factory=list)  # codes, or LANG_UNSUPPORTED
    search: str = ""
    limit: int = 200


@dataclass(slots=True)
class InboxRow:
    id: int
    ref: str
    platform: str
    external_id: str
    created_at: datetime
    author_handle: str | None
    author_name: str | None
    followers: int | None
    text: str
    urgency: float | None
    urgency_reasons: list[str]
    sentiment: float | None
    sentiment_label: str | None
    status: str
    assignee: str | None
    lang: str | None
    thread_pk: int | None
    customer_id: int | None
    url: str | None = None


@dataclass(slots=True)
class InboxPage:
    rows: list[InboxRow]
    total: int
    total_capped: bool


def _reasons(value: str | None) -> list[str]:
    return [r for r in (value or "").split(";") if r]


INBOX_COLUMNS = (
    Mention.id, Mention.platform, Mention.external_id, Mention.created_at, Author.handle,
    Author.name, Author.followers, Mention.text, Mention.urgency, Mention.urgency_reasons,
    Mention.sentiment, Mention.sentiment_label, Mention.status, Mention.assignee, Mention.lang,
    Mention.thread_pk, Author.customer_id, Mention.url,
)


def inbox_row(r: Any) -> InboxRow:
    return InboxRow(
        id=r[0], ref=f"{r[1]}:{r[2]}", platform=r[1], external_id=r[2], created_at=r[3],
        author_handle=r[4], author_name=r[5], followers=r[6], text=r[7], urgency=r[8],
        urgency_reasons=_reasons(r[9]), sentiment=r[10], sentiment_label=r[11], status=r[12],
        assignee=r[13], lang=r[14], thread_pk=r[15], customer_id=r[16], url=r[17],
    )


def _extra_conditions(filters: InboxFilters) -> list[Any]:
    conds: list[Any] = []
    if filters.platforms:
        conds.append(Mention.platform.in_(filters.platforms))
    if filters.sentiments:
        conds.append(Mention.sentiment_label.in_(filters.sentiments))
    if filters.min_urgency > 0:
        conds.append(Mention.urgency >= filters.min_urgency)
    if filters.assignee == UNASSIGNED:
        conds.append(Mention.assignee.is_(None))
    elif filters.assignee:
        conds.append(Mention.assignee == filters.assignee)
    if filters.langs:
        codes = [code for code in filters.langs if code != LANG_UNSUPPORTED]
        alternatives: list[Any] = []
        if codes:
            alternatives.append(Mention.lang.in_(codes))
        if LANG_UNSUPPORTED in filters.langs:
            alternatives.append(or_(Mention.lang.is_(None),
                                    Mention.lang.not_in(SUPPORTED_LANGS)))
        conds.append(or_(*alternatives))
    if filters.search.strip():
        conds.append(Mention.text.icontains(filters.search.strip(), autoescape=True))
    return conds


def _statuses(filters: InboxFilters) -> list[str]:
    return list(dict.fromkeys(filters.statuses)) or [s.value for s in Status]


def inbox(session: Session, filters: InboxFilters | None = None) -> InboxPage:
    """The queue: most urgent first, then the longest waiting; at most `limit` rows.

    One indexed walk per status (`is_own = false AND status = ? ORDER BY urgency DESC
    LIMIT n`), merged here, so the cost follows the page size, not the store size."""
    filters = filters or InboxFilters()
    limit = max(1, min(filters.limit, 1000))
    extra = _extra_conditions(filters)
    rows: list[InboxRow] = []
    for status in _statuses(filters):
        base = (
            select(*INBOX_COLUMNS)
            .outerjoin(Author, Author.id == Mention.author_pk)
            .where(Mention.is_own.is_(False), Mention.status == status, *extra)
        )
        scored = session.execute(
            base.where(Mention.urgency.is_not(None))
            .order_by(Mention.urgency.desc(), Mention.created_at.asc())
            .limit(limit)
        ).all()
        rows.extend(inbox_row(r) for r in scored)
        if len(scored) < limit:
            unscored = session.execute(
                base.where(Mention.urgency.is_(None))
                .order_by(Mention.created_at.asc()).limit(limit - len(scored))
            ).all()
            rows.extend(inbox_row(r) for r in unscored)
    rows.sort(key=lambda r: (-(r.urgency if r.urgency is not None else -1.0),
                             r.created_at))
    total, capped = inbox_count(session, filters)
    return InboxPage(rows=rows[:limit], total=total, total_capped=capped)


def inbox_count(session: Session, filters: InboxFilters) -> tuple[int, bool]:
    """How many mentions match, counted up to COUNT_CAP (a text search must not scan
    millions of rows just to print a number)."""
    inner = (
        select(Mention.id)
        .where(Mention.is_own.is_(False), Mention.status.in_(_statuses(filters)),
               *_extra_conditions(filters))
        .limit(COUNT_CAP + 1)
        .subquery()
    )
    count = int(session.execute(select(func.count()).select_from(inner)).scalar_one())
    return min(count, COUNT_CAP), count > COUNT_CAP


def recent_langs(session: Session, sample: int = 2000) -> list[str]:
    """Language codes seen among the newest mentions (bounded; for the filter's options)."""
    inner = select(Mention.lang).order_by(Mention.created_at.desc()).limit(sample).subquery()
    langs = session.execute(select(inner.c.lang).distinct()).scalars()
    return sorted({lang for lang in langs if lang})


def mention_row(session: Session, mention_id: int) -> InboxRow | None:
    r = session.execute(
        select(*INBOX_COLUMNS).outerjoin(Author, Author.id == Mention.author_pk)
        .where(Mention.id == mention_id)
    ).first()
    return inbox_row(r) if r else None


def mentions_by_refs(session: Session, refs: Iterable[str | int]) -> list[InboxRow]:
    """Mentions named by `platform:id` refs or numeric ids (alerts keep either)."""
    ids: list[int] = []
    pairs: list[tuple[str, str]] = []
    for item in list(refs)[:200]:
        text = str(item)
        if text.isdigit():
            ids.append(int(text))
            continue
        try:
            parsed = MentionRef.parse(text)
        except ValueError:
            continue
        pairs.append((parsed.platform.value, parsed.external_id))
    conds: list[Any] = []
    if ids:
        conds.append(Mention.id.in_(ids))
    conds.extend(and_(Mention.platform == p, Mention.external_id == e) for p, e in pairs)
    if not conds:
        return []
    found = session.execute(
        select(*INBOX_COLUMNS).outerjoin(Author, Author.id == Mention.author_pk).where(or_(*conds))
    ).all()
    return sorted((inbox_row(r) for r in found), key=lambda r: r.created_at)


# --- thread ----------------------------------------------------------------------------------


@dataclass(slots=True)
class ThreadItem:
    ref: str
    author: str
    text: str
    created_at: datetime
    is_own: bool
    is_selected: bool = False
    kind: str = "mention"  # mention | reply (a carewatch Reply row)
    state: str | None = None


@dataclass(slots=True)
class ThreadView:
    root_text: str | None
    root_author: str | None
    root_is_own: bool
    root_url: str | None
    items: list[ThreadItem]


def _author_label(handle: str | None, name: str | None, is_own: bool, brand: str) -> str:
    if is_own:
        return f"{brand} (brand)"
    if handle:
        return f"@{handle}"
    return name or "unknown"


def thread(session: Session, mention_id: int, *, brand: str = "Acme Air",
           limit: int = 200) -> ThreadView | None:
    """The conversation a mention belongs to: its root post, the other items in it (the
    brand's own included, as context) and carewatch's own replies queued or sent in it."""
    mention = session.get(Mention, mention_id)
    if mention is None:
        return None
    root: Thread | None = session.get(Thread, mention.thread_pk) if mention.thread_pk else None
    items: list[ThreadItem] = []
    if mention.thread_pk is not None:
        rows = session.execute(
            select(Mention.id, Mention.platform, Mention.external_id, Author.handle,
                   Author.name, Mention.text, Mention.created_at, Mention.is_own)
            .outerjoin(Author, Author.id == Mention.author_pk)
            .where(Mention.thread_pk == mention.thread_pk)
            .order_by(Mention.created_at.asc()).limit(limit)
        ).all()
        mention_ids = [r[0] for r in rows]
    else:
        rows = []
        mention_ids = [mention.id]
    for r in rows:
        if root is not None and r[2] == root.external_id:
            continue  # the root is shown on its own, above the conversation
        items.append(ThreadItem(ref=f"{r[1]}:{r[2]}",
                                author=_author_label(r[3], r[4], bool(r[7]), brand),
                                text=r[5], created_at=r[6], is_own=bool(r[7]),
                                is_selected=r[0] == mention.id))
    if not rows:
        author = session.get(Author, mention.author_pk) if mention.author_pk else None
        items.append(ThreadItem(ref=f"{mention.platform}:{mention.external_id}",
                                author=_author_label(author.handle if author else None,
                                                     author.name if author else None,
                                                     mention.is_own, brand),
                                text=mention.text, created_at=mention.created_at,
                                is_own=mention.is_own, is_selected=True))
    replies = session.execute(
        select(Reply).where(Reply.mention_pk.in_(mention_ids[:500]),
                            Reply.kind != "private")
        .order_by(Reply.queued_at.asc()).limit(limit)
    ).scalars()
    for reply in replies:
        items.append(ThreadItem(ref=reply.platform_id or f"reply#{reply.id}",
                                author=f"{brand} (brand)", text=reply.text,
                                created_at=reply.sent_at or reply.queued_at, is_own=True,
                                kind="reply", state=reply.state))
    items.sort(key=lambda i: i.created_at)
    return ThreadView(
        root_text=root.root_text if root else None,
        root_author=(f"{brand} (brand)" if root and root.root_is_own
                     else (root.root_author if root else None)),
        root_is_own=bool(root and root.root_is_own),
        root_url=root.root_url if root else None,
        items=items,
    )
