"""The agents' queue and what opens from it: inbox pages, single rows and the thread view.

Why their shape: every query here must stay fast on a store with millions of mentions.
The inbox walks the queue index `(is_own, status, urgency, ...)` once per status with a
LIMIT and merges the short lists; a thread is read by its indexed key, bounded by a LIMIT.
Nothing loads a whole table.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from carewatch.domain import (
    OPEN_STATUSES,
    UNDETERMINED_LANG,
    MentionRef,
    ReplyKind,
    ReplyState,
    Status,
    Visibility,
)
from storage.models import Author, Mention, Reply, Thread
from storage.search import candidate_ids, matches, planner_without

# Languages the scorer understands (listener.scoring.language.SUPPORTED); storage may not
# import the listener, so the list is repeated here.
SUPPORTED_LANGS = ("en", "ko")
# What the `lang_unsupported` filter leaves out: the supported languages, and text in no
# language ("und": emoji, a few letters), which is scored and never `lang_unsupported`.
_NOT_UNSUPPORTED = (*SUPPORTED_LANGS, UNDETERMINED_LANG)
LANG_UNSUPPORTED = "lang_unsupported"
UNASSIGNED = "(unassigned)"
NO_TOPIC = "(no topic)"  # the topic filter's choice for items without a confident topic
#: The inbox counts its matches up to this many and shows "10,000+" beyond: a count walks
#: the queue index, whose entries hold every filter but the text.
COUNT_CAP = 10_000
#: The same for a text search, lower: each row counted is a table read and a substring
#: check (a common word's page at a million mentions: 3x the CPU on SQLite, 8x the time on
#: PostgreSQL when counted to 10,001), and past a thousand the exact number helps nobody,
#: as in a mail client's "1,000+ results".
SEARCH_COUNT_CAP = 1_000


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
    visibility: str | None = None  # "public", "private", or None for both
    limit: int = 200
    topics: list[str] = field(default_factory=list)  # topic names, or NO_TOPIC


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
    visibility: str = Visibility.PUBLIC.value
    topic: str | None = None
    topic_confidence: float | None = None


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
    Mention.thread_pk, Author.customer_id, Mention.url, Mention.visibility,
    Mention.topic, Mention.topic_confidence,
)


def inbox_row(r: Any) -> InboxRow:
    return InboxRow(
        id=r[0], ref=f"{r[1]}:{r[2]}", platform=r[1], external_id=r[2], created_at=r[3],
        author_handle=r[4], author_name=r[5], followers=r[6], text=r[7], urgency=r[8],
        urgency_reasons=_reasons(r[9]), sentiment=r[10], sentiment_label=r[11], status=r[12],
        assignee=r[13], lang=r[14], thread_pk=r[15], customer_id=r[16], url=r[17],
        visibility=r[18], topic=r[19], topic_confidence=r[20],
    )


def _extra_conditions(filters: InboxFilters, m: Any = Mention) -> list[Any]:
    """The filters other than the status, on `m`: the mentions table, or a subquery of it."""
    conds: list[Any] = []
    if filters.platforms:
        conds.append(m.platform.in_(filters.platforms))
    if filters.sentiments:
        conds.append(m.sentiment_label.in_(filters.sentiments))
    if filters.min_urgency > 0:
        conds.append(m.urgency >= filters.min_urgency)
    if filters.assignee == UNASSIGNED:
        conds.append(m.assignee.is_(None))
    elif filters.assignee:
        # Written so it cannot use ix_mentions_assignee: each of that index's hits costs a
        # table read to check the status, while ix_mentions_queue has the assignee in it
        # (equal to `assignee = ?`, as the name is never empty).
        conds.append(func.coalesce(m.assignee, "") == filters.assignee)
    if filters.langs:
        codes = [code for code in filters.langs if code != LANG_UNSUPPORTED]
        alternatives: list[Any] = []
        if codes:
            alternatives.append(m.lang.in_(codes))
        if LANG_UNSUPPORTED in filters.langs:
            alternatives.append(or_(m.lang.is_(None),
                                    m.lang.not_in(_NOT_UNSUPPORTED)))
        conds.append(or_(*alternatives))
    if filters.visibility:
        # A plain equality on the column: the inbox index walk filters on it row by row.
        conds.append(m.visibility == filters.visibility)
    if filters.search.strip():
        conds.append(matches(filters.search.strip(), m.text))
    if filters.topics:
        names = [t for t in filters.topics if t != NO_TOPIC]
        either: list[Any] = [m.topic.in_(names)] if names else []
        if NO_TOPIC in filters.topics:
            either.append(m.topic.is_(None))
        conds.append(or_(*either))
    return conds


def _statuses(filters: InboxFilters) -> list[str]:
    return list(dict.fromkeys(filters.statuses)) or [s.value for s in Status]


def inbox(session: Session, filters: InboxFilters | None = None) -> InboxPage:
    """The queue: most urgent first, then the longest waiting; at most `limit` rows.

    A text search the trigram index narrows to a few candidates (`storage.search`) reads
    those by id instead.

    One walk of the `ix_mentions_queue` index per status (`is_own = false AND status = ?
    ORDER BY urgency DESC LIMIT n`), merged here, so the cost follows the page size, not the
    store size; the filters are columns of that index, checked there. A status whose walk
    came back short has been counted by it: only the others are counted again."""
    filters = filters or InboxFilters()
    limit = max(1, min(filters.limit, 1000))
    extra = _extra_conditions(filters)
    candidates = _search_candidates(session, filters)
    if candidates is not None:
        return _candidates_page(session, candidates, filters, limit)
    rows: list[InboxRow] = []
    counted = 0
    uncounted: list[str] = []
    with _walking(session, filters):
        for status in _statuses(filters):
            found = _walk(session, status, extra, limit)
            rows.extend(found)
            if len(found) < limit:
                counted += len(found)  # every match of this status is in `found`
            else:
                uncounted.append(status)
        total = counted + _count(session, uncounted, extra, count_cap(filters) + 1 - counted)
    rows.sort(key=lambda r: (-(r.urgency if r.urgency is not None else -1.0),
                             r.created_at))
    return _page(rows[:limit], total, filters)


def count_cap(filters: InboxFilters) -> int:
    """Up to how many matches `filters` are counted: SEARCH_COUNT_CAP with a text search,
    else COUNT_CAP."""
    return SEARCH_COUNT_CAP if filters.search.strip() else COUNT_CAP


def _capped(total: int, filters: InboxFilters) -> tuple[int, bool]:
    """(the count shown, whether there are more): `total` counted one past the cap."""
    cap = count_cap(filters)
    return min(total, cap), total > cap


def _page(rows: list[InboxRow], total: int, filters: InboxFilters) -> InboxPage:
    shown, more = _capped(total, filters)
    return InboxPage(rows=rows, total=shown, total_capped=more)


def _walk(session: Session, status: str, extra: list[Any], limit: int) -> list[InboxRow]:
    """The `limit` most urgent matches of one status: scored ones by urgency, then the
    unscored ones, oldest first. The ids are picked in a subquery from the queue index
    alone (it holds every filtered column and the id, so PostgreSQL checks the filters
    without reading the table); only the picked rows are read, by id."""
    base = select(Mention.id).where(Mention.is_own.is_(False), Mention.status == status, *extra)
    rows = select(*INBOX_COLUMNS).outerjoin(Author, Author.id == Mention.author_pk)
    scored = (base.where(Mention.urgency.is_not(None))
              .order_by(Mention.urgency.desc(), Mention.created_at.asc()).limit(limit))
    found = [inbox_row(r) for r in session.execute(
        rows.where(Mention.id.in_(scored.scalar_subquery())))]
    if len(found) < limit:
        unscored = (base.where(Mention.urgency.is_(None))
                    .order_by(Mention.created_at.asc()).limit(limit - len(found)))
        found.extend(inbox_row(r) for r in session.execute(
            rows.where(Mention.id.in_(unscored.scalar_subquery()))))
    return found


def _count(session: Session, statuses: list[str], extra: list[Any], budget: int) -> int:
    """Matches in `statuses`, counted up to `budget` (a text search must not scan millions
    of rows just to print a number): one bounded walk per status, each on the queue index's
    (is_own, status) prefix, where the filters are checked."""
    total = 0
    for status in statuses:
        if total >= budget:
            break
        inner = (
            select(literal(1))
            .where(Mention.is_own.is_(False), Mention.status == status, *extra)
            .limit(budget - total)
            .subquery()
        )
        total += int(session.execute(select(func.count()).select_from(inner)).scalar_one())
    return total


def _search_candidates(session: Session, filters: InboxFilters) -> list[int] | None:
    """The few mentions a text search can match (`storage.search`), or None: no search, or
    a term too short or too common for the index to narrow the queue walk."""
    term = filters.search.strip()
    return candidate_ids(session, term) if term else None


def _candidate_matches(session: Session, ids: list[int],
                       filters: InboxFilters) -> list[tuple[int, float | None, datetime]]:
    """(id, urgency, created_at) of the candidates that match every filter, the search
    itself included (the index only proposed them). Read by id in a subquery whose LIMIT
    keeps SQLite from merging it into the filters: without statistics its planner would
    rather walk an index on a filtered column (the whole open queue) than look up the ids."""
    if not ids:
        return []
    m = aliased(Mention, select(Mention).where(Mention.id.in_(ids)).limit(len(ids)).subquery())
    stmt = select(m.id, m.urgency, m.created_at).where(
        m.is_own.is_(False), m.status.in_(_statuses(filters)), *_extra_conditions(filters, m))
    return [(r[0], r[1], r[2]) for r in session.execute(stmt)]


def _candidates_page(session: Session, ids: list[int], filters: InboxFilters,
                     limit: int) -> InboxPage:
    """The queue page of a search narrowed to a few candidates: the matches sorted as the
    walk orders them, the top `limit` read whole."""
    found = _candidate_matches(session, ids, filters)
    found.sort(key=lambda r: (-(r[1] if r[1] is not None else -1.0), r[2]))
    top = [r[0] for r in found[:limit]]
    rows = [inbox_row(r) for r in session.execute(
        select(*INBOX_COLUMNS).outerjoin(Author, Author.id == Mention.author_pk)
        .where(Mention.id.in_(top)))] if top else []
    rank = {pk: i for i, pk in enumerate(top)}
    rows.sort(key=lambda r: rank[r.id])
    return _page(rows, len(found), filters)


def inbox_count(session: Session, filters: InboxFilters) -> tuple[int, bool]:
    """How many mentions match, counted up to `count_cap(filters)`."""
    found = _search_candidates(session, filters)
    if found is not None:
        return _capped(len(_candidate_matches(session, found, filters)), filters)
    with _walking(session, filters):
        count = _count(session, _statuses(filters), _extra_conditions(filters),
                       count_cap(filters) + 1)
    return _capped(count, filters)


def _walking(session: Session, filters: InboxFilters) -> AbstractContextManager[None]:
    """The queue walks and counts of a text search on PostgreSQL go through the queue index
    only: the planner has no good estimate of a term's rows and would otherwise scan the
    table (a common word's capped count: 965 ms against 300 ms) or take the trigram index,
    which for a term without trigrams (two Korean syllables) rechecks every row."""
    if not filters.search.strip():
        return nullcontext()
    return planner_without(session, "seqscan", "bitmapscan")


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


# --- conversation ----------------------------------------------------------------------------

#: Reply kinds that travel in a private channel: a move to private, a message in a conversation.
PRIVATE_REPLY_KINDS = (ReplyKind.PRIVATE.value, ReplyKind.MESSAGE.value)
#: Private conversations shown with one public mention (a case is moved private once or twice).
MAX_LINKED = 20


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
    platform: str = ""
    visibility: str = Visibility.PUBLIC.value
    #: Why a reply of ours is not sent yet (a missing token, a refusal the responder kept),
    #: None once it is sent: the agent sees it is stuck, and why, where they wrote it.
    problem: str | None = None


@dataclass(slots=True)
class ThreadView:
    """One timeline, oldest first: the public post it belongs to (`root_*`, None when no
    public thread is known) and every item of the public thread and the private
    conversations of the same case."""

    root_text: str | None
    root_author: str | None
    root_is_own: bool
    root_url: str | None
    items: list[ThreadItem]
    root_platform: str | None = None


def _author_label(handle: str | None, name: str | None, is_own: bool, brand: str) -> str:
    if is_own:
        return f"{brand} (brand)"
    if handle:
        return f"@{handle}"
    return name or "unknown"


def _case_threads(session: Session, mention: Mention) -> tuple[list[int], list[int], int]:
    """The threads (pks) of the case `mention` belongs to, its own first; the ids of case
    mentions that have no thread; the case's public mention (`mention` itself when public).

    A public mention brings the private conversations it was moved into
    (`threads.case_mention_pk`); a private message brings the public thread of the mention
    its conversation is linked to."""
    threads = [mention.thread_pk] if mention.thread_pk else []
    lone = [] if mention.thread_pk else [mention.id]
    case_pk = mention.id
    if mention.visibility == Visibility.PRIVATE.value:
        own = session.get(Thread, mention.thread_pk) if mention.thread_pk else None
        case = (session.get(Mention, own.case_mention_pk)
                if own is not None and own.case_mention_pk else None)
        if case is not None:
            case_pk = case.id
            if case.thread_pk:
                threads.append(case.thread_pk)
            else:
                lone.append(case.id)
    else:
        threads.extend(session.scalars(
            select(Thread.id).where(Thread.case_mention_pk == mention.id)
            .order_by(Thread.id).limit(MAX_LINKED)))
    return list(dict.fromkeys(threads)), lone, case_pk


def conversation(session: Session, mention_id: int, *, brand: str = "Acme Air",
                 limit: int = 200) -> ThreadView | None:
    """Everything said in a mention's case, public and private, as one timeline: the public
    thread (its root post, the other items, the brand's own included as context), the
    private conversation(s) of the same case, and carewatch's own replies queued or sent in
    any of them. Each item carries its platform and visibility. The newest `limit` items of
    the threads are read through the (thread_pk, created_at) index."""
    mention = session.get(Mention, mention_id)
    if mention is None:
        return None
    thread_pks, lone, case_pk = _case_threads(session, mention)
    threads = {t.id: t for t in session.scalars(select(Thread).where(Thread.id.in_(thread_pks)))}
    root = next((threads[pk] for pk in thread_pks if pk in threads
                 and threads[pk].visibility == Visibility.PUBLIC.value), None)
    where = [Mention.thread_pk.in_(thread_pks)] if thread_pks else []
    where += [Mention.id.in_(lone)] if lone else []
    rows = session.execute(
        select(Mention.id, Mention.platform, Mention.external_id, Author.handle,
               Author.name, Mention.text, Mention.created_at, Mention.is_own,
               Mention.visibility, Mention.thread_pk)
        .outerjoin(Author, Author.id == Mention.author_pk)
        .where(or_(*where)).order_by(Mention.created_at.desc()).limit(limit)
    ).all()
    items = [
        ThreadItem(ref=f"{r[1]}:{r[2]}", author=_author_label(r[3], r[4], bool(r[7]), brand),
                   text=r[5], created_at=r[6], is_own=bool(r[7]),
                   is_selected=r[0] == mention.id, platform=r[1], visibility=r[8])
        for r in rows
        # The root is shown on its own, above the conversation.
        if root is None or (r[9], r[2]) != (root.id, root.external_id)
    ]
    # A reply the platform echoed back is already in the thread as the brand's own item.
    stored_own = {(r[1], r[2]) for r in rows if r[7]}
    # Private replies of this case only: another customer's case in the same public
    # thread stays out of this timeline.
    in_case = {case_pk, mention.id} | {r[0] for r in rows
                                       if r[8] == Visibility.PRIVATE.value}
    replies = session.execute(
        select(Reply, Mention.platform).join(Mention, Mention.id == Reply.mention_pk)
        .where(Reply.mention_pk.in_([r[0] for r in rows][:500]))
        .order_by(Reply.queued_at.desc()).limit(limit)
    ).all()
    items.extend(
        ThreadItem(ref=reply.platform_id or f"reply#{reply.id}", author=f"{brand} (brand)",
                   text=reply.text, created_at=reply.sent_at or reply.queued_at, is_own=True,
                   kind="reply", state=reply.state, platform=platform,
                   visibility=(Visibility.PRIVATE.value if reply.kind in PRIVATE_REPLY_KINDS
                               else Visibility.PUBLIC.value),
                   problem=None if reply.state == ReplyState.SENT.value else reply.last_error)
        for reply, platform in replies
        if (platform, reply.platform_id) not in stored_own
        and (reply.kind not in PRIVATE_REPLY_KINDS or reply.mention_pk in in_case)
    )
    items.sort(key=lambda i: i.created_at)
    return ThreadView(
        root_text=root.root_text if root else None,
        root_author=(f"{brand} (brand)" if root and root.root_is_own
                     else (root.root_author if root else None)),
        root_is_own=bool(root and root.root_is_own),
        root_url=root.root_url if root else None,
        items=items,
        root_platform=root.platform if root else None,
    )
