"""What the demo gives reply suggestions to work with: a small knowledge base (markdown
articles written beside the demo's configuration) and canned replies tagged with the demo's
topics (Lost Luggage, Late Flight, Refund); the rest match by their words."""

from __future__ import annotations

from pathlib import Path

#: Appended to the demo's configuration; `kb/*.md` is relative to it.
SUGGESTIONS_CONFIG = """
[knowledge]
paths = ["kb/*.md"]

[[canned_replies]]
name = "Bag trace"
text = "Hi {first_name}, sorry your bag hasn't arrived. Please DM us your baggage file \
reference and we'll trace it for you. ^{agent}"
topics = ["Lost Luggage"]

[[canned_replies]]
name = "Cancelled: rebook"
text = "Hi {first_name}, I'm sorry your flight was cancelled. DM us your booking reference \
and we'll rebook you on the next available flight. ^{agent}"

[[canned_replies]]
name = "Delay apology"
text = "Hi {first_name}, sorry for the delay today. If you might miss a connection, DM us \
your booking reference and we'll protect it. ^{agent}"
topics = ["Late Flight"]

[[canned_replies]]
name = "Refund status"
text = "Hi {first_name}, sorry you're still waiting. DM us your booking reference and \
we'll check where your refund is. ^{agent}"
topics = ["Refund"]

[[canned_replies]]
name = "Cancelado: reembolso"
text = "Hola {first_name}, lamentamos la cancelación. Escríbenos por DM tu código de \
reserva y te ayudamos con el reembolso. ^{agent}"
topics = ["Refund"]
lang = "es"
"""

ARTICLES = {
    "baggage.md": """\
---
title: Delayed or lost baggage
url: https://help.acmeair.example/baggage/delayed
topics: [Lost Luggage]
---
# Delayed or lost baggage

Most delayed bags reach their owner within 48 hours. Report a missing bag at the baggage \
desk or online with your file reference, and we deliver it to your address for free.

After 21 days a bag is considered lost and you can claim compensation.
""",
    "refunds.md": """\
---
title: Refunds for cancelled flights
url: https://help.acmeair.example/refunds
topics: [Refund]
---
# Refunds for cancelled flights

When we cancel your flight you can choose a free rebooking or a full refund to the \
original payment method, usually within 7 business days.
""",
    "baggage-allowance.md": """\
---
title: Baggage allowance
url: https://help.acmeair.example/baggage/allowance
---
# Baggage allowance

Economy tickets on international flights include one checked bag of up to 23 kg and one \
cabin bag of up to 8 kg.
""",
}


def write_articles(folder: Path) -> None:
    """Write the demo's knowledge base into `folder` (created if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in ARTICLES.items():
        (folder / name).write_text(text, encoding="utf-8")
