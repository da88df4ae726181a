"""A small labelled set shared by the topic tests: three complaint topics and praise."""

from __future__ import annotations

BAGS = [
    "@acmeair my bag never arrived in Boston",
    "lost my luggage again, nobody at the desk knows where it is",
    "@acmeair where is my suitcase? it has been 3 days",
    "still no sign of my checked bag after two days",
    "your baggage office lost my bag and won't answer",
    "my luggage was sent to the wrong city",
]
LATE = [
    "@acmeair flight delayed 4 hours and no updates",
    "delayed again, sitting at the gate for hours",
    "why is my flight late every single time",
    "3 hour delay and we are still waiting to board",
    "the plane is late and I will miss my connection",
    "another delay on flight 220, this is ridiculous",
]
REFUND = [
    "@acmeair I want a refund for my cancelled trip",
    "still waiting for my refund after 6 weeks",
    "how do I get my money back for the ticket",
    "you charged me twice and no refund yet",
    "refund request ignored for a month",
    "need a refund, the booking was wrong",
]
PRAISE = [
    "thank you @acmeair, the crew was wonderful",
    "great flight today, loved the service",
    "thanks so much, amazing staff and a smooth trip",
    "best airline ever, thank you for the upgrade",
    "lovely crew and an early arrival, thanks!",
    "you guys rock, great experience",
]


def labelled() -> list[tuple[str, str]]:
    return ([(t, "Lost Luggage") for t in BAGS] + [(t, "Late Flight") for t in LATE]
            + [(t, "Refund") for t in REFUND] + [(t, "") for t in PRAISE])
