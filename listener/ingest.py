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

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from carewatch.domain import Mention, Page
from carewatch.errors import MissingCredentials, PlatformError, RateLimited, TokenRevoked
from carewatch.log import get_logger, scrub
from carewatch.platforms import spec_for
from carewatch.settings import Settings, SourceConfig
from listener.alerts.engine import AlertEngine
from listener.lease import lease_keeper, process_name
from listener.read_ahead import ReadAhead, stopping
from listener.scoring import Scorer
from listener.sources import build_source
from listener.topics import TopicAssigner
from storage.conversations import settle_private_conversations
from storage.customers import recent_contacts
from storage.db import Database, relax_commit_durability
from storage.mentions import stored_external_ids, upsert_mentions
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
                 page_steps: Sequence[PageStep] = ()) -> None:
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
        self._revoked: dict[str, str] = {}  # source key -> token fingerprint when revoked
        self._lock = threading.Lock()
        # Topics: each new item's best topic, assigned right after scoring.
        self.topics = TopicAssigner(db, settings) if self.scorer is not None else None

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
                # The next page is fetched while this one is stored (listener.read_ahead).
                fetched = threading.Event()
                with lease_keeper(self.db, key, self.holder, self.settings.lease_seconds):
                    source = self.source_factory(
                        config, self.settings, should_stop=stopping(fetched, self.should_stop))
                    with ReadAhead(source.poll(dict(claim.cursor)), name=f"fetch:{key}",
                                   done=fetched) as pages:
                        for page in pages:
                            self._store(config, claim, page, result)
                            if self.should_stop():
                                break
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

    def _store(self, config: SourceConfig, claim: Claim, page: Page,
               result: PollResult) -> None:
        def save(session: Session, inserted: int, newest: datetime | None) -> None:
            save_cursor(session, claim, page.cursor, new_items=inserted, last_item_at=newest)

        self._store_batch(config.key, page.mentions, result, in_transaction=save)
        claim.version += 1  # committed: the stored cursor is this page's now

    def _store_batch(self, source_key: str, mentions: list[Mention], result: PollResult, *,
                     in_transaction: Callable[[Session, int, datetime | None], None]
                     | None = None) -> None:
        """Score, then upsert `mentions` in one transaction (with `in_transaction`, e.g. the
        cursor that follows them), then run the hooks on what was new."""
        if mentions:
            self._score_new(mentions)
        brand_ids = {(m.author.platform.value, m.author.external_id)
                     for m in mentions if m.is_own}
        newest = max((m.created_at for m in mentions if not m.is_own), default=None)
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with self.db.write() as session:
                    relax_commit_durability(session)
                    outcome = upsert_mentions(
                        session, mentions, source_key=source_key, brand_author_ids=brand_ids)
                    settle_private_conversations(session, mentions, outcome.inserted_ids)
                    self._run_page_steps(session, mentions, outcome.inserted_refs,
                                         outcome.inserted_ids)
                    if in_transaction is not None:
                        in_transaction(session, len(outcome.inserted_ids), newest)
                break
            except (IntegrityError, DBAPIError) as exc:
                # Two sources storing the same new author or thread at once (PostgreSQL lets
                # both try; SQLite serialises writers): the loser rolls back and replays the
                # page, which now finds the winner's rows.
                if attempt == WRITE_ATTEMPTS or not _is_conflict(exc):
                    raise
                log.info("write_conflict_retry", source=source_key, attempt=attempt)
                time.sleep(0.05 * attempt)
        result.pages += 1
        result.new += len(outcome.inserted_ids)
        result.seen += outcome.existing
        result.inserted_ids.extend(outcome.inserted_ids)
        if outcome.inserted_ids:
            self._after_commit(outcome.inserted_ids)

    def _run_page_steps(self, session: Session, mentions: Sequence[Mention],
                        refs: Sequence[str], ids: Sequence[int]) -> None:
        """The post-scoring steps on the mentions this page stored for the first time."""
        if not self.page_steps or not ids:
            return
        by_ref = {f"{m.platform.value}:{m.external_id}": m for m in mentions}  # last wins,
        stored = [StoredMention(pk, by_ref[ref])  # as in the upsert
                  for pk, ref in zip(ids, refs, strict=True)]
        for step in self.page_steps:
            step(session, stored)

    def _score_new(self, mentions: Sequence[Mention]) -> None:
        """Score the customer mentions not stored yet (own posts are context, unscored)."""
        if self.scorer is None:
            return
        candidates = [m for m in mentions if not m.is_own and m.score is None]
        if not candidates:
            return
        with self.db.session() as session:
            stored = stored_external_ids(
                session, ((m.platform.value, m.external_id) for m in candidates))
            fresh = [m for m in candidates if (m.platform.value, m.external_id) not in stored]
            if not fresh:
                return
            contacts = recent_contacts(
                session, {(m.author.platform.value, m.author.external_id) for m in fresh})
        now = datetime.now(UTC)
        for m in fresh:
            try:
                m.score = self.scorer.score(
                    m.text, followers=m.author.followers,
                    engagement=m.like_count + m.reply_count + m.repost_count,
                    waiting_minutes=max(0.0, (now - m.created_at).total_seconds() / 60),
                    repeat_contacts=contacts.get((m.author.platform.value,
                                                  m.author.external_id), 0),
                    lang=m.lang, echo=m.is_echo)
            except Exception:  # one odd text must not stop the page; it is stored unscored
                log.exception("scoring_failed", mention=str(m.ref))
        if self.topics is not None:
            try:
                self.topics.assign(fresh)
            except Exception:  # topics are an aid: the page is stored without them
                log.exception("topics_failed", count=len(fresh))

    def _after_commit(self, inserted_ids: list[int]) -> None:
        """Hooks on newly stored mentions; their failures are logged, never stop listening."""
        if self.on_new_mentions is not None:
            try:
                self.on_new_mentions(inserted_ids)
            except Exception:
                log.exception("new_mentions_hook_failed", count=len(inserted_ids))
        if self.alert_engine is not None:
            try:
                self.alert_engine.on_new_mentions(inserted_ids)
            except Exception:
                log.exception("alert_hook_failed", count=len(inserted_ids))


def _is_conflict(exc: DBAPIError) -> bool:
    """A unique violation, deadlock or serialization failure: worth replaying the page."""
    if isinstance(exc, IntegrityError):
        return True
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return code in {"40001", "40P01", "23505"}
