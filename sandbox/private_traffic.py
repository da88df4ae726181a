"""Private conversations customers have with the brand: X direct messages, Messenger and
Instagram Direct.  Some customers start one on their own (with, in seeded history, the
brand's answer and their follow-up), and a customer the brand wrote to privately answers in
the same conversation.

It draws from its own seeded ``random.Random``, so adding private traffic leaves the public
traffic of a seed exactly as it was.
"""

from __future__ import annotations

import random
from typing import Any

from sandbox.phrases import fill
from sandbox.records import BRAND_X_ID
from sandbox.world import World

#: Where a private conversation happens.
CHANNELS = ("x", "messenger", "instagram")

OPENERS = [
    "Hi, my flight {flight} to {city} was cancelled and I can't get through on the phone. "
    "Booking ref {ref}.",
    "Hello! I was charged twice for booking {ref}. Can you refund one of the payments?",
    "My bag didn't arrive in {city} ({flight}). It's been {days} days. File ref {ref}.",
    "Can I move my flight {flight} to next week? Booking {ref}.",
    "I need a wheelchair at the gate in {city} tomorrow, booking {ref}. Who do I tell?",
    "Still waiting for the refund for {ref}, {weeks} weeks now. Please help.",
    "Hola, mi vuelo {flight} a {city} se canceló. ¿Qué opciones tengo? Reserva {ref}.",
]
ANSWERS = [
    "Thanks for getting back to me. My booking ref is {ref}.",
    "Sure, the booking is {ref}, flight {flight}.",
    "Here it is: {ref}. I'm at the airport in {city} right now.",
    "Booking {ref}. Please hurry, I've been waiting {hours} hours.",
    "Thank you! That's all I needed.",
    "ok, sent. ref {ref}",
]
BRAND_ANSWERS = [
    "Hi! Sorry about this. Could you confirm the name on the booking?",
    "Thanks for the details, we're checking with the team now.",
    "We've opened a case for you and will update you here within 24 hours.",
]


class PrivateTraffic:
    """Adds customers' private messages to a ``World``."""

    def __init__(self, world: World, rng: random.Random) -> None:
        self.world = world
        self.rng = rng

    def open(self, channel: str, customer: dict[str, Any], t: float, *,
             history: bool = False) -> str:
        """A customer (an X author, ``{"id", "name"}`` or ``{"id", "username"}``) starts a
        conversation at ``t``; with ``history`` the brand answered and the customer followed
        up (both before now).  Returns the customer's id on that channel."""
        opener = fill(self.rng.choice(OPENERS), self.rng)
        replies = []
        if history:
            brand_at = t + self.rng.randint(300, 1800)
            replies = [(True, self.rng.choice(BRAND_ANSWERS), brand_at),
                       (False, fill(self.rng.choice(ANSWERS), self.rng),
                        brand_at + self.rng.randint(60, 900))]
        w = self.world
        if channel == "x":
            customer_id = w.ensure_x_user(customer).id
            w.add_dm(customer_id, BRAND_X_ID, opener, t)
            for from_brand, text, at in replies:
                sender, to = (BRAND_X_ID, customer_id) if from_brand else (customer_id,
                                                                           BRAND_X_ID)
                w.add_dm(sender, to, text, at)
            return customer_id
        conversation = w.open_conversation(channel, customer)
        w.add_graph_message(conversation.id, opener, created_at=t)
        for from_brand, text, at in replies:
            w.add_graph_message(conversation.id, text, from_brand=from_brand, created_at=at)
        return conversation.customer_id

    def answer(self, sent: dict[str, Any]) -> bool:
        """The customer's answer to a private message the brand sent (a ``sent`` log entry
        of kind ``private_reply``, ``message`` or ``x_dm``); False when there is none to
        give (the message was not the brand's, or its conversation is gone)."""
        text = fill(self.rng.choice(ANSWERS), self.rng)
        w = self.world
        with w.lock:
            if sent["kind"] == "x_dm":
                if sent.get("sender_id") != BRAND_X_ID:
                    return False
                w.add_dm(str(sent["participant_id"]), BRAND_X_ID, text)
                return True
            conversation_id = sent.get("conversation_id")
            if conversation_id not in w.conversations:
                return False
            w.add_graph_message(str(conversation_id), text)
            return True
