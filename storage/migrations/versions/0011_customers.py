"""customers linked only on evidence: customer_merges, and the split of old name/handle links

Until now a new author joined the customer of any author with the same handle or full name
on another platform, and every comment without `from` shared one "unknown" author and so
one customer. This migration undoes both on an existing database:

- Authors without a platform id (`unknown`, `@username`) leave their customer: they are
  nobody in particular and get no customer, history or notes.
- Inside each customer, the authors that the platform's own ids tie together stay
  together. That evidence is a private conversation linked to the public mention moved
  into it (`threads.case_mention_pk`): the customer writing there is the case mention's
  author. Every other group was joined on a handle or a name alone, and is split off.
- The group holding the customer's first author (the lowest author id: the customer was
  created for it, later authors were linked to it) keeps the customer row, and with it
  its notes, tags and display name. The notes were written about the person the record
  was made for; split-off groups get a new customer each, named after their first author,
  with empty notes and tags. Nothing is deleted from a kept row, and a split is reversible
  by hand: the audit row lists every group moved.
- `last_agent` of every customer split here is recomputed from the sent replies to its own
  authors' mentions, so nobody is routed to an agent who only helped someone else.
- A customer left with no author at all (the shared "unknown" one) is deleted; its notes
  and tags are first written to the audit log (`customer_removed`), so no word is lost.

Downgrade drops `customer_merges`; the split customers stay split (joining strangers back
would be the bug this fixes).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ACTOR = "migration 0011"

# A full Table (not a lightweight `sa.table`): a batched INSERT ... RETURNING in parameter
# order needs to know the primary key.
customers = sa.Table("customers", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("display_name", sa.String(200)), sa.Column("notes", sa.Text),
                     sa.Column("tags", storage.models.JSONType),
                     sa.Column("last_agent", sa.String(100)),
                     sa.Column("created_at", storage.models.UTCDateTime()))
authors = sa.table("authors", sa.column("id", sa.Integer), sa.column("external_id"),
                   sa.column("handle"), sa.column("name"), sa.column("customer_id", sa.Integer))
mentions = sa.table("mentions", sa.column("id", sa.Integer), sa.column("author_pk", sa.Integer),
                    sa.column("thread_pk", sa.Integer), sa.column("is_own", sa.Boolean))
threads = sa.table("threads", sa.column("id", sa.Integer),
                   sa.column("case_mention_pk", sa.Integer))
replies = sa.table("replies", sa.column("mention_pk", sa.Integer), sa.column("agent"),
                   sa.column("state"), sa.column("sent_at", storage.models.UTCDateTime()))
audit = sa.table("audit_log", sa.column("at", storage.models.UTCDateTime()),
                 sa.column("actor"), sa.column("action"), sa.column("target"),
                 sa.column("details", storage.models.JSONType))


def upgrade() -> None:
    op.create_table(
        "customer_merges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("merged_id", sa.Integer(), nullable=False),
        sa.Column("author_ids", storage.models.JSONType, nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("merged_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("split_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("split_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_customer_merges_customer_id_customers")),
        sa.ForeignKeyConstraint(["merged_id"], ["customers.id"],
                                name=op.f("fk_customer_merges_merged_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_merges")),
    )
    with op.batch_alter_table("customer_merges") as batch:
        batch.create_index(batch.f("ix_customer_merges_customer_id"), ["customer_id"])
        batch.create_index(batch.f("ix_customer_merges_merged_id"), ["merged_id"])
    split_existing_customers(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("customer_merges") as batch:
        batch.drop_index(batch.f("ix_customer_merges_merged_id"))
        batch.drop_index(batch.f("ix_customer_merges_customer_id"))
    op.drop_table("customer_merges")


def _anonymous() -> Any:
    """Authors without a platform id (`carewatch.domain.identified_by_platform`)."""
    return sa.or_(authors.c.external_id == "unknown", authors.c.external_id.like("@%"))


class _Groups:
    """Union-find over author ids: the authors the platform's ids tie together."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, a: int) -> int:
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def join(self, a: int, b: int) -> None:
        self.parent[self.find(a)] = self.find(b)


def _evidence(conn: sa.Connection) -> _Groups:
    """Each linked private conversation ties its customer's authors to the case author."""
    groups = _Groups()
    case_author = mentions.alias("case_mention")
    rows = conn.execute(
        sa.select(case_author.c.author_pk, mentions.c.author_pk).distinct()
        .select_from(threads.join(case_author, case_author.c.id == threads.c.case_mention_pk)
                     .join(mentions, mentions.c.thread_pk == threads.c.id))
        .where(mentions.c.is_own.is_(False), mentions.c.author_pk.is_not(None),
               case_author.c.author_pk.is_not(None))
    ).all()
    for a, b in rows:
        groups.join(a, b)
    return groups


