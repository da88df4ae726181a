"""Which authors are one person: likely matches offered to an agent, the explicit "Same
person" merge, its undo (split), and the merges platform evidence makes.

carewatch never links authors on a handle or a name by itself: strangers share both, and a
wrong link shows one person another's history, notes and private messages. A matching
handle or name is only a *likely match*, shown with its reason for an agent to confirm.
Every merge and split is a `CustomerMerge` row plus an audit entry naming the actor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from carewatch.domain import Platform
from storage.models import AuditEntry, Author, Customer, CustomerMerge, utcnow

MAX_MATCHES = 10
# A one-word name ("Ann", "Jdoe") is shared by too many people to be worth suggesting.
MIN_NAME_WORDS = 2
PLATFORM_NAMES = {Platform.X.value: "X", Platform.FACEBOOK.value: "Facebook",
                  Platform.INSTAGRAM.value: "Instagram"}


@dataclass(frozen=True, slots=True)
class LikelyMatch:
    """Another customer that may be the same person, and why (never linked until an agent
    says so)."""

    customer_id: int
    accounts: list[tuple[str, str]]  # (platform, "@handle" or name)
    reasons: list[str]

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


@dataclass(frozen=True, slots=True)
class MergedRecord:
    """A customer merged into the one shown: who merged it, why, and its own notes and tags
    (kept on its row, so a split gives them back)."""

    merge_id: int
    customer_id: int
    accounts: list[tuple[str, str]]
    reason: str
    actor: str
    merged_at: datetime
    notes: str
    tags: list[str]


def account_label(handle: str | None, name: str | None) -> str:
    return f"@{handle}" if handle else (name or "?")


def _accounts(session: Session, customer_ids: Sequence[int],
              author_ids: Sequence[int] | None = None) -> dict[int, list[tuple[str, str]]]:
    """{customer: [(platform, label)]} of these customers' authors (or of `author_ids`)."""
    query = select(Author.id, Author.customer_id, Author.platform, Author.handle, Author.name)
    query = query.where(Author.id.in_(author_ids)) if author_ids is not None else \
        query.where(Author.customer_id.in_(customer_ids))
    out: dict[int, list[tuple[str, str]]] = {}
    for _, customer, platform, handle, name in session.execute(query.order_by(Author.id)):
        if customer is not None:
            out.setdefault(customer, []).append((platform, account_label(handle, name)))
    return out


def _split_pairs(session: Session, customer_id: int) -> set[int]:
    """Customers an agent already said are not this person (a split merge, either way)."""
    rows = session.execute(
        select(CustomerMerge.customer_id, CustomerMerge.merged_id)
        .where(CustomerMerge.split_at.is_not(None),
               or_(CustomerMerge.customer_id == customer_id,
                   CustomerMerge.merged_id == customer_id))).all()
    return {a if b == customer_id else b for a, b in rows}


def likely_matches(session: Session, customer_id: int, *,
                   limit: int = MAX_MATCHES) -> list[LikelyMatch]:
    """Other customers with the same handle (any case) on another platform, or the same
    full name, as one of this customer's accounts; each with its reasons. Index-backed
    (lower(handle), name) and bounded."""
    mine = session.execute(
        select(Author.platform, Author.handle, Author.name)
        .where(Author.customer_id == customer_id, Author.is_brand.is_(False))).all()
    handles: dict[str, set[str]] = {}
    names: dict[str, set[str]] = {}
    for platform, handle, name in mine:
        if handle:
            handles.setdefault(handle.lower(), set()).add(platform)
        if name and len(name.split()) >= MIN_NAME_WORDS:
            names.setdefault(name, set()).add(platform)
    reasons: dict[int, list[str]] = {}
    base = select(Author.customer_id, Author.platform, Author.handle, Author.name).where(
        Author.customer_id.is_not(None), Author.customer_id != customer_id,
        Author.is_brand.is_(False))
    if handles:
        for other, platform, handle, _ in session.execute(
                base.where(func.lower(Author.handle).in_(sorted(handles))).limit(limit * 5)):
            ours = handles[(handle or "").lower()] - {platform}
            # The same handle on the same platform is another account, not a match.
            if ours and other is not None:
                reasons.setdefault(other, []).append(
                    f"same handle @{handle} on {_names(ours | {platform})}")
    if names:
        for other, platform, _, name in session.execute(
                base.where(Author.name.in_(sorted(names))).limit(limit * 5)):
            if other is None or name is None:  # the WHERE excludes both
                continue
            reasons.setdefault(other, []).append(
                f"same name \u201c{name}\u201d on {_names(names[name] | {platform})}")
    for refused in _split_pairs(session, customer_id):
        reasons.pop(refused, None)
    chosen = sorted(reasons, key=lambda c: (-len(reasons[c]), c))[:limit]
    accounts = _accounts(session, chosen)
    return [LikelyMatch(c, accounts.get(c, []), list(dict.fromkeys(reasons[c])))
            for c in chosen]


