"""Named queries behind teamwork (responders.teamwork): routing returning customers and the
canned replies agents fill in.

Assignment and status changes themselves are attribute changes on a `Mention` the caller
already holds (loaded with `storage.repository.mention_by_ref`), written with an audit row in
the caller's transaction; only the lookups that need a statement live here.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from carewatch.domain import Status
from storage.models import Author, CannedReply, Customer, Mention


def routable_to_last_agent(session: Session, mention_ids: Sequence[int]) -> list[
        tuple[Mention, str]]:
    """(mention, agent) for each of these mentions that is new, unassigned, not the brand's
    own, and whose author belongs to a customer some agent helped before (on any channel).

    The agent is `Customer.last_agent`; whether that agent is still a user is the caller's
    check (`storage.users.existing_usernames`)."""
    rows = session.execute(
        select(Mention, Customer.last_agent)
        .join(Author, Mention.author_pk == Author.id)
        .join(Customer, Author.customer_id == Customer.id)
        .where(Mention.id.in_(mention_ids), Mention.is_own.is_(False),
               Mention.assignee.is_(None), Mention.status == Status.NEW.value,
               Customer.last_agent.is_not(None))
    ).all()
    return [(mention, agent) for mention, agent in rows]


def canned_reply_names(session: Session) -> set[str]:
    """Names of the stored canned replies: seeding from `carewatch.toml` adds only the
    missing ones, so edits made in the dashboard survive a restart."""
    return set(session.execute(select(CannedReply.name)).scalars())


def canned_reply_by_name(session: Session, name: str) -> CannedReply | None:
    """The canned reply called exactly `name` (names are unique), or None."""
    return session.execute(
        select(CannedReply).where(CannedReply.name == name)).scalar_one_or_none()
