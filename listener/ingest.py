"""Poll → score → one transaction (upsert mentions, link and route private conversations,
cursor) → alert hook.

The order matters: a page and the cursor that follows it are committed together, so after a
crash the stored cursor is never ahead of the stored data, and the upsert on
(platform, external_id) makes the replay harmless. Alerts run after the commit and can never
stop listening. A failing source is marked in the `sources` table with one line that names it
and the next step; the other sources go on.

Several listener processes may share the database: a poll runs only under the source's lease
(`storage.sources.claim_source`, renewed by `listener.lease.lease_keeper`), and each page's
cursor is saved compare-and-set, so a poll that another process has overtaken stops instead
of moving the cursor back.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, configure_mappers

from carewatch.domain import Mention, Page, Score
from carewatch.errors import MissingCredentials, PlatformError, RateLimited, TokenRevoked
from carewatch.log import get_logger, scrub
from carewatch.platforms import spec_for
from carewatch.settings import Settings, SourceConfig
from listener.alerts.base import MentionFacts, aware
from listener.alerts.engine import AlertEngine, Judged
from listener.fetch_worker import FetchWorker, Scored, WorkerLost, silence_limit, to_score
from listener.lease import lease_keeper, process_name
from listener.read_ahead import ReadAhead, stopping
from listener.score_pool import ScoreInput, ScorePool, score_inputs
from listener.scoring import Scorer
from listener.scoring.urgency import REPEAT_CONTACT_CAP, repeat_contact_level
from listener.sources import build_source, source_module
from listener.topics import TopicAssigner
from storage.brand_answers import record_public_brand_answers
from storage.conversations import settle_private_conversations
from storage.customers import recent_contacts
from storage.db import Database, relax_commit_durability
from storage.mentions import UpsertResult, fresh_with_contacts, upsert_mentions
from storage.sources import (
    Claim,
    CursorMoved,
    claim_source,
    lease_holder,
    mark_source_failed,
    mark_source_polled,
    release_source,
    save_cursor,
)

log = get_logger(__name__)

_DEFAULT = object()
WRITE_ATTEMPTS = 4
#: The most pages stored in one transaction on SQLite (`Ingestor._store_scored`, ~100
#: mentions each), and how long after the first of them the listener waits for more: a
#: page reaches the dashboard at most that long after it was fetched and scored (a poll
#: that ends, the usual live case, stores what it has at once).
PAGES_PER_COMMIT = 8
BATCH_WAIT_SECONDS = 0.2
#: How long committed pages' routing hook and alert bookkeeping may wait to run together
#: (`Ingestor._run_held`) during a long poll.
HOOKS_WAIT_SECONDS = 0.5
#: Pages the fetch worker may send beyond those the listener has received: two batches,
#: so it goes on working while a batch is stored. It fetches at most
#: `fetch_worker.FETCH_DEPTH` + 1 more (listener.fetch_worker: how far ahead).
WORKER_AHEAD = 2 * PAGES_PER_COMMIT
LEASE_WAIT_STEP = 0.25
#: Outcomes that are not failures: polled, or left to the database's decision that this run
#: is not needed (the source is not due yet, or another process is polling it).
DONE_STATES = ("ok", "not_due", "yielded")


@dataclass(slots=True)
class PollResult:
    """What one poll of one source did. `state`: ok, not_due, yielded (another process
    polls it), revoked, rate_limited, failed, skipped."""

    source_key: str
    state: str = "ok"
    new: int = 0
    seen: int = 0
    pages: int = 0
    message: str | None = None
    inserted_ids: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state in DONE_STATES

    def summary(self) -> str:
        if self.state == "ok":
            return f"{self.source_key}: {self.new} new, {self.seen} seen again"
        if self.state == "skipped":
            return f"{self.source_key}: skipped: {self.message}"
        if self.state in DONE_STATES:
            return f"{self.source_key}: {self.message}"
        done = f" ({self.new} new before it)" if self.new else ""
        return f"{self.source_key}: {self.state.replace('_', ' ')}{done}: {self.message}"


@dataclass(frozen=True, slots=True)
class StoredMention:
    """A mention the current page stored for the first time: its row id and the mention as
    received, with its score."""

    id: int
    mention: Mention


#: A step on each page's newly stored mentions, run after scoring and the upsert, inside the
#: page's transaction (so it happens exactly once per mention: a page that fails or is
#: replayed rolls the step back with the rows, and a replay finds no new mentions). It gets
#: the open session and the page's new mentions; raising fails the page like a failed write.
PageStep = Callable[[Session, Sequence[StoredMention]], None]


def default_scorer(settings: Settings) -> Scorer:
    """The scorer for the configured urgency rules and first-response target."""
    return Scorer(settings.urgency, settings.alerts.first_response_minutes)


def default_alert_engine(db: Database, settings: Settings) -> AlertEngine:
    """The alert engine for the configured detectors and notification targets."""
    return AlertEngine(db, settings)


def revoked_message(config: SourceConfig, error: PlatformError) -> str:
    """One line: which source, which account, what happened, how to reconnect."""
    spec = spec_for(config.platform)
    kind = spec.source_kind(config.kind or "")
    code = f" (code {error.code})" if error.code is not None else ""
    return (f"source {config.key} stopped: the token for {kind.account_label(config)} was "
            f"revoked or expired{code}; to reconnect: "
            f"{kind.reconnect_hint or spec.reconnect_hint}")


class Ingestor:
    """Runs sources and stores what they find. Safe to share between scheduler threads
    (APScheduler runs one poll of a source at a time) and between processes: a poll runs
    only under the source's lease, held as `holder` (default `host:pid`)."""

    def __init__(self, db: Database, settings: Settings, scorer: Any = _DEFAULT,
                 alert_engine: Any = None, *,
                 should_stop: Callable[[], bool] | None = None,
                 source_factory: Callable[..., Any] = build_source,
                 on_new_mentions: Callable[[list[int]], Any] | None = None,
                 holder: str | None = None,
                 page_steps: Sequence[PageStep] = (),
                 score_worker: bool = True) -> None:
        self.db = db
        self.holder = holder or process_name()
        self.settings = settings
        self.scorer = default_scorer(settings) if scorer is _DEFAULT else scorer
        self.alert_engine = alert_engine
        self.should_stop: Callable[[], bool] = should_stop or (lambda: False)
        self.source_factory = source_factory
        # Called with the ids of newly stored mentions after each commit (the CLI routes
        # returning customers to their last agent through it; the listener never imports
        # the responders).
        self.on_new_mentions = on_new_mentions
        # Post-scoring steps on each page's new mentions, in the page's transaction, in
        # order (topics, rules, ...; see `PageStep`). Append to add one.
        self.page_steps: list[PageStep] = list(page_steps)
        # Score page N+1 in a worker process while page N is stored (listener.score_pool).
        self.score_worker = score_worker
        self._revoked: dict[str, str] = {}  # source key -> token fingerprint when revoked
        self._lock = threading.Lock()
        # Topics: each new item's best topic, assigned right after scoring.
        self.topics = TopicAssigner(db, settings) if self.scorer is not None else None

    def prepare(self) -> None:
        """Pay the process's one-time costs now, at start-up, instead of inside its first
        poll: SQLAlchemy's mapper configuration (done at the first ORM use; ~2% of a 20k
        poll's listener CPU) and the topic model's load (`TopicAssigner.refresh`: rebuilt
        and stored first when `[[topics]]` changed; ~2%). Call once the database is
        migrated: `carewatch listen` does, before its first poll. Not calling it only moves
        these costs into the first poll. Never raises for the database: topics are an aid
        (`TopicAssigner.refresh` logs and tries again later)."""
        configure_mappers()
        if self.topics is not None:
            self.topics.refresh()

    # ----------------------------------------------------------------- polling
    def poll_all(self, once: bool = True, *, parallel: bool = True) -> list[PollResult]:
        """Poll every configured source completely once (in parallel: a source waiting out
        a rate limit does not hold the others up)."""
        sources = list(self.settings.sources)
        if not sources:
            return []

        def poll(config: SourceConfig) -> PollResult:
            return self.poll_source(config, scheduled=not once)

        if not parallel or len(sources) == 1:
            return [poll(s) for s in sources]
        with ThreadPoolExecutor(max_workers=len(sources),
                                thread_name_prefix="carewatch-poll") as pool:
            return list(pool.map(poll, sources))

    def poll_source(self, config: SourceConfig, *, scheduled: bool = False) -> PollResult:
        """Poll one source from its stored cursor to the end; never raises for platform
        problems (they are recorded on the source and returned).

        The poll runs under the source's lease, so no other process polls it meanwhile. A
        `scheduled` run polls only when the source is due by the database's clock and
        otherwise does nothing; an explicit run (`listen --once`) polls whether due or not,
        after waiting up to the lease time for another process's poll to end (if it has
        not ended then, the source is left to that process)."""
        key = config.key
        result = PollResult(source_key=key)
        fingerprint = spec_for(config.platform).token_fingerprint(self.settings)
        with self._lock:
            revoked_with = self._revoked.get(key)
        if revoked_with is not None and revoked_with == fingerprint:
            log.info("source_skipped", source=key, reason="token revoked; reconnect first")
            result.state, result.message = "skipped", "token revoked; reconnect first"
            return result
        try:
            claim = self._claim(config, result, scheduled=scheduled)
            if claim is None:
                return result
            # One line when the poll starts (after the claim committed) and one when it
            # ends (before the lease is given back): each process's polls of a source, as
            # time spans inside its lease, for operators and for the several-process test.
            log.info("poll_started", source=key, holder=self.holder)
            try:
                with lease_keeper(self.db, key, self.holder, self.settings.lease_seconds):
                    if self._fetches_in_worker():
                        self._poll_in_worker(config, claim, result)
                    else:
                        self._poll_here(config, claim, result)
            finally:
                log.info("poll_ended", source=key, holder=self.holder, pages=result.pages)
                self._release(key)
        except CursorMoved as exc:
            log.info("poll_superseded", source=key, reason=str(exc))
            result.state = "yielded"
            result.message = "another process moved its cursor first and carries on"
            return result
        except TokenRevoked as exc:
            with self._lock:
                self._revoked[key] = fingerprint
            return self._failed(config, result, "revoked", revoked_message(config, exc),
                                token_state="revoked")
        except RateLimited as exc:
            until = datetime.fromtimestamp(exc.reset_at, UTC).astimezone()
            message = (f"rate limited until {until:%H:%M}; the cursor is kept and the next "
                       "poll carries on")
            return self._failed(config, result, "rate_limited", message, healthy=True)
        except MissingCredentials as exc:
            return self._failed(config, result, "failed", str(exc))
        except PlatformError as exc:
            return self._failed(config, result, "failed", str(exc))
        except Exception as exc:  # a bug or a malformed payload the source did not expect
            log.exception("poll_crashed", source=key)
            detail = (str(exc).strip().splitlines() or [""])[0][:200]
            return self._failed(config, result, "failed",
                                f"{config.platform.value} poll failed: {type(exc).__name__}: "
                                f"{detail}")
        with self._lock:
            self._revoked.pop(key, None)
        with self.db.write() as session:
            mark_source_polled(session, key, config.platform.value,
                               config.kind or "")
        log.info("source_polled", source=key, new=result.new, seen=result.seen,
                 pages=result.pages)
        return result

    def _poll_here(self, config: SourceConfig, claim: Claim, result: PollResult) -> None:
        """Poll in this process: the next page is fetched while this one is stored
        (listener.read_ahead), and scored in a worker process (listener.score_pool)."""
        fetched = threading.Event()
        source = self.source_factory(
            config, self.settings, should_stop=stopping(fetched, self.should_stop))
        with ReadAhead(source.poll(dict(claim.cursor)), name=f"fetch:{config.key}",
                       done=fetched) as pages, self._score_pool() as pool:
            self._store_pages(config, claim, pages, result, pool)

    def _fetches_in_worker(self) -> bool:
        """Whether the source runs in a fetch worker (listener.fetch_worker): a real source
        and the project's own scorer, or none (stand-ins stay here, where a test sees their
        side effects), on a platform that forks."""
        return (self.score_worker and os.name == "posix"
                and self.source_factory is build_source
                and (self.scorer is None or isinstance(self.scorer, Scorer)))

    def _poll_in_worker(self, config: SourceConfig, claim: Claim,
                        result: PollResult) -> None:
        """Poll with fetching, mapping and scoring in a worker process and storing here, page
        by page with each page's cursor (several pages a transaction on SQLite:
        `_store_scored`). If the worker dies, the poll goes on in this
        process from the cursor stored last (the pages it held are fetched again)."""
        cursor = dict(claim.cursor)

        def open_pages(should_stop: Callable[[], bool]) -> Iterator[Page]:
            source = self.source_factory(config, self.settings, should_stop=should_stop)
            pages: Iterator[Page] = source.poll(cursor)
            return pages

        # Several pages a transaction on SQLite only: there writers take turns anyway, and
        # each commit writes the index pages it touched to the WAL again. On PostgreSQL the
        # new rows' locks of several pages would be taken out of key order (each page's are
        # sorted), so two sources backfilling the same items could deadlock, and it
        # measured no CPU gain there.
        most = PAGES_PER_COMMIT if self.db.dialect == "sqlite" else 1
        # The hooks and alert bookkeeping of committed pages, run together for up to
        # PAGES_PER_COMMIT pages or HOOKS_WAIT_SECONDS (each run costs a few transactions
        # whatever its size), and always before this returns: a poll that ends, the usual
        # live case, routes and alerts at once.
        held = _Held()
        if self.source_factory is build_source:
            # Fully imported here first (waiting for any other thread's import of it to
            # finish): the forked worker then finds it in sys.modules, no import lock taken.
            source_module(config)
        try:
            with FetchWorker(open_pages, self.scorer, self.should_stop,
                             ahead=WORKER_AHEAD,
                             silent_limit=silence_limit(self.settings.http_timeout)
                             ) as worker:
                try:
                    pages = iter(worker)
                    for first in pages:
                        batch = [first]
                        failure: BaseException | None = None
                        until = time.monotonic() + BATCH_WAIT_SECONDS
                        try:  # pages that come within the wait share the transaction
                            while len(batch) < most and worker.ready(
                                    until - time.monotonic()):
                                following = next(pages, None)
                                if following is None:
                                    break
                                batch.append(following)
                        except BaseException as exc:  # raised once the pages before are stored
                            failure = exc
                        self._store_scored(config, claim, batch, result, held)
                        claim.cursor = dict(batch[-1][0].cursor)
                        if failure is not None:
                            raise failure
                        if (held.pages >= PAGES_PER_COMMIT
                                or time.monotonic() - held.since >= HOOKS_WAIT_SECONDS):
                            self._run_held(config.key, held)
                        if self.should_stop():
                            return
                finally:
                    self._run_held(config.key, held)
        except WorkerLost as exc:
            log.warning("fetch_worker_failed", source=config.key, error=str(exc),
                        next_step="polling in-process from the stored cursor")
            self._poll_here(config, claim, result)

    def _claim(self, config: SourceConfig, result: PollResult, *,
               scheduled: bool) -> Claim | None:
        """The source's lease, or None with `result` saying why this run leaves it."""
        # A lease left by a dead process has run out by then (its last renewal came before
        # this wait began); the extra step makes the last try land after the expiry.
        deadline = time.monotonic() + self.settings.lease_seconds + LEASE_WAIT_STEP
        while True:
            with self.db.write() as session:
                claim = claim_source(
                    session, config.key, config.platform.value, config.kind or "",
                    holder=self.holder, lease_seconds=self.settings.lease_seconds,
                    every=config.every, due_only=scheduled)
                holder = None if claim else lease_holder(session, config.key)
            if claim is not None:
                return claim
            waiting = not scheduled and not self.should_stop()
            if waiting and time.monotonic() < deadline:
                time.sleep(LEASE_WAIT_STEP)
                continue
            if holder is None:
                result.state, result.message = "not_due", "not due yet"
            else:
                result.state, result.message = "yielded", f"being polled by {holder}"
            log.debug("source_left", source=config.key, reason=result.message)
            return None

    def _release(self, key: str) -> None:
        try:
            with self.db.write() as session:
                release_source(session, key, self.holder)
        except Exception:  # the lease then simply runs out
            log.exception("lease_release_failed", source=key)

    def _failed(self, config: SourceConfig, result: PollResult, state: str, message: str,
                *, token_state: str | None = None, healthy: bool = False) -> PollResult:
        message = scrub(message)
        result.state, result.message = state, message
        log.warning("source_failed", source=config.key, state=state, error=message)
        try:
            with self.db.write() as session:
                mark_source_failed(session, config.key, config.platform.value,
                                   config.kind or "", message,
                                   token_state=token_state, healthy=healthy)
        except Exception:  # the database itself is down; the log line above still says why
            log.exception("mark_source_failed_failed", source=config.key)
        return result

    # ----------------------------------------------------------------- storing
    def store_mentions(self, source_key: str, mentions: Sequence[Mention]) -> PollResult:
        """Score and store mentions that arrived without a cursor (a webhook delivery).

        The same transaction and after-commit hooks as a polled page, so an item delivered
        and later polled (or delivered twice) is one row. Raises when storing fails after
        the conflict retries: the caller must not acknowledge the delivery then.
        """
        result = PollResult(source_key=source_key)
        self._store_batch(source_key, list(mentions), result)
        return result

    def _score_pool(self) -> AbstractContextManager[ScorePool | None]:
        """A scoring worker for one poll, when scoring can move out of this process: the
        project's own `Scorer` (a stand-in scorer, e.g. a test's probe, stays here, where its
        side effects are seen)."""
        if self.score_worker and isinstance(self.scorer, Scorer):
            return ScorePool(self.scorer)
        return nullcontext()

    def _store_pages(self, config: SourceConfig, claim: Claim, pages: Iterable[Page],
                     result: PollResult, pool: ScorePool | None) -> None:
        """Store the pages in order, each with its cursor, until they end or the poll stops.

        With a scoring worker, page N+1 is scored there while page N is stored here (and the
        read-ahead fetches page N+2): each page is handed to the worker as soon as it
        arrives and stored once the page before it is committed. A page scored ahead and
        never stored (the poll stopped) is fetched again by the next poll from the stored
        cursor, like a page fetched ahead. A fetch error is raised after the page in hand is
        stored, as without the pipeline."""
        if pool is None:
            for page in pages:
                self._store(config, claim, page, result)
                if self.should_stop():
                    return
            return
        ahead: tuple[Page, _Scoring | None] | None = None
        committed: list[StoredMention] = []  # the new mentions of the page stored last
        it = iter(pages)
        while True:
            try:
                following = next(it, None)
            except BaseException:
                if ahead is not None:  # pages before a failed fetch are kept
                    self._store(config, claim, ahead[0], result, ahead=(ahead[1], committed),
                                pool=pool)
                raise
            if following is None:
                break
            scoring = self._start_scoring(following.mentions, pool)
            if ahead is not None:
                committed = self._store(config, claim, ahead[0], result,
                                        ahead=(ahead[1], committed), pool=pool)
                if self.should_stop():
                    return
            ahead = (following, scoring)
        if ahead is not None:
            self._store(config, claim, ahead[0], result, ahead=(ahead[1], committed), pool=pool)

    def _store(self, config: SourceConfig, claim: Claim, page: Page, result: PollResult, *,
               ahead: tuple[_Scoring | None, Sequence[StoredMention]] | None = None,
               pool: ScorePool | None = None) -> list[StoredMention]:
        """Store one page with its cursor; `ahead`: its scoring, started before the page
        stored last (whose new mentions come with it), to be collected now."""
        newest = _newest(page.mentions)

        def save(session: Session, outcomes: Sequence[UpsertResult]) -> None:
            save_cursor(session, claim, page.cursor, new_items=len(outcomes[0].inserted_ids),
                        last_item_at=newest, relax_durability=True)

        if ahead is not None:
            self._finish_scoring(ahead[0], pool, ahead[1])
        new = self._store_batch(config.key, page.mentions, result, in_transaction=save,
                                scored=ahead is not None)
        claim.version += 1  # committed: the stored cursor is this page's now
        return new

    def _store_batch(self, source_key: str, mentions: list[Mention], result: PollResult, *,
                     in_transaction: Callable[[Session, Sequence[UpsertResult]], None]
                     | None = None, scored: bool = False) -> list[StoredMention]:
        """Score (unless `scored` already), then upsert `mentions` in one transaction (with
        `in_transaction`, e.g. the cursor that follows them), then run the hooks on what was
        new. Returns the mentions stored for the first time."""
        if mentions and not scored:
            self._finish_scoring(self._start_scoring(mentions, None), None)
        [(outcome, new, _)] = self._write(source_key, [mentions], result,
                                          in_transaction=in_transaction)
        if outcome.inserted_ids:
            self._after_commit(outcome.inserted_ids, source_key, new)
        return new

    def _write(self, source_key: str, pages: Sequence[Sequence[Mention]], result: PollResult,
               *, before_upsert: Callable[[Session, int], None] | None = None,
               judge: Callable[[Session, list[MentionFacts]], Judged | None] | None = None,
               in_transaction: Callable[[Session, Sequence[UpsertResult]], None] | None = None,
               ) -> list[tuple[UpsertResult, list[StoredMention], Judged | None]]:
        """Upsert `pages` in order in one write transaction, each page's private
        conversations settled and `page_steps` run on its new mentions; `before_upsert`
        (session, page index) runs right before each page's upsert, `judge` on the facts of
        each page's new mentions right after it (those a detector reads: `_facts_since`;
        a page with none is not judged), `in_transaction` (the cursor that follows them, saved
        with `relax_durability`: the commit's relaxed durability goes in the same round
        trip) last; without it, the commit is relaxed first. The transaction is replayed on
        a write conflict. Counts the pages in `result` and returns, a page, its upsert's
        outcome, its new mentions and its judged alerts."""
        stored: list[tuple[UpsertResult, list[StoredMention], Judged | None]] = []
        since = self._facts_since() if judge is not None else None
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            stored = []
            try:
                with self.db.write() as session:
                    if in_transaction is None:  # else it relaxes the commit (save_cursor)
                        relax_commit_durability(session)
                    for index, mentions in enumerate(pages):
                        if before_upsert is not None:
                            before_upsert(session, index)
                        outcome = upsert_mentions(
                            session, mentions, source_key=source_key,
                            brand_author_ids={_author_key(m) for m in mentions if m.is_own})
                        settle_private_conversations(session, mentions, outcome.inserted_ids)
                        record_public_brand_answers(session, mentions,
                                                    outcome.older_threads)
                        new = _stored(mentions, outcome.inserted_refs, outcome.inserted_ids)
                        for step in self.page_steps if new else ():
                            step(session, new)
                        facts = ([MentionFacts.of(s.id, s.mention, source_key) for s in new
                                  if not s.mention.is_own and aware(s.mention.created_at)
                                  >= since] if since is not None else [])
                        stored.append((outcome, new,
                                       judge(session, facts) if judge and facts else None))
                    if in_transaction is not None:
                        in_transaction(session, [outcome for outcome, *_ in stored])
                break
            except Exception as exc:  # a driver error too (storage.bulk): see _is_conflict
                if attempt == WRITE_ATTEMPTS or not _is_conflict(exc):
                    raise
                # Two sources storing the same new authors or threads at once (PostgreSQL
                # lets both try; SQLite serialises writers): the loser rolls back and
                # replays the transaction, which now finds the winner's rows.
                log.info("write_conflict_retry", source=source_key, attempt=attempt)
                time.sleep(0.05 * attempt)
        for outcome, _, _ in stored:
            result.pages += 1
            result.new += len(outcome.inserted_ids)
            result.seen += outcome.existing
            result.inserted_ids.extend(outcome.inserted_ids)
        return stored

    def _facts_since(self) -> datetime:
        """Mentions created before this (and own posts) need no alert facts: no per-page
        detector reads them (`AlertEngine.facts_since`; an engine without it reads all).
        Why: building each new mention's facts was ~1.5% of a backfill's listener CPU, and
        most of a backfill is older than any detector looks."""
        facts_since = getattr(self.alert_engine, "facts_since", None)
        return facts_since() if facts_since is not None else datetime.min.replace(tzinfo=UTC)

    # ----------------------------------------------------------------- scoring
    def _start_scoring(self, mentions: Sequence[Mention],
                       pool: ScorePool | None) -> _Scoring | None:
        """Read what scoring needs from the database (which customer mentions are new, how
        often their authors wrote lately) and hand the texts to the worker, if any. None when
        nothing is to be scored (own posts are context, unscored)."""
        if self.scorer is None:
            return None
        candidates = [m for m in mentions if not m.is_own and m.score is None]
        if not candidates:
            return None
        with self.db.session() as session:
            new, contacts = fresh_with_contacts(session, candidates,
                                                enough=REPEAT_CONTACT_CAP)
        fresh = [m for m, is_new in zip(candidates, new, strict=True) if is_new]
        if not fresh:
            return None
        now = datetime.now(UTC)
        inputs = [ScoreInput(m.text, m.author.followers,
                             m.like_count + m.reply_count + m.repost_count,
                             max(0.0, (now - m.created_at).total_seconds() / 60),
                             contacts.get(_author_key(m), 0), m.lang, m.is_echo)
                  for m in fresh]
        scoring = _Scoring(fresh, inputs)
        if pool is not None:
            scoring.future = pool.submit(inputs)
        return scoring

    def _store_scored(self, config: SourceConfig, claim: Claim,
                      batch: Sequence[tuple[Page, Sequence[Scored]]],
                      result: PollResult, held: _Held) -> None:
        """Store pages the fetch worker scored, in order, in one transaction with the last
        one's cursor; their new mentions and alert candidates go to `held`, for
        `_run_held` (a stand-in alert engine gets each page's at once).

        Why several pages at once: each transaction costs a BEGIN/COMMIT, the cursor's
        compare-and-set and, on SQLite, index pages written to the WAL again for each
        commit; pages that piled up while the one before was stored share that. Exactly-once
        is the same as page by page: the pages and the cursor that follows the last of them
        commit or roll back together (after a crash the poll resumes from the cursor before
        them), and the cursor's version moves on by one per page. Each page's scores are
        applied inside the transaction, right before it is upserted, so the repeat-contact
        counts include the pages before it in the batch, as when each page committed alone.
        Pages are batched as they come, up to `PAGES_PER_COMMIT` and for at most
        `BATCH_WAIT_SECONDS` after the first (`FetchWorker.ready`): the worker, allowed
        `WORKER_AHEAD` pages ahead, keeps fetching meanwhile, so the wait costs no
        throughput, only that much latency."""
        if self.topics is not None:
            self.topics.refresh()  # may write: never inside the transaction below
        pages = [page.mentions for page, _ in batch]
        newest = max((n for n in map(_newest, pages) if n is not None), default=None)

        def apply_scores(session: Session, index: int) -> None:
            self._apply_scores(session, pages[index], batch[index][1])

        def save(session: Session, outcomes: Sequence[UpsertResult]) -> None:
            save_cursor(session, claim, batch[-1][0].cursor,
                        new_items=sum(len(o.inserted_ids) for o in outcomes),
                        last_item_at=newest, pages=len(batch), relax_durability=True)

        # An engine that can judge a page inside this transaction (AlertEngine) gets each
        # page there, and records their alerts after the commit in one transaction.
        judge = getattr(self.alert_engine, "judge_page", None)
        stored = self._write(config.key, pages, result, before_upsert=apply_scores,
                             judge=judge, in_transaction=save)
        claim.version += len(batch)  # committed: the stored cursor is the last page's now
        held.pages += len(batch)
        held.ids.extend(pk for outcome, *_ in stored for pk in outcome.inserted_ids)
        held.judged.extend(j for *_, j in stored if j is not None)
        if judge is None:
            for outcome, new, _ in stored:
                if outcome.inserted_ids:
                    self._after_commit(outcome.inserted_ids, config.key, new, hook=False)

    def _run_held(self, source_key: str, held: _Held) -> None:
        """The hook on the held pages' new mentions, once (routing decides item by item,
        so this is what a call per page did), then their alerts, recorded page after page
        in one transaction (`AlertEngine.record_judged`). Never raises."""
        ids, judged = held.ids, held.judged
        held.ids, held.judged, held.pages, held.since = [], [], 0, time.monotonic()
        if ids:
            self._after_commit(ids, source_key, [], alerts=False)
        if judged:
            self.alert_engine.record_judged(judged)

    def _apply_scores(self, session: Session, mentions: Sequence[Mention],
                      scored: Sequence[Scored]) -> None:
        """Put a worker's scores on the page's new customer mentions, at the repeat-contact
        level their authors have now (read in the page's transaction right before it is
        upserted, as scoring the pages one after the other reads it), then their topics."""
        if self.scorer is None:
            return
        candidates = [(m, s) for m, s in zip(mentions, scored, strict=True)
                      if not m.is_own and m.score is None]
        if not candidates:
            return
        new, contacts = fresh_with_contacts(session, [m for m, _ in candidates],
                                            enough=REPEAT_CONTACT_CAP)
        fresh = [pair for pair, is_new in zip(candidates, new, strict=True) if is_new]
        if not fresh:
            return
        for m, s in fresh:
            score = to_score(s, repeat_contact_level(contacts.get(_author_key(m), 0)))
            if score is not None:
                m.score = score
        self._assign_topics([m for m, _ in fresh], refresh=False)

    def _assign_topics(self, fresh: list[Mention], *, refresh: bool = True) -> None:
        if self.topics is not None:
            try:
                self.topics.assign(fresh, refresh=refresh)
            except Exception:  # topics are an aid: the page is stored without them
                log.exception("topics_failed", count=len(fresh))

    def _finish_scoring(self, scoring: _Scoring | None, pool: ScorePool | None,
                        committed: Sequence[StoredMention] = ()) -> None:
        """Put the scores on the page's new mentions, then their topics.

        With a worker, repeat contacts were counted before the page ahead of this one
        (`committed`) was stored; where that page changed an author's count, the mention is
        scored again here with the new count (`_recount_contacts`), so the scores are what
        scoring the pages one after the other gives."""
        if scoring is None:
            return
        inputs = scoring.inputs
        scores = (pool.result(scoring.future, inputs) if pool is not None
                  else score_inputs(self.scorer, inputs))
        if committed:
            self._recount_contacts(scoring, scores, committed)
        for m, score in zip(scoring.fresh, scores, strict=True):
            if score is not None:
                m.score = score
        self._assign_topics(scoring.fresh)

    def _recount_contacts(self, scoring: _Scoring, scores: list[Score | None],
                          committed: Sequence[StoredMention]) -> None:
        """Score again, here, the mentions whose author also wrote in the `committed` page
        (committed after their repeat-contact count was read), with the count read again.
        Only those authors are counted again: a page costs one small query, and usually
        rescores a handful of mentions. An author whose count was already at the level
        urgency stops reading (`repeat_contact_level`) is not counted again: a stored page
        only adds to it, so the score cannot change; nor is a mention whose count changed
        only above that level scored again.

        Left as read: a count that changed only through *another* account of the same
        customer (accounts an agent merged) in the page just before; it is one page late,
        the same as for a mention stored while another source's page commits."""
        committed_keys = {_author_key(s.mention) for s in committed if not s.mention.is_own}
        if not committed_keys:
            return
        keys = [_author_key(m) for m in scoring.fresh]
        affected = {key for key, item in zip(keys, scoring.inputs, strict=True)
                    if key in committed_keys
                    and repeat_contact_level(item.repeat_contacts) < REPEAT_CONTACT_CAP}
        if not affected:
            return
        with self.db.session() as session:
            contacts = recent_contacts(session, affected, enough=REPEAT_CONTACT_CAP)
        for i, key in enumerate(keys):
            if key not in affected:
                continue
            item = scoring.inputs[i]
            count = contacts.get(key, 0)
            if repeat_contact_level(count) != repeat_contact_level(item.repeat_contacts):
                scores[i] = score_inputs(self.scorer, [item._replace(repeat_contacts=count)])[0]

    def _after_commit(self, inserted_ids: list[int], source_key: str,
                      new: Sequence[StoredMention], *, alerts: bool = True,
                      hook: bool = True) -> None:
        """Hooks on newly stored mentions; their failures are logged, never stop listening.
        The alert engine gets the page's new mentions as stored (it need not read them
        back); a stand-in engine with only `on_new_mentions` gets their ids. `hook` /
        `alerts` False: that part is done by the caller (`_store_scored`)."""
        if hook and self.on_new_mentions is not None:
            try:
                self.on_new_mentions(inserted_ids)
            except Exception:
                log.exception("new_mentions_hook_failed", count=len(inserted_ids))
        if alerts and self.alert_engine is not None:
            try:
                on_facts = getattr(self.alert_engine, "on_new_facts", None)
                if on_facts is not None:
                    on_facts([MentionFacts.of(s.id, s.mention, source_key) for s in new])
                else:
                    self.alert_engine.on_new_mentions(inserted_ids)
            except Exception:
                log.exception("alert_hook_failed", count=len(inserted_ids))