def _names(platforms: set[str]) -> str:
    return " and ".join(PLATFORM_NAMES.get(p, p) for p in sorted(platforms))


def merge_customers(session: Session, keep_id: int, merged_id: int, *, actor: str,
                    reason: str, author_ids: Sequence[int] | None = None) -> CustomerMerge:
    """Make `merged_id`'s authors (or only `author_ids` of them) part of `keep_id`: the
    explicit "Same person" of an agent, or platform evidence. `merged_id` keeps its own row,
    notes and tags for a later split. Audited with the actor and the reason."""
    if keep_id == merged_id:
        raise ValueError("a customer cannot be merged with itself")
    if session.get(Customer, keep_id) is None or session.get(Customer, merged_id) is None:
        raise ValueError("that customer no longer exists")
    query = select(Author.id).where(Author.customer_id == merged_id)
    if author_ids is not None:
        query = query.where(Author.id.in_(list(author_ids)))
    moving = list(session.execute(query.order_by(Author.id)).scalars())
    if not moving:
        raise ValueError("that customer has no accounts left: it was merged already")
    session.execute(update(Author).where(Author.id.in_(moving)).values(customer_id=keep_id))
    merge = CustomerMerge(customer_id=keep_id, merged_id=merged_id, author_ids=moving,
                          reason=reason[:300], actor=actor, merged_at=utcnow())
    session.add(merge)
    session.flush()
    session.add(AuditEntry(actor=actor, action="customer_merged", target=f"customer:{keep_id}",
                           details={"merge": merge.id, "merged": merged_id, "authors": moving,
                                    "reason": merge.reason}))
    return merge


def _absorbed(session: Session, customer_id: int) -> list[CustomerMerge]:
    """The live merges into this customer, also through customers merged into it before
    they were merged here (a chain), newest first."""
    found: list[CustomerMerge] = []
    frontier, seen = [customer_id], {customer_id}
    while frontier:
        rows = session.execute(
            select(CustomerMerge).where(CustomerMerge.customer_id.in_(frontier),
                                        CustomerMerge.split_at.is_(None))
        ).scalars().all()
        found.extend(rows)
        frontier = [m.merged_id for m in rows if m.merged_id not in seen]
        seen.update(frontier)
    return sorted(found, key=lambda m: (m.merged_at, m.id), reverse=True)


def merged_records(session: Session, customer_id: int) -> list[MergedRecord]:
    """The merges behind the accounts this customer shows now, each one a split away."""
    out: list[MergedRecord] = []
    for merge in _absorbed(session, customer_id):
        here = list(session.execute(
            select(Author.id).where(Author.id.in_(merge.author_ids),
                                    Author.customer_id == customer_id)).scalars())
        merged = session.get(Customer, merge.merged_id)
        if not here or merged is None:
            continue
        accounts = _accounts(session, [], here)
        out.append(MergedRecord(
            merge_id=merge.id, customer_id=merge.merged_id,
            accounts=accounts.get(customer_id, []), reason=merge.reason, actor=merge.actor,
            merged_at=merge.merged_at, notes=merged.notes or "", tags=list(merged.tags or [])))
    return out


def split_merge(session: Session, customer_id: int, merge_id: int, *, actor: str) -> list[int]:
    """Undo a merge shown on `customer_id`: its accounts go back to the customer they were
    merged from (with its own notes and tags), and the pair is not offered again. Returns the
    author ids moved. Audited with the actor."""
    merge = session.get(CustomerMerge, merge_id)
    if merge is None or merge.split_at is not None:
        raise ValueError("that merge was split already")
    if merge.id not in {m.id for m in _absorbed(session, customer_id)}:
        raise ValueError("that merge is not part of this customer")
    moving = list(session.execute(
        select(Author.id).where(Author.id.in_(merge.author_ids),
                                Author.customer_id == customer_id)).scalars())
    if moving:
        session.execute(update(Author).where(Author.id.in_(moving))
                        .values(customer_id=merge.merged_id))
    merge.split_at = utcnow()
    merge.split_by = actor
    session.add(AuditEntry(actor=actor, action="customer_split",
                           target=f"customer:{customer_id}",
                           details={"merge": merge.id, "back_to": merge.merged_id,
                                    "authors": moving}))
    return moving