def _chunks(items: list[Any], size: int = 500) -> Any:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _last_agents(conn: sa.Connection, author_ids: list[int]) -> dict[int, tuple[Any, str]]:
    """{author: (sent_at, agent)} of the latest sent reply to each author's mentions."""
    latest: dict[int, tuple[Any, str]] = {}
    for chunk in _chunks(author_ids):
        for author, agent, at in conn.execute(
            sa.select(mentions.c.author_pk, replies.c.agent, replies.c.sent_at)
            .join(mentions, mentions.c.id == replies.c.mention_pk)
            .where(mentions.c.author_pk.in_(chunk), replies.c.state == "sent",
                   replies.c.agent.is_not(None), replies.c.sent_at.is_not(None))
        ):
            if author not in latest or at > latest[author][0]:
                latest[author] = (at, agent)
    return latest


def _agent_of(latest: dict[int, tuple[Any, str]], ids: list[int]) -> str | None:
    found = [latest[a] for a in ids if a in latest]
    return max(found, key=lambda f: f[0])[1] if found else None


def split_existing_customers(conn: sa.Connection) -> None:
    """The data step (see the module docstring), in a few batched statements per 500
    customers rather than several per customer."""
    now = datetime.now(UTC)
    anonymous = conn.execute(
        sa.select(authors.c.id, authors.c.customer_id)
        .where(_anonymous(), authors.c.customer_id.is_not(None))).all()
    touched = {c for _, c in anonymous}
    if anonymous:
        conn.execute(sa.update(authors).where(_anonymous()).values(customer_id=None))
    shared = list(conn.execute(
        sa.select(authors.c.customer_id).where(authors.c.customer_id.is_not(None))
        .group_by(authors.c.customer_id).having(sa.func.count() > 1)).scalars())
    evidence = _evidence(conn) if shared else _Groups()
    for batch in _chunks(shared):
        members: dict[int, list[Any]] = defaultdict(list)
        for row in conn.execute(
            sa.select(authors.c.id, authors.c.handle, authors.c.name, authors.c.customer_id)
            .where(authors.c.customer_id.in_(batch)).order_by(authors.c.id)
        ):
            members[row.customer_id].append(row)
        # {customer: [group, ...]}, each group in author id order, the first author's first.
        splits: dict[int, list[list[Any]]] = {}
        for customer_id, rows in members.items():
            by_group: dict[int, list[Any]] = defaultdict(list)
            for row in rows:
                by_group[evidence.find(row.id)].append(row)
            if len(by_group) > 1:
                splits[customer_id] = list(by_group.values())
        if splits:
            _split(conn, splits, now)
    for customer_id in sorted(touched):
        still = conn.execute(sa.select(sa.func.count()).select_from(authors)
                             .where(authors.c.customer_id == customer_id)).scalar_one()
        if still:
            continue
        gone = conn.execute(sa.select(customers.c.notes, customers.c.tags)
                            .where(customers.c.id == customer_id)).one()
        conn.execute(sa.insert(audit).values(
            at=now, actor=ACTOR, action="customer_removed", target=f"customer:{customer_id}",
            details={"reason": "authors without a platform id are no customer",
                     "notes": gone.notes or "", "tags": list(gone.tags or [])}))
        conn.execute(sa.delete(customers).where(customers.c.id == customer_id))


def _split(conn: sa.Connection, splits: dict[int, list[list[Any]]], now: datetime) -> None:
    """Give every group but the first of each customer a new customer; recompute the
    last agent of all of them; audit each customer split."""
    latest = _last_agents(conn, [r.id for groups in splits.values() for g in groups for r in g])
    moving = [(customer_id, group) for customer_id, groups in splits.items()
              for group in groups[1:]]
    created = conn.execute(
        sa.insert(customers).returning(customers.c.id, sort_by_parameter_order=True),
        [{"display_name": group[0].name or group[0].handle, "notes": "", "tags": [],
          "last_agent": _agent_of(latest, [r.id for r in group]), "created_at": now}
         for _, group in moving]).scalars().all()
    conn.execute(
        sa.update(authors).where(authors.c.id == sa.bindparam("b_id"))
        .values(customer_id=sa.bindparam("b_customer")),
        [{"b_id": r.id, "b_customer": new_id}
         for (_, group), new_id in zip(moving, created, strict=True) for r in group])
    conn.execute(
        sa.update(customers).where(customers.c.id == sa.bindparam("b_id"))
        .values(last_agent=sa.bindparam("b_agent")),
        [{"b_id": customer_id, "b_agent": _agent_of(latest, [r.id for r in groups[0]])}
         for customer_id, groups in splits.items()])
    moved: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for (customer_id, group), new_id in zip(moving, created, strict=True):
        moved[customer_id].append({"customer": new_id, "authors": [r.id for r in group]})
    conn.execute(sa.insert(audit), [
        {"at": now, "actor": ACTOR, "action": "customer_split",
         "target": f"customer:{customer_id}",
         "details": {"reason": "linked on a handle or a name only",
                     "kept": [r.id for r in groups[0]], "moved": moved[customer_id]}}
        for customer_id, groups in splits.items()])
