"""The `[[rules]]` engine: each new item, once, gets the actions of every rule it matches.

Where it runs, and why here: rules act like a person on the team (assign, tag, queue a
reply), so they live with the responders; the listener must not import responders, so the
shell (`carewatch.cli.jobs.routing_hook`) hands the listener's ingestor a callable that runs
them on the ids of each stored page, right after the page (already scored and given its
topic) is committed. Polling and the webhook receiver store through that one ingestor.

Once per item, across restarts and processes: all of an item's rule actions are written in
ONE transaction together with its `mention_routing` row (storage.routing.claim_routing), and
an item that already has that row is skipped. A process killed between storing a page and
routing it leaves items without the row; `catch_up` at the listener's start routes them.

Replies a rule queues are the brand's automatic answers, never a person's:
- they wait for a manager's approval unless the rule says `approval = false`, and always
  when the item is negative or high urgency (`RuleItem.sensitive`);
- in a private conversation they respect the messaging window and never use the
  `HUMAN_AGENT` tag (`by_person=False`, here and again at send time in the outbox);
- at most one automatic answer per item (the first rule that queues one wins), and in a
  private conversation none while an earlier automatic answer there still waits.

Every action is audited with the rule as the actor (`rule:<name>`), and each matching rule
leaves a `rule_runs` row ("assign maria, tag bags") the dashboard shows as the reason.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from carewatch.domain import MentionRef, ReplyKind, ReplyState, Role, Visibility
from carewatch.log import get_logger
from carewatch.settings import ConfigError, RuleConfig, Settings
from responders.audit import audit
from responders.base import RULE_ACTOR_PREFIX, rule_actor
from responders.queue import add_replies, reply_kind
from responders.rule_conditions import RuleItem, matches
from responders.rules import RuleViolation
from responders.teamwork import canned_text, put_on
from storage.canned import canned_reply_names
from storage.db import Database
from storage.models import Mention, User, utcnow
from storage.routing import (
    automatic_answer_waiting,
    claim_routing,
    next_member,
    record_rule_run,
    set_routing,
    unrouted_recent,
)
from storage.topics import topic_names
from storage.users import is_locked

log = get_logger(__name__)
#: How alike (difflib's ratio, case ignored) an unknown topic in a rule must be to a known
#: one to be taken for a typo of it and refused ("Lost Lugage" ~ "Lost Luggage": 0.96).
TOPIC_TYPO_CUTOFF = 0.8

#: Roles that take items from a team's rotation (analysts and admins do not work the inbox).
TEAM_ROLES = (Role.AGENT.value, Role.MANAGER.value)
#: How far back `catch_up` looks for items a dead process stored but did not route.
CATCH_UP = timedelta(hours=1)
#: Items routed in one transaction (each in a savepoint of its own).
BATCH = 100


def rule_item(mention: Mention) -> RuleItem:
    return RuleItem(
        platform=mention.platform, visibility=mention.visibility, text=mention.text,
        topic=mention.topic, sentiment_label=mention.sentiment_label,
        urgency=mention.urgency, urgency_reasons=mention.urgency_reasons or "",
        lang=mention.lang, followers=mention.author.followers if mention.author else None)


@dataclass(slots=True)
class _State:
    """One item's routing while its rules run."""

    tags: set[str] = field(default_factory=set)
    priority: str | None = None
    answered: bool = False


