"""Named read queries behind the dashboard: inbox, thread, customer, trends, SLA, health.

Why their shape: every query here must stay fast on a store with millions of mentions.
The inbox walks the `(is_own, status, urgency)` index once per status with a LIMIT and merges
the short lists; trends read the `HourlyStat` pre-aggregates; everything that has to touch
mention texts (top terms, response times, customer history) is bounded by a LIMIT on an
indexed order. Nothing loads a whole table.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, delete, func, or_, select
from sqlalchemy.orm import Session

from carewatch.domain import MentionRef, Status
from storage.models import (
    Alert,
    AuditEntry,
    Author,
    CannedReply,
    Customer,
    HourlyStat,
    KeyValue,
    Mention,
    Reply,
    Source,
    Thread,
    User,
    utcnow,
)

# Languages the scorer understands (listener.scoring.language.SUPPORTED); storage may not
# import the listener, so the list is repeated here.
SUPPORTED_LANGS = ("en", "ko")
LANG_UNSUPPORTED = "lang_unsupported"
UNASSIGNED = "(unassigned)"
OPEN_STATUSES = (Status.NEW.value, Status.ASSIGNED.value)
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


_ROW_COLUMNS = (
    Mention.id, Mention.platform, Mention.external_id, Mention.created_at, Author.handle,
    Author.name, Author.followers, Mention.text, Mention.urgency, Mention.urgency_reasons,
    Mention.sentiment, Mention.sentiment_label, Mention.status, Mention.assignee, Mention.lang,
    Mention.thread_pk, Author.customer_id, Mention.url,
)


def _row(r: Any) -> InboxRow:
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
        base: Select[Any] = (
            select(*_ROW_COLUMNS)
            .outerjoin(Author, Author.id == Mention.author_pk)
            .where(Mention.is_own.is_(False), Mention.status == status, *extra)
        )
        scored = session.execute(
            base.where(Mention.urgency.is_not(None))
            .order_by(Mention.urgency.desc(), Mention.created_at.asc())
            .limit(limit)
        ).all()
        rows.extend(_row(r) for r in scored)
        if len(scored) < limit:
            unscored = session.execute(
                base.where(Mention.urgency.is_(None))
                .order_by(Mention.created_at.asc()).limit(limit - len(scored))
            ).all()
            rows.extend(_row(r) for r in unscored)
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


def assignees(session: Session) -> list[str]:
    """Who can be assigned: agents and managers."""
    return list(session.execute(
        select(User.username).where(User.role.in_(("agent", "manager"))).order_by(User.username)
    ).scalars())


def mention_by_ref(session: Session, ref: str | MentionRef) -> Mention | None:
    """`storage.repository.mention_by_ref`, also taking the `platform:id` text form."""
    from storage.repository import mention_by_ref as by_ref

    return by_ref(session, ref if isinstance(ref, MentionRef) else MentionRef.parse(ref))


def mention_row(session: Session, mention_id: int) -> InboxRow | None:
    r = session.execute(
        select(*_ROW_COLUMNS).outerjoin(Author, Author.id == Mention.author_pk)
        .where(Mention.id == mention_id)
    ).first()
    return _row(r) if r else None


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
        select(*_ROW_COLUMNS).outerjoin(Author, Author.id == Mention.author_pk).where(or_(*conds))
    ).all()
    return sorted((_row(r) for r in found), key=lambda r: r.created_at)


# --- thread and customer -------------------------------------------------------------------


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


@dataclass(slots=True)
class CustomerView:
    customer_id: int
    display_name: str | None
    notes: str
    tags: list[str]
    last_agent: str | None
    accounts: list[tuple[str, str]]  # (platform, handle or name)
    mentions: list[InboxRow]
    replies: list[dict[str, Any]]


def customer_history(session: Session, customer_id: int, *, limit: int = 50) -> (
        CustomerView | None):
    """One person on every platform: their accounts, newest mentions, and the replies the
    team sent or queued to them. Bounded by `limit` on the (author_pk, created_at) index."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        return None
    authors = session.execute(
        select(Author.id, Author.platform, Author.handle, Author.name)
        .where(Author.customer_id == customer_id).limit(50)
    ).all()
    author_ids = [a[0] for a in authors]
    mentions: list[InboxRow] = []
    if author_ids:
        found = session.execute(
            select(*_ROW_COLUMNS).outerjoin(Author, Author.id == Mention.author_pk)
            .where(Mention.author_pk.in_(author_ids), Mention.is_own.is_(False))
            .order_by(Mention.created_at.desc()).limit(limit)
        ).all()
        mentions = [_row(r) for r in found]
    replies: list[dict[str, Any]] = []
    ids = [m.id for m in mentions]
    if ids:
        for reply, platform, external_id in session.execute(
            select(Reply, Mention.platform, Mention.external_id)
            .join(Mention, Mention.id == Reply.mention_pk)
            .where(Reply.mention_pk.in_(ids)).order_by(Reply.queued_at.desc()).limit(limit)
        ).all():
            replies.append({"to": f"{platform}:{external_id}", "kind": reply.kind,
                            "state": reply.state, "agent": reply.agent, "text": reply.text,
                            "at": reply.sent_at or reply.queued_at})
    return CustomerView(
        customer_id=customer.id, display_name=customer.display_name, notes=customer.notes or "",
        tags=list(customer.tags or []), last_agent=customer.last_agent,
        accounts=[(a[1], f"@{a[2]}" if a[2] else (a[3] or "?")) for a in authors],
        mentions=mentions, replies=replies,
    )


