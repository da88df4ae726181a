"""The responder: claim a due reply, send it once, record the outcome in one transaction.

The sequence for one reply, and why each step is where it is:

1. **Claim** (short write transaction, committed): `queued` → `sending` with a random claim
   token and a lease (storage.outbox.claim_next, database time). Only the lease holder
   sends. While it works on the reply, a heartbeat thread renews the lease
   (carewatch.heartbeat), and no single platform call can outlast the lease (see
   `request_cap`), so two responders never both hold a reply.
2. **Reconcile** when an earlier attempt may have reached the platform, i.e. the reply
   carries a doubt (`Reply.doubt`: `timeout`, `server_error` for any 5xx, `unknown` for a
   dropped connection or a responder that died mid-attempt, which a claim taken over from
   an expired lease also means): look for the brand's reply where it went
   (`find_existing`), skip what is recorded for other replies, and record the first match
   as sent, never resend. A read-back the platform refuses for good (the comment was
   deleted, Graph code 100, X 404, no page configured) fails the reply with that reason.
3. **Count the attempt** (committed BEFORE the call, conditional on still holding the claim)
   with the doubt `unknown`: after a crash or a kill, that is what forces step 2 on the
   next run. The call's outcome then replaces the doubt (stored with a release, a failure
   or the record).
4. **Send**, then **record** in ONE transaction: the platform's id, `sent`, the mention's
   status (`replied` / `private`) and `first_response_at`, `Customer.last_agent`, audit rows.
   A move to private also records the conversation it went to (`conversation_ref`); a
   message in a private conversation answers every open item of the customer in it.

A message in a private conversation is checked against the conversation's messaging window
right before each attempt: the window gives the platform's messaging type and tag, and a
window that closed while the message was queued fails it with the window's reason, unsent.

Where step 2 cannot look (the Graph API cannot read back private replies), the resend is
safe because the platform refuses a second private reply on a comment with code 10900, which
is recorded as sent ("already replied") when an earlier attempt of ours was uncertain. X
direct messages are looked up in the DM conversation when the API allows it; where it does
not, a DM with any doubt (a timeout, a 5xx, a kill or a restart mid-send) is marked failed
with a reason saying where to look: at most once, never twice. A resend of an X reply that
X refuses as "duplicate content" after a read-back found nothing is read back once more
(search lags behind writes) and recorded as sent with the tweet found.

Transient failures are retried a few times inline with short backoff, then handed back to
the queue with `next_attempt_at` so the loop is never blocked; permanent ones fail with a
reason an agent understands.

Test hook: with `CAREWATCH_TEST_CRASH_AFTER_SEND=1` in the environment the process SIGKILLs
itself right after a platform write returned and before it is recorded; the crash tests use
it to prove step 2. Nothing else reads it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import requests
from sqlalchemy.orm import Session

from carewatch.domain import ReplyKind, ReplyState, Status
from carewatch.errors import (
    MissingCredentials,
    PermanentError,
    PlatformError,
    RateLimited,
    TokenRevoked,
    TransientError,
)
from carewatch.heartbeat import Heartbeat
from carewatch.log import get_logger
from carewatch.platforms import spec_for
from carewatch.retry import RetryPolicy, classify
from carewatch.settings import Settings
from responders.audit import audit
from responders.base import (
    AlreadyReplied,
    Doubt,
    DuplicateContent,
    MentionInfo,
    OutboundReply,
    Sender,
    SentRef,
    Unverifiable,
    is_rule_actor,
)
from responders.conversation import conversation_window
from responders.queue import mention_info
from responders.senders import default_senders
from storage import outbox as q
from storage.db import Database
from storage.models import Customer, Mention, Reply, utcnow

log = get_logger(__name__)

CRASH_HOOK = "CAREWATCH_TEST_CRASH_AFTER_SEND"
INLINE_TRIES = 3            # attempts per claim before handing back to the queue
INLINE_RATE_LIMIT_WAIT = 10.0
NOTE_DEFER = timedelta(seconds=5)
MIN_LEASE = timedelta(seconds=60)
#: Timeouts one platform call can run into in a row: the clients' sessions give connecting
#: and reading `http_timeout` each and never retry a request themselves.
TIMEOUTS_PER_CALL = 2


def request_cap(settings: Settings) -> timedelta:
    """The longest one platform call can take before it fails with a timeout (requests'
    read timeout bounds each wait for the answer's bytes)."""
    return timedelta(seconds=settings.http_timeout * TIMEOUTS_PER_CALL)


def lease_for(settings: Settings) -> timedelta:
    """A claim's lease: a call's cap plus one more timeout of margin, at least a minute."""
    return max(MIN_LEASE, request_cap(settings) + timedelta(seconds=settings.http_timeout))


@dataclass(slots=True)
class ReplyOutcome:
    """What happened to one reply in a run: `sent`, `failed`, `retry` (back in the queue),
    `blocked` (back in the queue, untried: the platform's credentials are not set),
    `deferred` (waits for another reply) or `lost` (another responder took it over)."""

    reply_id: int
    mention: str
    kind: str
    result: str
    message: str = ""
    platform_id: str | None = None
    next_attempt_at: datetime | None = None
    #: Why an attempt may have arrived although it was not recorded (`Doubt`), or None.
    doubt: str | None = None

    def line(self) -> str:
        head = f"reply #{self.reply_id} ({self.kind}) to {self.mention}"
        if self.result == "sent":
            return f"{head}: sent{f' as {self.platform_id}' if self.platform_id else ''}" + (
                f" ({self.message})" if self.message else "")
        if self.result == "blocked":
            return f"{head}: not sent, left in the queue: {self.message}"
        if self.result == "retry":
            when = self.next_attempt_at.strftime("%H:%M:%S") if self.next_attempt_at else "?"
            doubt = (f" [an attempt may have arrived ({self.doubt}): read back before any "
                     "resend]" if self.doubt else "")
            return f"{head}: will retry at {when} UTC: {self.message}{doubt}"
        return f"{head}: {self.result}: {self.message}"


@dataclass(slots=True)
class RunSummary:
    outcomes: list[ReplyOutcome] = field(default_factory=list)

    def count(self, result: str) -> int:
        return sum(1 for o in self.outcomes if o.result == result)

    @property
    def sent(self) -> int:
        return self.count("sent")

    @property
    def failed(self) -> int:
        return self.count("failed")

    @property
    def retrying(self) -> int:
        return self.count("retry")

    @property
    def blocked(self) -> int:
        return self.count("blocked")

    def line(self) -> str:
        return (f"{self.sent} sent, {self.failed} failed, {self.retrying} to retry, "
                f"{self.count('deferred')} waiting"
                + (f", {self.blocked} blocked by missing credentials" if self.blocked else ""))


#: How long a long-running responder leaves alone a reply it found blocked by missing
#: credentials (its own settings do not change; another process's may).
BLOCKED_RETRY_SECONDS = 60.0


class HeldBack:
    """The replies one long-running responder found blocked by missing credentials, each
    until it may try again. The reply itself stays due at once in the database, so the next
    `respond --once` (or another process) with the credentials set sends it without
    waiting; only the process that lacks them holds off, instead of retrying every round."""

    def __init__(self, seconds: float = BLOCKED_RETRY_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._until: dict[int, float] = {}
        self._lock = threading.Lock()

    def hold(self, reply_id: int) -> None:
        with self._lock:
            self._until[reply_id] = self.clock() + self.seconds

    def held(self) -> set[int]:
        """The reply ids to leave alone now (expired ones are forgotten)."""
        now = self.clock()
        with self._lock:
            self._until = {k: v for k, v in self._until.items() if v > now}
            return set(self._until)


class _Stop(Exception):
    """The claim was lost (lease taken over): stop touching this reply."""


class Outbox:
    """Sends due replies for one database and one configuration."""

    def __init__(self, db: Database, settings: Settings, *,
                 senders: Mapping[str, Sender] | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], datetime] | None = None,
                 stop: threading.Event | None = None,
                 lease: timedelta | None = None) -> None:
        """`clock`: a shifted clock for tests, which leases then use too (by default leases
        use the database's clock). `lease`: shorter leases for tests; never shorter than
        the longest platform call, or a call could outlive its claim."""
        self.db = db
        self.settings = settings
        self.senders = dict(senders) if senders is not None else default_senders(settings)
        self.sleep = sleep
        self.clock = clock or utcnow
        self._shifted = clock is not None
        self.stop = stop or threading.Event()
        self.policy = RetryPolicy.from_settings(settings)
        self.lease = lease or lease_for(settings)
        if self.lease <= request_cap(settings):
            raise ValueError(f"a lease of {self.lease.total_seconds():g}s does not outlast one "
                             f"platform call ({request_cap(settings).total_seconds():g}s)")

    def _lease_now(self) -> datetime | None:
        """The time leases are measured from: None is the database's clock."""
        return self.clock() if self._shifted else None

    # ------------------------------------------------------------------ loop
    def run_due(self, *, limit: int = 50, held_back: HeldBack | None = None) -> RunSummary:
        """Attempt each due reply once. `held_back`: a long-running responder's memory of the
        replies it found blocked by missing credentials (left alone for a while; recorded
        there)."""
        summary = RunSummary()
        seen: set[int] = held_back.held() if held_back is not None else set()
        while len(summary.outcomes) < limit and not self.stop.is_set():
            with self.db.write() as session:
                claim = q.claim_next(session, now=self._lease_now(), lease=self.lease,
                                     exclude=seen)
            if claim is None:
                break
            seen.add(claim.reply_id)
            outcome = self.process(claim)
            if outcome.result == "blocked" and held_back is not None:
                held_back.hold(claim.reply_id)
            log.info("reply_outcome", reply_id=outcome.reply_id, mention=outcome.mention,
                     kind=outcome.kind, result=outcome.result, detail=outcome.message)
            summary.outcomes.append(outcome)
        return summary

    # ------------------------------------------------------------ one reply
    def _snapshot(self, claim: q.Claim) -> tuple[OutboundReply, MentionInfo, Reply | None]:
        with self.db.session() as session:
            reply = q.reply_with_mention(session, claim.reply_id)
            assert reply is not None
            info = mention_info(reply.mention)
            out = OutboundReply(id=reply.id, kind=reply.kind, text=reply.text,
                                target_id=reply.target_id or "", attempts=reply.attempts,
                                queued_at=reply.queued_at, doubt=reply.doubt,
                                by_person=not is_rule_actor(reply.agent))
            sibling = (q.sibling(session, reply, ReplyKind.PRIVATE.value)
                       if reply.kind == ReplyKind.PUBLIC_NOTE.value else None)
            session.expunge_all()
        return out, info, sibling

    def process(self, claim: q.Claim) -> ReplyOutcome:
        reply, mention, sibling = self._snapshot(claim)
        outcome = ReplyOutcome(reply.id, mention.ref, reply.kind, "lost")
        try:
            with Heartbeat(lambda: self._renew(claim), self.lease.total_seconds() / 3,
                           name=f"lease-reply-{claim.reply_id}"):
                if sibling is not None:
                    waiting = self._note_gate(claim, reply, sibling, outcome)
                    if waiting is not None:
                        return waiting
                sender = self.senders[mention.platform]
                return self._attempts(claim, reply, mention, sender, outcome)
        except _Stop:
            outcome.result, outcome.message = "lost", "another responder took this reply over"
            return outcome

    def _note_gate(self, claim: q.Claim, reply: OutboundReply, sibling: Reply,
                   outcome: ReplyOutcome) -> ReplyOutcome | None:
        """A public note waits for its private message; it is not sent if that failed."""
        if sibling.state == ReplyState.SENT.value:
            return None
        if sibling.state == ReplyState.FAILED.value:
            return self._fail(reply, outcome, "not sent because the private message it "
                              f"announces failed: {sibling.last_error or 'unknown reason'}",
                              doubt=reply.doubt)
        later = max(self.clock() + NOTE_DEFER, sibling.next_attempt_at or self.clock())
        with self.db.write() as session:
            if not q.release(session, claim, next_attempt_at=later, doubt=reply.doubt,
                             error="waiting for the private message to be sent"):
                raise _Stop
        outcome.result, outcome.message = "deferred", "waits for its private message"
        outcome.next_attempt_at = later
        return outcome

    def _attempts(self, claim: q.Claim, reply: OutboundReply, mention: MentionInfo,
                  sender: Sender, outcome: ReplyOutcome) -> ReplyOutcome:
        # Why an earlier attempt may have reached the platform (None: none can have). A claim
        # taken over from a lease that ran out while `sending`: its holder died mid-attempt.
        doubt = Doubt.UNKNOWN.value if claim.stale and reply.attempts > 0 else reply.doubt
        tries = 0
        while True:
            if doubt is not None:
                done = self._reconcile(claim, reply, mention, sender, outcome, doubt)
                if done is not None:
                    return done
            if reply.kind == ReplyKind.MESSAGE.value:
                with self.db.session() as session:
                    window = conversation_window(session, self.settings, mention, self.clock(),
                                                 by_person=reply.by_person)
                if not window.open:
                    return self._fail(reply, outcome, window.reason, doubt=doubt)
                reply = replace(reply, window=window)
            tries += 1
            with self.db.write() as session:
                if not q.begin_attempt(session, claim, now=self._lease_now(), lease=self.lease):
                    raise _Stop
            total = reply.attempts + tries
            try:
                ref = sender.send(reply, mention)
            except DuplicateContent as exc:
                return self._duplicate(claim, reply, mention, sender, outcome, doubt, exc)
            except AlreadyReplied as exc:
                if doubt is not None:
                    return self._record_sent(reply, mention, outcome, SentRef(
                        "", reply.target_id, reconciled=True,
                        note="an earlier attempt had reached the platform: it answered "
                             "'already replied' (Graph 10900)",
                        conversation_ref=exc.conversation_ref), doubt=doubt)
                return self._fail(reply, outcome, str(exc), doubt=None)
            except MissingCredentials as exc:
                # Configuration, not the reply: it stays queued, this attempt uncounted.
                with self.db.write() as session:
                    q.uncount_attempt(session, claim, doubt=doubt)
                return self._blocked(claim, outcome, str(exc), doubt=doubt)
            except Exception as raw:
                error = raw if isinstance(raw, PlatformError) else classify(
                    raw, platform=spec_for(mention.platform).label)
                if isinstance(error, TokenRevoked | PermanentError):
                    return self._fail(reply, outcome, str(error), doubt=doubt)
                if isinstance(error, RateLimited):
                    wait = max(0.0, error.reset_at - time.time()) + 1.0
                    with self.db.write() as session:
                        q.uncount_attempt(session, claim, doubt=doubt)
                    tries -= 1
                    if wait <= INLINE_RATE_LIMIT_WAIT and not self.stop.is_set():
                        self._pause(wait)
                        continue
                    return self._release(claim, outcome, self.clock() + timedelta(
                        seconds=wait), str(error), doubt=doubt)
                assert isinstance(error, TransientError)
                doubt = doubt_of(raw, error)
                if total >= self.policy.max_attempts:
                    if doubt is not None:
                        # The last attempt may have arrived (a 5xx after the write): look
                        # before giving up, so what the platform took is recorded as sent,
                        # never failed for an agent to queue again.
                        found = self._reconcile(claim, reply, mention, sender, outcome, doubt)
                        if found is not None:
                            return found
                    reason = f"gave up after {total} attempts: {error}"
                    if doubt is not None:
                        reason += "; " + unconfirmed_reason(mention, reply, doubt)
                    return self._fail(reply, outcome, reason, doubt=doubt)
                delay = self.policy.backoff(total)
                if tries < INLINE_TRIES and not self.stop.is_set():
                    log.warning("reply_retry", reply_id=reply.id, error=str(error),
                                doubt=doubt, delay_seconds=round(delay, 2))
                    self._pause(min(delay, 5.0))
                    continue
                return self._release(claim, outcome, self.clock() + timedelta(seconds=delay),
                                     str(error), doubt=doubt)
            if os.environ.get(CRASH_HOOK) == "1":
                os.kill(os.getpid(), signal.SIGKILL)
            return self._record_sent(reply, mention, outcome, ref, doubt=None)

    def _duplicate(self, claim: q.Claim, reply: OutboundReply, mention: MentionInfo,
                   sender: Sender, outcome: ReplyOutcome, doubt: str | None,
                   exc: DuplicateContent) -> ReplyOutcome:
        """The platform refused a resend as a copy of what the brand already posted. After an
        uncertain attempt that copy is most likely ours, missed by a read-back that ran
        before the platform showed it: look once more and record what is found."""
        if doubt is None:
            return self._fail(reply, outcome, f"{exc}; nothing was sent", doubt=None)
        found = self._reconcile(claim, reply, mention, sender, outcome, doubt)
        if found is not None:
            return found
        spec = spec_for(mention.platform)
        return self._fail(reply, outcome, (
            f"{exc}, but no such reply of the brand was found where this one goes; look at "
            f"{mention.ref} on {spec.label} and queue it again with other words if it is "
            "not there"), doubt=doubt)

    def _reconcile(self, claim: q.Claim, reply: OutboundReply, mention: MentionInfo,
                   sender: Sender, outcome: ReplyOutcome, doubt: str) -> ReplyOutcome | None:
        """Look for what an earlier attempt may have sent; an outcome ends the reply, None
        means: nothing to adopt, send (again)."""
        if not self._renew(claim):
            raise _Stop
        try:
            found = sender.find_existing(reply, mention)
        except Unverifiable as exc:
            if exc.blind_resend:
                return None  # e.g. Graph private replies: a resend is refused with 10900
            return self._fail(reply, outcome, unverifiable_reason(mention, reply, doubt, exc),
                              doubt=doubt)
        except MissingCredentials as exc:
            return self._blocked(claim, outcome, str(exc), doubt=doubt)
        except Exception as raw:
            error = raw if isinstance(raw, PlatformError) else classify(
                raw, platform=spec_for(mention.platform).label)
            if isinstance(error, TokenRevoked):
                return self._fail(reply, outcome, str(error), doubt=doubt)
            if isinstance(error, PermanentError):
                return self._fail(reply, outcome, (
                    "not sent again: checking whether an earlier attempt arrived failed for "
                    f"good: {error}"), doubt=doubt)
            # Cannot look now: never resend blind; try again later.
            delay = max(self.policy.backoff(max(1, reply.attempts)), 2.0)
            return self._release(claim, outcome, self.clock() + timedelta(seconds=delay),
                                 f"could not check whether an earlier attempt arrived: {error}",
                                 doubt=doubt)
        ours = self._not_taken(reply, found)
        if ours is None:
            return None
        return self._record_sent(reply, mention, outcome, ours, doubt=doubt)

    def _not_taken(self, reply: OutboundReply, found: list[SentRef]) -> SentRef | None:
        """The first match not recorded for another reply (an earlier, deliberate reply with
        the same text must never be adopted)."""
        if not found:
            return None
        with self.db.session() as session:
            taken = q.taken_platform_ids(session, [f.platform_id for f in found],
                                         exclude_reply=reply.id)
        return next((f for f in found if f.platform_id not in taken), None)

    def _renew(self, claim: q.Claim) -> bool:
        with self.db.write() as session:
            return q.renew_lease(session, claim, now=self._lease_now(), lease=self.lease)

    def _pause(self, seconds: float) -> None:
        """Sleep in short steps so a shutdown request is honoured quickly."""
        remaining = seconds
        while remaining > 0 and not self.stop.is_set():
            step = min(remaining, 0.25)
            self.sleep(step)
            remaining -= step

    # ------------------------------------------------------------- records
    def _release(self, claim: q.Claim, outcome: ReplyOutcome, when: datetime, error: str,
                 *, doubt: str | None) -> ReplyOutcome:
        with self.db.write() as session:
            if not q.release(session, claim, next_attempt_at=when, error=error, doubt=doubt):
                raise _Stop
        outcome.result, outcome.message, outcome.next_attempt_at = "retry", error, when
        outcome.doubt = doubt
        return outcome

    def _blocked(self, claim: q.Claim, outcome: ReplyOutcome, problem: str, *,
                 doubt: str | None) -> ReplyOutcome:
        """The platform's credentials are missing: back in the queue and due at once, so
        the reply goes out as soon as a responder has them (failing it lost an agent's reply
        to a configuration mistake; delaying it made the `respond --once` run after the
        fix send nothing). A long-running responder holds off by itself (`HeldBack`)."""
        self._release(claim, outcome, self.clock(), problem, doubt=doubt)
        outcome.result = "blocked"
        return outcome

    def _fail(self, reply: OutboundReply, outcome: ReplyOutcome, reason: str, *,
              doubt: str | None) -> ReplyOutcome:
        with self.db.write() as session:
            row = q.mark_failed(session, reply.id, reason, doubt=doubt)
            if row is not None:
                audit(session, "responder", "reply_failed", outcome.mention,
                      reply_id=reply.id, kind=reply.kind, agent=row.agent, reason=reason,
                      doubt=doubt)
        outcome.result, outcome.message = ("failed", reason) if row is not None else (
            "sent", "already recorded as sent")
        outcome.doubt = doubt if row is not None else None
        return outcome

    def _record_sent(self, reply: OutboundReply, mention: MentionInfo,
                     outcome: ReplyOutcome, ref: SentRef, *, doubt: str | None
                     ) -> ReplyOutcome:
        """The platform took it: one transaction records everything that follows from it.
        `doubt`: why it was looked for, kept on the reply when it was found by reconciling."""
        now = self.clock()
        with self.db.write() as session:
            row = q.lock_for_record(session, reply.id)
            assert row is not None
            if row.state == ReplyState.SENT.value:
                outcome.result, outcome.platform_id = "sent", row.platform_id
                outcome.message = "already recorded"
                return outcome
            row.state = ReplyState.SENT.value
            row.platform_id = ref.platform_id or None
            row.target_id = ref.target_id or row.target_id
            row.sent_at = now
            row.claim_token = None
            row.lease_until = None
            row.next_attempt_at = None
            row.last_error = ref.note
            row.conversation_ref = ref.conversation_ref or row.conversation_ref
            row.doubt = doubt if ref.reconciled else None
            agent = row.agent or "responder"
            target = session.get(Mention, row.mention_pk)
            assert target is not None
            answered = [target]
            if row.kind == ReplyKind.MESSAGE.value and target.thread_pk is not None:
                answered += [item for item in q.open_items_in_conversation(
                    session, target.thread_pk, before=now) if item.id != target.id]
            for item in answered:
                _mark_answered(session, item, row, now)
            if target.author is not None and target.author.customer_id is not None:
                customer = session.get(Customer, target.author.customer_id)
                # A rule's automatic answer leaves the customer with the person who helped.
                if customer is not None and row.agent and not is_rule_actor(row.agent):
                    customer.last_agent = row.agent
            audit(session, agent, "reply_sent", mention.ref, at=now, reply_id=row.id,
                  kind=row.kind, platform_id=row.platform_id, target_id=row.target_id,
                  reconciled=ref.reconciled or None, note=ref.note,
                  conversation_ref=row.conversation_ref, doubt=row.doubt)
        outcome.result, outcome.platform_id = "sent", ref.platform_id or None
        outcome.message = ref.note or ""
        return outcome


