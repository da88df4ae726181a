"""Signed Meta webhook bodies for the receiver's tests and the latency benchmark."""

from __future__ import annotations

import json
from typing import Any

from listener.webhooks.signature import SIGNATURE_HEADER, sign

APP_SECRET = "app-secret-3f9c1d2e7a"
VERIFY_TOKEN = "verify-token-81b7c4"


def signed(body: dict[str, Any] | bytes, secret: str = APP_SECRET) -> tuple[bytes, dict[str, str]]:
    """The raw body and the headers Meta sends with it."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return raw, {SIGNATURE_HEADER: sign(secret, raw), "Content-Type": "application/json"}


def messaging_body(mid: str, text: str, *, sender: str, recipient: str, ms: int,
                   echo: bool = False, obj: str = "page") -> dict[str, Any]:
    """A Messenger (`page`) or Instagram Direct (`instagram`) message delivery; the entry's
    id is the brand's account: the recipient of a customer's message, the sender of an
    echo."""
    message: dict[str, Any] = {"mid": mid, "text": text}
    if echo:
        message["is_echo"] = True
    brand = sender if echo else recipient
    return {"object": obj, "entry": [{"id": brand, "time": ms, "messaging": [{
        "sender": {"id": sender}, "recipient": {"id": recipient}, "timestamp": ms,
        "message": message}]}]}
