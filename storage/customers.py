"""Authors and the customers behind them: one person across platforms, their history, and
the counts and routing that depend on knowing them again.

Accounts are one customer only on evidence (the platform's own ids, a platform's answer
tying two ids together, or an agent's merge: `storage.customer_links`); an author without a
platform id has no customer. Everything here reads `authors.customer_id`, so history,
repeat-contact counts and routing to the last agent follow that rule by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from carewatch import domain
from storage.bulk import (
    UNIQUE_KEY,
    driver_cursor,
    insert_rows,
    is_postgres,
    json_list,
    padded_in_list,
    pipelined_reads,
    rows_by_keys,
    sqlite_time,
    update_rows,
)
from storage.customer_links import MergedRecord, account_label, merged_records
from storage.inbox import INBOX_COLUMNS, InboxRow, inbox_row
from storage.models import (
    AUTHOR_DAY_COUNTS_TABLE,
    AuditEntry,
    Author,
    Customer,
    Mention,
    Reply,
    utcnow,
)


def _give_customers(session: Session, new_authors: list[tuple[int, str, str | None,
                                                              str | None]]) -> None:
    """Give each new author the platform identifies (by its own id) a customer of its own.

    Never a customer found by a matching handle or name: two strangers may share those, and
    a shared customer would show one the other's history, notes and private messages. An
    author joins another customer only on evidence: the same platform id (then it is the
    same author row), a platform's answer tying two ids together
    (`storage.conversations`), or an agent's explicit "Same person"
    (`storage.customer_links.merge_customers`). Authors without a platform id get none.
    Batched: a page of new authors costs two statements (one on PostgreSQL)."""
    known = [(a, h, n) for a, external_id, h, n in new_authors
             if domain.identified_by_platform(external_id)]
    if not known:
        return
    now = utcnow()
    names = [name or handle for _, handle, name in known]
    if is_postgres(session):
        _give_customers_pg(session, [a for a, _, _ in known], names, now)
        return
    created = insert_rows(session, Customer.__table__, [
        {"display_name": name, "notes": "", "tags": [], "created_at": now} for name in names],
        returning=("id", "display_name"))
    # New customers differ only by display name, so any one of those created with an
    # author's name is that author's (RETURNING promises no order).
    by_name: dict[str | None, list[int]] = {}
    for customer_id, name in created:
        by_name.setdefault(name, []).append(customer_id)
    update_rows(session, Author.__table__, [
        {"customer_id": by_name[name].pop(0), "id": author_id}
        for (author_id, _, _), name in zip(known, names, strict=True)], keys=("id",))


#: `_give_customers` on PostgreSQL: the customers' INSERT and the authors' UPDATE as one
#: statement (a data-modifying CTE), one round trip a page instead of two. New customers
#: differ only by display name, so the n-th author with a name gets the n-th customer
#: created with it (by id), as the two statements pair them on SQLite. The name is matched
#: as equalities (NULL only with NULL), not IS NOT DISTINCT FROM: that is no hash key, so
#: with n = 1 for nearly every author the join compared every pair of the page's new
#: authors (auto_explain of the 20k poll: 5112 pairs filtered for 72 authors).
_GIVE_CUSTOMERS_PG = """
WITH k AS MATERIALIZED (
    SELECT author_id, name, ord, row_number() OVER (PARTITION BY name ORDER BY ord) AS n
    FROM json_to_recordset(%s::json) AS j(author_id bigint, name text, ord bigint)),
c AS (
    INSERT INTO customers (display_name, notes, tags, created_at)
    SELECT name, '', '[]'::jsonb, %s FROM k ORDER BY ord
    RETURNING id, display_name),
cn AS (
    SELECT id, row_number() OVER (PARTITION BY display_name ORDER BY id) AS n,
           display_name FROM c)
UPDATE authors SET customer_id = cn.id
FROM k JOIN cn ON cn.n = k.n AND coalesce(cn.display_name, '') = coalesce(k.name, '')
    AND (cn.display_name IS NULL) = (k.name IS NULL)