def doubt_of(raw: BaseException, error: TransientError) -> str:
    """The doubt a transient failure of a write leaves: a 5xx or a transient error the
    platform answered is `server_error` (it may come after the write), no answer in time is
    `timeout`, anything else (a dropped connection, an unreadable answer) `unknown`."""
    if error.code is not None:
        return Doubt.SERVER_ERROR.value
    cause: BaseException | None = raw
    while cause is not None:
        if isinstance(cause, requests.Timeout):
            return Doubt.TIMEOUT.value
        cause = cause.__cause__ or cause.__context__
    return Doubt.UNKNOWN.value


def unverifiable_reason(mention: MentionInfo, reply: OutboundReply, doubt: str,
                        exc: Unverifiable) -> str:
    """Why a reply that may have arrived, and cannot be checked, is failed rather than
    resent, and where the agent looks instead."""
    spec = spec_for(mention.platform)
    what = {ReplyKind.PRIVATE.value: spec.private.name,
            ReplyKind.MESSAGE.value: "message"}.get(reply.kind, "reply")
    why = {Doubt.TIMEOUT.value: f"{spec.label} did not answer in time",
           Doubt.SERVER_ERROR.value: f"{spec.label} answered with a server error, which can "
                                     "come after the message was taken"}.get(
        doubt, "the responder stopped (or the connection dropped) while sending it")
    who = spec.format_handle(mention.author_handle or mention.author_external_id or "")
    return (f"{why}, and {spec.label} offers no way to check whether the {what} arrived "
            f"({exc}); look at the conversation with {who} and queue it again if it is not "
            "there")