def save_customer(session: Session, customer_id: int, *, notes: str, tags: Sequence[str],
                  actor: str) -> None:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise ValueError(f"customer {customer_id} does not exist")
    customer.notes = notes
    customer.tags = sorted({t.strip() for t in tags if t.strip()})
    session.add(AuditEntry(actor=actor, action="customer_notes", target=f"customer:{customer_id}",
                           details={"tags": customer.tags}))


# --- trends (HourlyStat) -------------------------------------------------------------------


def hourly_volume(session: Session, since: datetime, until: datetime,
                  platforms: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Per hour, platform and sentiment label: counts and sentiment sums (pre-aggregated)."""
    stmt = (
        select(HourlyStat.bucket, HourlyStat.platform, HourlyStat.sentiment_label,
               func.sum(HourlyStat.count), func.sum(HourlyStat.sentiment_sum))
        .where(HourlyStat.bucket >= since, HourlyStat.bucket < until)
        .group_by(HourlyStat.bucket, HourlyStat.platform, HourlyStat.sentiment_label)
        .order_by(HourlyStat.bucket)
    )
    if platforms:
        stmt = stmt.where(HourlyStat.platform.in_(list(platforms)))
    return [{"bucket": r[0], "platform": r[1], "sentiment_label": r[2], "count": int(r[3] or 0),
             "sentiment_sum": float(r[4] or 0.0)} for r in session.execute(stmt).all()]


def source_volume(session: Session, since: datetime, until: datetime,
                  platforms: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Totals per source over the range: count, negative count, mean sentiment."""
    negative = func.sum(HourlyStat.count).filter(HourlyStat.sentiment_label == "negative")
    stmt = (
        select(HourlyStat.source_key, HourlyStat.platform, func.sum(HourlyStat.count), negative,
               func.sum(HourlyStat.sentiment_sum))
        .where(HourlyStat.bucket >= since, HourlyStat.bucket < until)
        .group_by(HourlyStat.source_key, HourlyStat.platform)
        .order_by(func.sum(HourlyStat.count).desc())
    )
    if platforms:
        stmt = stmt.where(HourlyStat.platform.in_(list(platforms)))
    out = []
    for key, platform, count, neg, total in session.execute(stmt).all():
        count = int(count or 0)
        out.append({"source": key or "(unknown)", "platform": platform, "mentions": count,
                    "negative": int(neg or 0),
                    "negative_share": (int(neg or 0) / count) if count else 0.0,
                    "mean_sentiment": (float(total or 0) / count) if count else 0.0})
    return out


_TOKEN = re.compile(r"[^\W\d_][\w'’-]{2,}", re.UNICODE)
STOPWORDS = frozenset(
    """a about above after again against all am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't dont down during each few for from further get got had hadn't has hasn't
    have haven't having he her here hers herself him himself his how i i'm im if in into is isn't
    it it's its itself just let's me more most mustn't my myself no nor not now of off on once
    only or other ought our ours ourselves out over own same she should shouldn't so some such
    than that that's the their theirs them themselves then there there's these they they're this
    those through to too under until up very was wasn't we we're were weren't what what's when
    where which while who whom why will with won't would wouldn't you you're your yours yourself
    yourselves still again really even also via amp http https www com get got one just
    like""".split()
)


def top_negative_terms(session: Session, since: datetime, until: datetime,
                       platforms: Sequence[str] = (), *, sample: int = 2000, top: int = 25,
                       extra_stopwords: Iterable[str] = ()) -> list[tuple[str, int]]:
    """Most frequent words in the newest `sample` negative mentions of the range.

    Bounded on purpose: a trend page needs the shape of the complaints, not an exact count
    over millions of texts."""
    stmt = (
        select(Mention.text)
        .where(Mention.created_at >= since, Mention.created_at < until,
               Mention.is_own.is_(False), Mention.sentiment_label == "negative")
        .order_by(Mention.created_at.desc()).limit(sample)
    )
    if platforms:
        stmt = stmt.where(Mention.platform.in_(list(platforms)))
    stop = STOPWORDS | {w.lower().lstrip("@") for w in extra_stopwords}
    counts: Counter[str] = Counter()
    for text in session.execute(stmt).scalars():
        words = {w.lower().strip("'’-") for w in _TOKEN.findall(text or "")}
        counts.update(w for w in words if w and w not in stop and not w.startswith("http"))
    return counts.most_common(top)


def response_times(session: Session, since: datetime, until: datetime,
                   platforms: Sequence[str] = (), *, sample: int = 5000) -> list[dict[str, Any]]:
    """First-response delays (minutes) of mentions created in the range, newest `sample`."""
    stmt = (
        select(Mention.platform, Mention.assignee, Mention.created_at, Mention.first_response_at)
        .where(Mention.created_at >= since, Mention.created_at < until,
               Mention.is_own.is_(False), Mention.first_response_at.is_not(None))
        .order_by(Mention.created_at.desc()).limit(sample)
    )
    if platforms:
        stmt = stmt.where(Mention.platform.in_(list(platforms)))
    out = []
    for platform, assignee, created, first in session.execute(stmt).all():
        minutes = max(0.0, (first - created).total_seconds() / 60.0)
        out.append({"platform": platform, "agent": assignee or UNASSIGNED,
                    "minutes": round(minutes, 1)})
    return out


# --- SLA, health, alerts -------------------------------------------------------------------


def sla_waiting(session: Session, *, min_urgency: float = 0.6, now: datetime | None = None,
                limit: int = 50) -> list[dict[str, Any]]:
    """Urgent mentions nobody has answered yet, longest waiting first."""
    now = now or utcnow()
    rows: list[InboxRow] = []
    for status in OPEN_STATUSES:
        found = session.execute(
            select(*_ROW_COLUMNS).outerjoin(Author, Author.id == Mention.author_pk)
            .where(Mention.is_own.is_(False), Mention.status == status,
                   Mention.urgency >= min_urgency, Mention.first_response_at.is_(None))
            .order_by(Mention.urgency.desc()).limit(500)
        ).all()
        rows.extend(_row(r) for r in found)
    rows.sort(key=lambda r: r.created_at)
    return [{"mention": r.ref, "urgency": round(r.urgency or 0.0, 2), "status": r.status,
             "assignee": r.assignee or UNASSIGNED,
             "waiting_minutes": round((now - r.created_at).total_seconds() / 60.0, 1),
             "text": r.text} for r in rows[:limit]]


def agent_response_stats(session: Session, *, days: float = 7.0, now: datetime | None = None,
                         sample: int = 5000) -> list[dict[str, Any]]:
    """Per agent: how many first responses in the last `days`, median and p90 minutes."""
    now = now or utcnow()
    delays = response_times(session, now - timedelta(days=days), now + timedelta(minutes=1),
                            sample=sample)
    per: dict[str, list[float]] = {}
    for row in delays:
        per.setdefault(row["agent"], []).append(row["minutes"])
    out = []
    for agent, values in sorted(per.items()):
        values.sort()
        out.append({"agent": agent, "responses": len(values),
                    "median_minutes": values[len(values) // 2],
                    "p90_minutes": values[min(len(values) - 1, int(len(values) * 0.9))]})
    return out


def source_health(session: Session) -> list[dict[str, Any]]:
    out = []
    for s in session.execute(select(Source).order_by(Source.key)).scalars():
        out.append({"source": s.key, "platform": s.platform, "kind": s.kind,
                    "healthy": bool(s.healthy), "token_state": s.token_state,
                    "last_poll_at": s.last_poll_at, "last_success_at": s.last_success_at,
                    "last_item_at": s.last_item_at, "last_error": s.last_error or "",
                    "health_message": s.health_message or "",
                    "consecutive_failures": s.consecutive_failures or 0,
                    "items_total": s.items_total or 0})
    return out


def alert_episodes(session: Session, since: datetime) -> list[dict[str, Any]]:
    """Alert episodes overlapping the range, for marking charts (open and closed ones)."""
    rows = session.execute(
        select(Alert).where(Alert.last_seen >= since).order_by(Alert.first_seen).limit(500)
    ).scalars()
    return [{"id": a.id, "kind": a.kind, "severity": a.severity, "start": a.first_seen,
             "end": a.closed_at or a.last_seen, "open": a.closed_at is None} for a in rows]


# --- small runtime settings and canned replies ---------------------------------------------


def get_kv(session: Session, key: str, default: Any = None) -> Any:
    row = session.get(KeyValue, key)
    return default if row is None else row.value


def set_kv(session: Session, key: str, value: Any, *, actor: str) -> None:
    row = session.get(KeyValue, key)
    if row is None:
        session.add(KeyValue(key=key, value=value, updated_by=actor, updated_at=utcnow()))
    else:
        row.value = value
        row.updated_by = actor
        row.updated_at = utcnow()
    session.add(AuditEntry(actor=actor, action="setting", target=key, details={}))


def canned_replies(session: Session) -> list[CannedReply]:
    return list(session.execute(select(CannedReply).order_by(CannedReply.name)).scalars())


def save_canned_reply(session: Session, name: str, text: str, *, actor: str,
                      reply_id: int | None = None) -> CannedReply:
    name, text = name.strip(), text.strip()
    if not name or not text:
        raise ValueError("a canned reply needs a name and a text")
    row = session.get(CannedReply, reply_id) if reply_id else None
    from storage.teamwork import canned_reply_by_name

    clash = canned_reply_by_name(session, name)
    if clash is not None and (row is None or clash.id != row.id):
        raise ValueError(f"a canned reply named {name!r} already exists")
    if row is None:
        row = CannedReply(name=name, text=text)
        session.add(row)
    else:
        row.name, row.text = name, text
    session.add(AuditEntry(actor=actor, action="canned_reply_saved", target=name, details={}))
    session.flush()
    return row


def delete_canned_reply(session: Session, reply_id: int, *, actor: str) -> None:
    session.execute(delete(CannedReply).where(CannedReply.id == reply_id))
    session.add(AuditEntry(actor=actor, action="canned_reply_deleted", target=str(reply_id),
                           details={}))
