"""The Starlette application at `/webhooks/meta`: subscription challenge and deliveries.

A delivery is stored only when its signature is right, inline (a delivery is small, and
Meta wants an answer within seconds) but in a worker thread, so the event loop keeps
answering while the database works. A delivery that could not be stored is answered 500:
Meta delivers it again, and the next poll is the safety net. Log lines name what happened,
never the secret, the verify token or the text of a body.
"""

from __future__ import annotations

import hmac
import time

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from carewatch.log import get_logger
from carewatch.platforms.base import secret
from carewatch.settings import Settings
from listener.ingest import Ingestor
from listener.webhooks.events import BadDelivery, Delivery, parse_delivery
from listener.webhooks.signature import SIGNATURE_HEADER, signature_ok

log = get_logger(__name__)

PATH = "/webhooks/meta"
MAX_BODY_BYTES = 1024 * 1024


class BodyTooLarge(Exception):
    """The body is over `MAX_BODY_BYTES` (said by Content-Length or found while reading)."""


class Receiver:
    """Answers Meta's requests for one app secret and verify token, storing through one
    ingestor (the same path, hooks and upsert as polling)."""

    def __init__(self, ingestor: Ingestor, settings: Settings) -> None:
        app_secret = secret(settings, "meta_app_secret")
        if not app_secret:
            raise ValueError("CAREWATCH_META_APP_SECRET is not set")
        self.app_secret = app_secret
        self.verify_token = secret(settings, "meta_verify_token")
        self.ingestor = ingestor
        self.settings = settings

    async def verify(self, request: Request) -> Response:
        """Meta's subscription check: echo `hub.challenge` when the verify token matches."""
        params = request.query_params
        given = params.get("hub.verify_token", "")
        # Meta always sends `hub.mode=subscribe`; a check without a mode is still answered
        # when the token matches (the token is what proves the caller), any other mode is not.
        if (params.get("hub.mode", "subscribe") == "subscribe" and self.verify_token
                and hmac.compare_digest(given.encode(), self.verify_token.encode())):
            log.info("webhook_subscription_verified")
            return PlainTextResponse(params.get("hub.challenge", ""))
        log.warning("webhook_verification_refused", mode=params.get("hub.mode", "")[:20])
        return PlainTextResponse("forbidden", status_code=403)

    async def deliver(self, request: Request) -> Response:
        """One delivery: size, signature, shape, then store every event it carries."""
        try:
            raw = await read_body(request)
        except BodyTooLarge:
            log.warning("webhook_refused", reason="body_too_large")
            return PlainTextResponse("payload too large", status_code=413)
        if not signature_ok(self.app_secret, raw, request.headers.get(SIGNATURE_HEADER)):
            reason = ("signature_missing" if SIGNATURE_HEADER not in request.headers
                      else "signature_mismatch")
            log.warning("webhook_refused", reason=reason, bytes=len(raw))
            return PlainTextResponse("forbidden", status_code=403)
        try:
            delivery = parse_delivery(raw, self.settings)
        except BadDelivery as exc:
            log.warning("webhook_rejected", reason=exc.reason, bytes=len(raw))
            return PlainTextResponse(exc.reason.replace("_", " "), status_code=exc.status)
        if delivery.ignored:
            log.debug("webhook_ignored", object=delivery.object, events=delivery.ignored)
        started = time.perf_counter()
        try:
            await run_in_threadpool(self._store, delivery)
        except Exception as exc:  # the database is down or refused: Meta retries on 5xx
            log.error("webhook_store_failed", object=delivery.object,
                      error=type(exc).__name__, detail=_first_line(exc))
            return PlainTextResponse("not stored; retry", status_code=500)
        log.info("webhook_stored", object=delivery.object, items=delivery.count,
                 ms=round((time.perf_counter() - started) * 1000, 1))
        return PlainTextResponse("ok")

    def _store(self, delivery: Delivery) -> None:
        for source_key, mentions in delivery.batches.items():
            self.ingestor.store_mentions(source_key, mentions)


async def read_body(request: Request) -> bytes:
    """The raw body, refused (`BodyTooLarge`) as soon as it is known to be too large: by its
    Content-Length before reading anything, else while counting the streamed chunks."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _first_line(exc: BaseException) -> str:
    """The first line of an error, short: database errors carry the statement's parameters
    (the stored text) on the lines after it."""
    return (str(exc).strip().splitlines() or [""])[0][:200]


def create_app(ingestor: Ingestor, settings: Settings) -> Starlette:
    """The receiver's application; raises ValueError when the app secret is not set."""
    receiver = Receiver(ingestor, settings)
    return Starlette(routes=[
        Route(PATH, receiver.verify, methods=["GET"]),
        Route(PATH, receiver.deliver, methods=["POST"]),
    ])