def unconfirmed_reason(mention: MentionInfo, reply: OutboundReply, doubt: str) -> str:
    """Where to look for a reply failed after an uncertain last attempt that could not be
    confirmed (none found where it goes, or no way to look): it may still have arrived."""
    spec = spec_for(mention.platform)
    if reply.kind in (ReplyKind.PRIVATE.value, ReplyKind.MESSAGE.value):
        who = spec.format_handle(mention.author_handle or mention.author_external_id or "")
        where = f"the conversation with {who}"
    else:
        where = f"{mention.ref} on {spec.label}"
    return (f"the last attempt may have arrived ({doubt}) although it could not be "
            f"confirmed: look at {where} before queueing it again")


def _mark_answered(session: Session, item: Mention, row: Reply, now: datetime) -> None:
    """What a sent reply does to an item it answers: its status (`private` for a move to
    private, else `replied`; a closed item stays closed), the first response time, and the
    sending agent as assignee when nobody was on it; each change audited."""
    agent = row.agent or "responder"
    ref = f"{item.platform}:{item.external_id}"
    new_status = (Status.PRIVATE if row.kind == ReplyKind.PRIVATE.value
                  else Status.REPLIED).value
    keep = {Status.CLOSED.value} | (
        {Status.PRIVATE.value} if new_status == Status.REPLIED.value else set())
    if item.status not in keep and item.status != new_status:
        audit(session, agent, "status_changed", ref, at=now, old=item.status, new=new_status,
              reason=f"reply #{row.id} sent")
        item.status = new_status
    if item.first_response_at is None:
        item.first_response_at = now
    if item.assignee is None and row.agent:
        item.assignee = row.agent
        audit(session, agent, "assigned", ref, at=now, assignee=row.agent, reason="replied")
    item.updated_at = now


def run_due(db: Database, settings: Settings, *, now: datetime | None = None, limit: int = 50,
            senders: Mapping[str, Sender] | None = None,
            stop: threading.Event | None = None,
            held_back: HeldBack | None = None) -> RunSummary:
    """Send every reply that is due, once; the scheduler job and `carewatch respond`.

    `now` shifts the responder's clock (tests use it to expire leases without waiting).
    `held_back`: a long-running loop's memory of replies blocked by missing credentials.
    """
    clock: Callable[[], datetime] = utcnow
    if now is not None:
        offset = now - utcnow()

        def clock() -> datetime:
            return utcnow() + offset
    return Outbox(db, settings, senders=senders, clock=clock, stop=stop).run_due(
        limit=limit, held_back=held_back)