WHERE authors.id = k.author_id
"""


def _give_customers_pg(session: Session, author_ids: list[int], names: list[str | None],
                       now: datetime) -> None:
    rows = [{"author_id": a, "name": n, "ord": i}
            for i, (a, n) in enumerate(zip(author_ids, names, strict=True))]
    with driver_cursor(session) as cursor:
        cursor.execute(_GIVE_CUSTOMERS_PG, (json_list(rows), now))
        if cursor.rowcount != len(rows):  # every author named once in `rows`
            raise RuntimeError(f"{cursor.rowcount} of {len(rows)} new authors got a customer")


AUTHOR_COLUMNS = ("id", "external_id", "handle", "name", "followers")


def upsert_authors(session: Session, authors: Iterable[domain.Author],
                   brand_ids: set[tuple[str, str]] | None = None) -> dict[tuple[str, str], int]:
    """Insert or refresh authors; returns {(platform, external_id): author pk}.

    One read of the page's authors, then an insert of the new ones (ON CONFLICT DO NOTHING,
    so a concurrent writer storing the same new author is harmless) and an update of the
    ones whose handle, name or reach changed: a steady stream of known authors writes
    nothing."""
    latest: dict[tuple[str, str], domain.Author] = {}
    for author in authors:
        latest[(author.platform._value_, author.external_id)] = author
    if not latest:
        return {}
    brand_ids = brand_ids or set()
    table = Author.__table__
    known: dict[tuple[str, str], tuple[Any, ...]] = {}
    for platform in sorted({p for p, _ in latest}):
        for row in rows_by_keys(session, table, AUTHOR_COLUMNS, platform,
                                [e for p, e in latest if p == platform]):
            known[(platform, row[1])] = row
    now = utcnow()
    out: dict[tuple[str, str], int] = {key: row[0] for key, row in known.items()}
    fresh: list[dict[str, Any]] = [
        {"platform": p, "external_id": e, "handle": a.handle, "name": a.name,
         "followers": a.followers, "is_brand": (p, e) in brand_ids, "updated_at": now}
        for (p, e), a in latest.items() if (p, e) not in known]
    if fresh:
        inserted = insert_rows(session, table, fresh, conflict=UNIQUE_KEY,
                               returning=("id", "platform", "external_id", "handle", "name",
                                          "is_brand"))
        out.update({(platform, external_id): pk
                    for pk, platform, external_id, _, _, _ in inserted})
        _give_customers(session, [(pk, external_id, handle, name)
                                  for pk, _, external_id, handle, name, brand in inserted
                                  if not brand])
        raced = [(r["platform"], r["external_id"]) for r in fresh
                 if (r["platform"], r["external_id"]) not in out]
        for platform, external_id in raced:  # stored meanwhile by another writer
            ((pk,),) = rows_by_keys(session, table, ("id",), platform, [external_id])
            out[(platform, external_id)] = pk
    changed = []
    for key, (pk, _, handle, name, followers) in known.items():
        a = latest[key]
        if ((a.handle and a.handle != handle) or (a.name and a.name != name)
                or (a.followers is not None and a.followers != followers)):
            changed.append({"handle": a.handle or handle, "name": a.name or name,
                            "followers": a.followers if a.followers is not None else followers,
                            "updated_at": now, "id": pk})
    update_rows(session, table, changed, keys=("id",))
    return out


def recent_contacts(session: Session, author_keys: Iterable[tuple[str, str]],
                    *, days: float = 7.0, now: datetime | None = None,
                    enough: int | None = None) -> dict[tuple[str, str], int]:
    """How many mentions each author's customer made on any platform in the last `days`:
    repeat contact is an urgency signal across channels.

    `enough`: a caller that reads counts only up to this many (urgency's repeat-contact
    level stops at `REPEAT_CONTACT_CAP`) lets SQLite stop counting an account there, so a
    count of `enough` or more may come back as any number from `enough` up. Why: each
    account's recent mentions were read one by one in its index, a cost per page that grows
    with the store: the count's statement was ~5 us per stored mention at 100k mentions in
    the listener benchmark; for 100 customers with 50 recent mentions each, 398 -> 145 us.
    PostgreSQL reads whole days from the day counts (migration 0019) and ignores it.

    Asked for every page the listener scores, so each step is an index probe whatever the
    planner's statistics say: the page's authors by their unique key, each customer's
    authors by `customer_id`, and each of those authors' recent mentions counted on the
    (author_pk, created_at, is_own) index. A join over all customers' mentions was planned, on a
    PostgreSQL table not analyzed since it grew, as a scan of every mention."""
    keys = set(author_keys)
    if not keys:
        return {}
    if is_postgres(session):
        statements, collect = pg_recent_contacts(keys, days=days, now=now)
        return collect(pipelined_reads(session, statements))
    since = (now or utcnow()) - timedelta(days=days)
    out: dict[tuple[str, str], int] = {}
    for platform in sorted({p for p, _ in keys}):
        ids = [e for p, e in keys if p == platform]
        _add_contacts(out, platform, *_recent_contacts_sqlite(session, platform, ids, since,
                                                              enough))
    return out


def pg_recent_contacts(author_keys: Iterable[tuple[str, str]], *, days: float = 7.0,
                       now: datetime | None = None) -> tuple[
                           list[tuple[str, tuple[Any, ...]]],
                           Callable[[Sequence[Sequence[tuple[Any, ...]]]],
                                    dict[tuple[str, str], int]]]:
    """`recent_contacts` on PostgreSQL as the statements to run (a platform each; with
    other reads, `storage.bulk.pipelined_reads`) and what makes its answer of their rows."""
    keys = set(author_keys)
    since = (now or utcnow()) - timedelta(days=days)
    platforms = sorted({p for p, _ in keys})
    statements = [contacts_statement_pg(platform, [e for p, e in keys if p == platform], since)
                  for platform in platforms]

    def collect(results: Sequence[Sequence[tuple[Any, ...]]]) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for platform, rows in zip(platforms, results, strict=True):
            _add_contacts(out, platform, *contacts_of_rows(rows))
        return out

    return statements, collect


def _add_contacts(out: dict[tuple[str, str], int], platform: str,
                  authors: Sequence[tuple[Any, ...]], counts: dict[int, int]) -> None:
    """Each found author's customer's count into `out` (none when no author of the platform
    has a customer)."""
    if not counts:
        return
    for external_id, customer_id in authors:
        out[(platform, external_id)] = counts.get(customer_id, 0)


#: How many mentions (not the brand's own) an author made from a time on, on the
#: (author_pk, created_at, is_own) index.
_AUTHOR_COUNT = ("(SELECT count(*) FROM mentions m WHERE m.author_pk = a.id "
                 "AND m.created_at >= {mark} AND m.is_own = false)")


def _recent_contacts_sqlite(session: Session, platform: str, ids: Sequence[str],
                            since: datetime, enough: int | None = None
                            ) -> tuple[list[tuple[Any, ...]], dict[int, int]]:
    """The page's authors (external_id, customer_id) and their customers' counts since
    `since`, each author's stopped at `enough` when given (`recent_contacts`): two
    statements (SQLite reads its covering index, no round trip)."""
    authors = rows_by_keys(session, Author.__table__, ("external_id", "customer_id"),
                           platform, ids)
    customers = padded_in_list(sorted({c for _, c in authors if c is not None}))
    if not customers:
        return authors, {}
    counts: dict[int, int] = {}
    with driver_cursor(session) as cursor:
        # SQLite reads a negative LIMIT as none: every recent mention counted.
        cursor.execute("SELECT a.customer_id, (SELECT count(*) FROM (SELECT 1 FROM mentions m "
                       "WHERE m.author_pk = a.id AND m.created_at >= ? AND m.is_own = false "
                       f"LIMIT ?)) FROM authors a WHERE a.customer_id IN "
                       f"({', '.join('?' * len(customers))})",
                       [sqlite_time(since), -1 if enough is None else enough, *customers])
        for customer_id, n in cursor.fetchall():
            counts[customer_id] = counts.get(customer_id, 0) + int(n)
    return authors, counts


def contacts_statement_pg(platform: str, ids: Sequence[str],
                          since: datetime) -> tuple[str, tuple[Any, ...]]:
    """The page's authors by their unique key (`page`), then each of their customers'
    authors by `customer_id` and those authors' counts since `since`, in one statement:
    one round trip a page instead of two (measured: a round trip costs the listener
    ~1.5 ms of wall time on the loaded two-core machine, beyond the server's work). Its
    rows go to `contacts_of_rows`.

    Whole UTC days after the window's first one from the day counts (migration 0019), that
    first day's part from the mentions index: exact, and only a day's mentions read (each
    one's heap row too, without a fresh VACUUM). The mentions are read only for an author
    with a day count on that first day: one with none wrote nothing then (the triggers keep
    the counts exact), the usual case, which thus costs one index scan of the author's days
    instead of two probes (measured on the 20k poll's pages: ~20% less server CPU for this
    statement, same rows)."""
    since = since.astimezone(UTC) if since.tzinfo else since.replace(tzinfo=UTC)
    first_day = since.replace(hour=0, minute=0, second=0, microsecond=0)
    # The upper bound changes no count (every day is at most infinity): it makes the
    # planner, without statistics (a new store; before autovacuum's ANALYZE), estimate a
    # row where it guessed 14, and walk the primary key instead of a bitmap scan over the
    # author's days (measured on the 20k poll's pages: ~15% less server CPU for this
    # statement, same rows; with statistics it chooses either way).
    first = _AUTHOR_COUNT.format(mark="%s AND m.created_at < %s")
    count = (f"(SELECT coalesce(sum(CASE WHEN d.day > %s THEN d.count ELSE {first} END), 0) "
             f"FROM {AUTHOR_DAY_COUNTS_TABLE} d "
             "WHERE d.author_pk = a.id AND d.day >= %s AND d.day <= 'infinity')")
    # LIMIT 1 / OFFSET 0 keep each lookup a probe of its index, never a join the planner
    # could turn into a scan of every author (see `storage.bulk.rows_by_keys`).
    sql = ("WITH page AS MATERIALIZED (SELECT t.external_id, t.customer_id FROM "
           "json_array_elements_text(%s::json) AS k(id) CROSS JOIN LATERAL (SELECT "
           "external_id, customer_id FROM authors WHERE platform = %s AND external_id = k.id "
           "LIMIT 1) AS t) "
           "SELECT p.external_id, p.customer_id, NULL FROM page p UNION ALL "
           f"SELECT NULL, a.customer_id, {count} FROM "
           "(SELECT DISTINCT customer_id FROM page WHERE customer_id IS NOT NULL) AS c "
           "CROSS JOIN LATERAL (SELECT id, customer_id FROM authors "
           "WHERE customer_id = c.customer_id OFFSET 0) AS a")
    day = first_day.replace(tzinfo=None)  # the day counts' naive UTC days
    return sql, (json_list(ids), platform, day, since, first_day + timedelta(days=1), day)


def contacts_of_rows(rows: Iterable[tuple[Any, ...]]) -> tuple[list[tuple[Any, ...]],
                                                                dict[int, int]]:
    """`contacts_statement_pg`'s rows as the authors found (external_id, customer_id) and
    each of their customers' count."""
    authors: list[tuple[Any, ...]] = []
    counts: dict[int, int] = {}
    for external_id, customer_id, n in rows:
        if n is None:
            authors.append((external_id, customer_id))
        else:
            counts[customer_id] = counts.get(customer_id, 0) + int(n)
    return authors, counts


def routable_to_last_agent(session: Session, mention_ids: Sequence[int]) -> list[
        tuple[Mention, str]]:
    """(mention, agent) for each of these mentions that is new, unassigned, not the brand's
    own, and whose author belongs to a customer some agent helped before (on any channel).

    The agent is `Customer.last_agent`; whether that agent is still a user is the caller's
    check (`storage.users.existing_usernames`)."""
    agents = _last_agents(session, mention_ids)
    if not agents:
        return []
    found = session.execute(select(Mention).where(Mention.id.in_(list(agents)))).scalars()
    return [(mention, agents[mention.id]) for mention in found  # as read, still
            if not mention.is_own and mention.assignee is None
            and mention.status == domain.Status.NEW.value]


def _last_agents(session: Session, mention_ids: Sequence[int]) -> dict[int, str]:
    """{mention id: its customer's last agent} for those of these mentions that are new,
    unassigned and not the brand's own, as one statement at the driver: the listener asks
    after every stored page and almost always hears none, so the ORM's statement building
    cost more than the lookups.

    Found by primary key first, the other conditions checked on those few rows: with them
    in the WHERE, SQLite walks the inbox index (is_own, status, ...) over every waiting
    mention instead, a cost that grew with the table on each stored page. The agent is a
    subquery per mention (author, then customer, each by primary key): as a join,
    PostgreSQL without fresh statistics hashed every author and every customer with an
    agent for each page."""
    ids = [int(i) for i in mention_ids]
    if not ids:
        return {}
    agent_of = ("(SELECT c.last_agent FROM authors a JOIN customers c ON c.id = a.customer_id "
                "WHERE a.id = m.author_pk)")
    columns = f"m.id, {agent_of}, m.is_own, m.assignee, m.status"
    with driver_cursor(session) as cursor:
        if is_postgres(session):
            cursor.execute("SELECT t.* FROM json_array_elements_text(%s::json) AS k(id) CROSS "
                           f"JOIN LATERAL (SELECT {columns} FROM mentions m "
                           "WHERE m.id = k.id::bigint) AS t", (json_list(ids),))
        else:
            cursor.execute(f"SELECT {columns} FROM mentions m WHERE m.id IN "
                           f"({', '.join('?' * len(ids))})", ids)
        rows = cursor.fetchall()
    return {mention_id: agent for mention_id, agent, own, assignee, status in rows
            if agent is not None and not own and assignee is None
            and status == domain.Status.NEW.value}


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
    merged: list[MergedRecord] = field(default_factory=list)  # each one a split away


def customer_history(session: Session, customer_id: int, *, limit: int = 50) -> (
        CustomerView | None):
    """One person on every platform: their accounts, newest mentions, and the replies the
    team sent or queued to them, and the merges that made them one customer. Bounded by
    `limit` on the (author_pk, created_at) index. An author without a platform id has no
    customer, so nothing here is ever shared between strangers."""
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
            select(*INBOX_COLUMNS).outerjoin(Author, Author.id == Mention.author_pk)
            .where(Mention.author_pk.in_(author_ids), Mention.is_own.is_(False))
            .order_by(Mention.created_at.desc()).limit(limit)
        ).all()
        mentions = [inbox_row(r) for r in found]
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
        accounts=[(a[1], account_label(a[2], a[3])) for a in authors],
        mentions=mentions, replies=replies, merged=merged_records(session, customer_id),
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