@dataclass(slots=True)
class _Held:
    """Committed pages whose hooks and alert bookkeeping have not run yet (`Ingestor.
    _run_held`): how many, their new mentions' ids, their alert candidates."""

    pages: int = 0
    ids: list[int] = field(default_factory=list)
    judged: list[Judged] = field(default_factory=list)
    since: float = field(default_factory=time.monotonic)  # when they were last run


@dataclass(slots=True)
class _Scoring:
    """One page's scoring under way: its new customer mentions, what scoring them needs,
    and the worker's answer to come (None: scored here)."""

    fresh: list[Mention]
    inputs: list[ScoreInput]
    future: Future[list[Score | None]] | None = None


def _author_key(m: Mention) -> tuple[str, str]:
    return (m.author.platform._value_, m.author.external_id)


def _newest(mentions: Sequence[Mention]) -> datetime | None:
    """When the newest customer mention of a page was written (the source's last item)."""
    return max((m.created_at for m in mentions if not m.is_own), default=None)


def _stored(mentions: Sequence[Mention], refs: Sequence[str],
            ids: Sequence[int]) -> list[StoredMention]:
    """The mentions a page stored for the first time, with their row ids."""
    if not ids:
        return []
    by_ref = {f"{m.platform._value_}:{m.external_id}": m for m in mentions}  # last wins,
    return [StoredMention(pk, by_ref[ref])  # as in the upsert
            for pk, ref in zip(ids, refs, strict=True)]


def _is_conflict(exc: Exception) -> bool:
    """A unique violation, deadlock or serialization failure: worth replaying the page.
    Also as the driver raises it: `storage.bulk` runs its statements on the DBAPI cursor."""
    if isinstance(exc, IntegrityError):
        return True
    code = getattr(getattr(exc, "orig", exc), "sqlstate", None)
    return code in {"40001", "40P01", "23505"}
