"""Signed Meta webhook delivery to one subscribed receiver, as Meta delivers them.

The hub watches the world (it is a ``WorldObserver``) and queues a body for every new
Messenger/Instagram message, Facebook comment and comment on the brand's Instagram media; a
background thread POSTs them in order with ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256
(app secret, raw body)>``, so an API request never waits on the receiver.  A failed delivery
(an error status or no answer) is retried a few times with a short backoff, and on request an
event is delivered twice, as Meta sometimes does, to prove the receiver deduplicates.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests

from sandbox.webhook_payloads import body_for
from sandbox.world import World

log = logging.getLogger("sandbox")

#: Seconds to wait before each retry of a failed delivery.
BACKOFF = (0.1, 0.3, 0.9, 2.0)
DEFAULT_ATTEMPTS = 4


def signature(app_secret: str, raw: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends with ``raw``."""
    return "sha256=" + hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()


@dataclass
class Subscription:
    url: str
    app_secret: str
    #: How many of the next events are delivered twice (-1: every event).
    duplicates: int = 0
    max_attempts: int = DEFAULT_ATTEMPTS


@dataclass
class _Delivery:
    generation: int
    subscription: Subscription
    raw: bytes


class WebhookHub:
    """The sandbox app's webhook sender (``app.state.webhooks``)."""

    def __init__(self, world: World, timeout: float = 5.0) -> None:
        self.world = world
        self.timeout = timeout
        self._lock = threading.Condition()
        self._queue: queue.Queue[_Delivery | None] = queue.Queue()
        self._subscription: Subscription | None = None
        self._generation = 0
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._session = requests.Session()
        self._session.trust_env = False
        self._zero()
        world.observers.append(self)

    def _zero(self) -> None:
        self.counters = {"queued": 0, "delivered": 0, "failed": 0, "attempts": 0,
                         "retried": 0, "duplicated": 0}

    # ---------------------------------------------------------------- control
    def subscribe(self, url: str, app_secret: str, *, verify_token: str | None = None,
                  duplicates: int = 0, max_attempts: int = DEFAULT_ATTEMPTS) -> dict[str, Any]:
        """Deliver from now on to ``url``.  With ``verify_token`` the receiver must first pass
        Meta's verification request (``hub.mode=subscribe``, echo ``hub.challenge``)."""
        if not url.startswith(("http://", "https://")):
            raise ValueError("url must be an http(s) URL")
        if not app_secret:
            raise ValueError("app_secret is required: Meta signs every delivery with it")
        if verify_token is not None:
            self._verify(url, verify_token)
        with self._lock:
            self._generation += 1
            self._subscription = Subscription(url, app_secret, int(duplicates),
                                              max(1, int(max_attempts)))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sandbox-webhooks",
                                                daemon=True)
                self._thread.start()
        return self.status()

    def _verify(self, url: str, verify_token: str) -> None:
        challenge = secrets.token_hex(8)
        try:  # a session of its own: the sender thread may be using the hub's meanwhile
            with requests.Session() as session:
                session.trust_env = False
                resp = session.get(url, params={"hub.mode": "subscribe",
                                                "hub.challenge": challenge,
                                                "hub.verify_token": verify_token},
                                   timeout=self.timeout)
        except requests.RequestException as exc:
            raise ValueError(f"verification request to {url} failed: {exc}") from None
        if resp.status_code != 200 or resp.text.strip() != challenge:
            raise ValueError(f"the receiver at {url} did not echo hub.challenge "
                             f"(status {resp.status_code})")

    def duplicate_next(self, count: int) -> dict[str, Any]:
        """Deliver each of the next ``count`` events twice (-1: every event from now on)."""
        with self._lock:
            if self._subscription is None:
                raise ValueError("no webhook subscription")
            self._subscription.duplicates = int(count)
        return self.status()

    def unsubscribe(self) -> None:
        with self._lock:
            self._subscription = None
            self._generation += 1

    def reset(self) -> None:
        """Forget the subscription, the queued deliveries and the counters."""
        with self._lock:
            self.unsubscribe()
            self._zero()

    def status(self) -> dict[str, Any]:
        with self._lock:
            sub = self._subscription
            return {"subscribed": sub is not None, "url": sub.url if sub else None,
                    "duplicates": sub.duplicates if sub else 0, "pending": self._pending,
                    **self.counters}

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queued delivery is done (delivered or given up)."""
        with self._lock:
            return self._lock.wait_for(lambda: self._pending == 0, timeout)

    def stop(self) -> None:
        self.unsubscribe()
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)
            self._thread = None

    # ---------------------------------------------------------------- observer
    def notice(self, event: str, record: Any) -> None:
        with self._lock:
            sub = self._subscription
            if sub is None:
                return
            body = body_for(self.world, event, record)
            if body is None:
                return
            raw = json.dumps(body, separators=(",", ":")).encode()
            copies = 1
            if sub.duplicates:
                copies = 2
                self.counters["duplicated"] += 1
                if sub.duplicates > 0:
                    sub.duplicates -= 1
            for _ in range(copies):
                self._pending += 1
                self.counters["queued"] += 1
                self._queue.put(_Delivery(self._generation, sub, raw))

    # ---------------------------------------------------------------- delivery
    def _run(self) -> None:
        while True:
            delivery = self._queue.get()
            if delivery is None:
                return
            try:
                self._deliver(delivery)
            except Exception as exc:  # keep the sender alive; report and carry on
                log.warning("webhook delivery: %s", exc)
            finally:
                with self._lock:
                    self._pending -= 1
                    self._lock.notify_all()

    def _current(self, delivery: _Delivery) -> bool:
        with self._lock:
            return delivery.generation == self._generation

    def _deliver(self, delivery: _Delivery) -> None:
        sub = delivery.subscription
        headers = {"Content-Type": "application/json",
                   "X-Hub-Signature-256": signature(sub.app_secret, delivery.raw),
                   "X-Hub-Signature": "sha1=" + hmac.new(sub.app_secret.encode(), delivery.raw,
                                                         hashlib.sha1).hexdigest()}
        for attempt in range(sub.max_attempts):
            if not self._current(delivery):
                return  # unsubscribed or reset meanwhile: Meta stops sending too
            if attempt:
                self._count("retried")
                time.sleep(BACKOFF[min(attempt - 1, len(BACKOFF) - 1)])
            self._count("attempts")
            try:
                resp = self._session.post(sub.url, data=delivery.raw, headers=headers,
                                          timeout=self.timeout)
                if 200 <= resp.status_code < 300:
                    self._count("delivered")
                    return
            except requests.RequestException:
                pass
        self._count("failed")

    def _count(self, name: str) -> None:
        with self._lock:
            if name in self.counters:
                self.counters[name] += 1