class RuleEngine:
    """Applies `settings.rules` to new items. `clock` gives the time business hours are
    judged at (tests pin it)."""

    def __init__(self, db: Database, settings: Settings, *,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.teams = {team.name: list(team.members) for team in settings.teams}

    def apply(self, mention_ids: Iterable[int]) -> dict[int, list[str]]:
        """Run the rules on each item the rules have not run on yet. Returns {item id: names
        of the rules that matched} for the items routed by this call.

        A page's items share one transaction (a savepoint each, so one item's failure is
        logged and leaves only that item unrouted, for `catch_up`); if the transaction
        itself fails, each item is tried again on its own."""
        routed: dict[int, list[str]] = {}
        if not self.settings.rules:
            return routed
        ids = sorted(set(mention_ids))
        for start in range(0, len(ids), BATCH):
            batch = ids[start:start + BATCH]
            try:
                routed.update(self._apply_batch(batch))
            except Exception:
                log.exception("rules_batch_failed", items=len(batch))
                for mention_id in batch:
                    try:
                        routed.update(self._apply_batch([mention_id]))
                    except Exception:
                        log.exception("rules_failed", mention_id=mention_id)
        if routed:
            log.info("rules_applied", items=len(routed),
                     matched=sum(1 for names in routed.values() if names))
        return routed

    def catch_up(self) -> dict[int, list[str]]:
        """Route the recent items a process stored but died before routing."""
        if not self.settings.rules:
            return {}
        with self.db.session() as session:
            ids = unrouted_recent(session, since=utcnow() - CATCH_UP)
        return self.apply(ids)

    # ------------------------------------------------------------------ one item
    def _apply_batch(self, ids: list[int]) -> dict[int, list[str]]:
        now = self.clock()
        routed: dict[int, list[str]] = {}
        with self.db.write() as session:
            mentions = session.execute(
                select(Mention).options(selectinload(Mention.author))
                .where(Mention.id.in_(ids), Mention.is_own.is_(False),
                       Mention.is_echo.is_(False)).order_by(Mention.id)).scalars().all()
            for mention in mentions:
                try:
                    with session.begin_nested():
                        matched = self._route(session, mention, now)
                except Exception:
                    log.exception("rules_failed", mention_id=mention.id)
                    continue
                if matched is not None:
                    routed[mention.id] = matched
        return routed

    def _route(self, session: Session, mention: Mention, now: datetime) -> list[str] | None:
        """The item's rules, or None when they already ran on it."""
        if not claim_routing(session, mention.id):
            return None
        item = rule_item(mention)
        state = _State()
        matched: list[str] = []
        for rule in self.settings.rules:
            if not matches(rule.when, item, hours=self.settings.hours, now=now):
                continue
            done = self._act(session, mention, item, rule, state)
            if record_rule_run(session, mention.id, rule.name, done):
                audit(session, rule_actor(rule.name), "rule_applied", _ref(mention),
                      rule=rule.name, actions=done)
                matched.append(rule.name)
        set_routing(session, mention.id, tags=sorted(state.tags), priority=state.priority)
        return matched

    def _act(self, session: Session, mention: Mention, item: RuleItem, rule: RuleConfig,
             state: _State) -> list[str]:
        """Do the rule's actions on the item; returns them as short phrases."""
        then, actor, ref = rule.then, rule_actor(rule.name), _ref(mention)
        done: list[str] = []
        if then.assign:
            done.append(self._assign(session, mention, then.assign, actor))
        for tag in then.tag or []:
            if tag not in state.tags:
                state.tags.add(tag)
                audit(session, actor, "tagged", ref, tag=tag)
            done.append(f"tag {tag}")
        if then.priority:
            audit(session, actor, "priority_set", ref, old=state.priority, new=then.priority)
            state.priority = then.priority
            done.append(f"priority {then.priority}")
        if then.reply_canned:
            done.append(self._answer(session, mention, item, rule, state,
                                     [(reply_kind(mention), then.reply_canned)], "reply"))
        if then.move_private:
            done.append(self._answer(session, mention, item, rule, state,
                                     self._private_items(mention, rule), "move to private"))
        return done

    def _assign(self, session: Session, mention: Mention, name: str, actor: str) -> str:
        if mention.assignee:
            return f"assign skipped: already with {mention.assignee}"
        team = self.teams.get(name)
        if team is not None:
            agent = next_member(session, name, _available(session, team))
            if agent is None:
                return f"assign skipped: nobody in team {name} is available"
            put_on(session, mention, agent, actor, team=name)
            return f"assign {agent} (team {name})"
        if not _available(session, [name]):
            return f"assign skipped: {name} is not available"
        put_on(session, mention, name, actor)
        return f"assign {name}"

    @staticmethod
    def _private_items(mention: Mention, rule: RuleConfig) -> list[tuple[str, str]]:
        """(kind, canned name) of a move to private: the private message, then the public
        acknowledgement it announces; in a private conversation, one message in it."""
        then = rule.then
        assert then.move_private is not None
        if mention.visibility == Visibility.PRIVATE.value:
            return [(ReplyKind.MESSAGE.value, then.acknowledge or then.move_private)]
        items = [(ReplyKind.PRIVATE.value, then.move_private)]
        if then.acknowledge:
            items.append((ReplyKind.PUBLIC_NOTE.value, then.acknowledge))
        return items

    def _answer(self, session: Session, mention: Mention, item: RuleItem, rule: RuleConfig,
                state: _State, items: list[tuple[str, str]], what: str) -> str:
        """Queue the rule's automatic answer (at most one per item), for approval unless the
        rule waives it and the item is neither negative nor high urgency."""
        if state.answered:
            return f"{what} skipped: a rule already queued an answer"
        if (mention.visibility == Visibility.PRIVATE.value and mention.thread_pk is not None
                and automatic_answer_waiting(session, mention.thread_pk, RULE_ACTOR_PREFIX)):
            return f"{what} skipped: an automatic answer in this conversation is waiting"
        actor = rule_actor(rule.name)
        held = rule.then.approval or item.sensitive
        reply_state = (ReplyState.PENDING_APPROVAL if held else ReplyState.QUEUED).value
        signer = mention.assignee or self.settings.brand.name
        digest = hashlib.sha256(rule.name.encode()).hexdigest()[:16]
        try:
            with session.begin_nested():  # a refused answer leaves the other actions
                texts = [(kind, canned_text(session, name, mention, signer), kind.replace(
                    "_", " ")) for kind, name in items]
                add_replies(session, self.settings, MentionRef.parse(_ref(mention)), mention,
                            texts, agent=actor, state=reply_state, by_person=False,
                            keys=[f"rule:{mention.id}:{digest}:{kind}" for kind, _ in items])
        except RuleViolation as exc:
            audit(session, actor, "rule_reply_skipped", _ref(mention), reason=str(exc))
            return f"{what} skipped: {exc}"
        state.answered = True
        names = " + ".join(repr(name) for _, name in items)
        why = ("waiting for approval" if rule.then.approval
               else "waiting for approval: negative or urgent item" if held else "queued")
        return f"{what} {names} ({why})"


def _ref(mention: Mention) -> str:
    return f"{mention.platform}:{mention.external_id}"


def _available(session: Session, names: list[str]) -> list[str]:
    """The named users who can take items now: they exist, work the inbox, are not locked."""
    now = utcnow()
    users = session.execute(select(User).where(User.username.in_(names))).scalars()
    return [u.username for u in users if u.role in TEAM_ROLES and not is_locked(u, now)]


# ------------------------------------------------------------------ start-up check
def check_rule_references(db: Database, settings: Settings) -> None:
    """Refuse to start (ConfigError, one line naming the key) when a rule names a user, team
    member, canned reply or topic that does not exist. Canned replies may come from the file
    or the dashboard; users from `carewatch users add` or the Settings page; topics from
    `[[topics]]` or `carewatch topics learn` (see `check_rule_topics`)."""
    if not settings.rules and not settings.teams:
        return
    with db.session() as session:
        users = set(session.execute(select(User.username)).scalars())
        canned = canned_reply_names(session) | {c.name for c in settings.canned_replies}
        current = topic_names(session, settings)
    check_rule_topics(settings, current)
    for index, team in enumerate(settings.teams):
        for member in team.members:
            if member not in users:
                raise ConfigError(f"teams[{index}].members: unknown user {member!r} in team "
                                  f"{team.name!r} (add it with 'carewatch users add')")
    teams = {team.name for team in settings.teams}
    for index, rule in enumerate(settings.rules):
        then = rule.then
        if then.assign and then.assign not in teams and then.assign not in users:
            raise ConfigError(f"rules[{index}].then.assign: unknown user or team "
                              f"{then.assign!r} in rule {rule.name!r} (add the user with "
                              "'carewatch users add', or a [[teams]] entry)")
        for key in ("reply_canned", "acknowledge", "move_private"):
            name = getattr(then, key)
            if name and name not in canned:
                raise ConfigError(f"rules[{index}].then.{key}: unknown canned reply {name!r} "
                                  f"in rule {rule.name!r} (add it as [[canned_replies]])")


def check_rule_topics(settings: Settings, current: list[str]) -> None:
    """A rule's `when.topics` naming a near miss of an existing topic (matched as the engine
    matches them, ignoring case; `difflib` similarity >= TOPIC_TYPO_CUTOFF) is a typo that
    would make the rule silently never fire: ConfigError, one line with the likely topic and
    the known ones.

    Any other unknown name only warns (a log line at start), because the rule is not wrong,
    only idle until the topic exists: topics are often learned after the rules are written
    (`carewatch topics learn` on what the listener has collected), so refusing would stop
    the very listening that teaches them; and a topic a later `topics learn` or `[[topics]]`
    edit dropped must not stop a working set-up from starting."""
    known = {name.casefold(): name for name in current}
    for index, rule in enumerate(settings.rules):
        for topic in rule.when.topics or []:
            folded = topic.casefold()
            if folded in known:
                continue
            near = difflib.get_close_matches(folded, list(known), n=1,
                                             cutoff=TOPIC_TYPO_CUTOFF)
            if near:
                raise ConfigError(
                    f"rules[{index}].when.topics: unknown topic {topic!r} in rule "
                    f"{rule.name!r}: did you mean {known[near[0]]!r}? (the known topics are: "
                    f"{', '.join(current)})")
            log.warning("rule_topic_not_yet_known", rule=rule.name, topic=topic,
                        known=current,
                        hint="it matches nothing until a topic of that name is learned "
                             "('carewatch topics learn') or configured ([[topics]])")
