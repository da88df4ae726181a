"""A small, realistic store for dashboard tests: users of every role, scored mentions on three
platforms (hostile texts included), a thread with the brand's own post and reply, a customer
on two platforms (@jdoe on X and Instagram, which an agent confirmed are one person: nothing
links them by handle alone), an open alert and a source with a health problem."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from carewatch import domain
from storage.db import Database
from storage.mentions import upsert_mentions
from storage.models import Alert, Source
from storage.users import create_or_update_user

PASSWORDS = {"agent1": "agent-pass-1", "agent2": "agent-pass-2", "manager1": "manager-pass-1",
             "analyst1": "analyst-pass-1", "admin1": "admin-pass-1"}
ROLES = {"agent1": "agent", "agent2": "agent", "manager1": "manager", "analyst1": "analyst",
         "admin1": "admin"}

TOP_TEXT = "URGENT: smoke in the cabin on flight AC 812 and the crew is ignoring us @acmeair"
TOP_REF = "x:1600000000000000001"
HOSTILE_TEXT = ('<img src=x onerror=alert(1)> [click me](javascript:alert(1)) **bold** '
                '=HYPERLINK("http://evil.example","x") $e=mc^2$ :smile: <script>alert(2)</script>')
HOSTILE_REF = "facebook:100000000000001_200"
ASSIGNED_REF = "x:1600000000000000003"


def _m(platform: domain.Platform, external_id: str, text: str, minutes_ago: float, *,
       handle: str, urgency: float | None, label: str = "negative", reasons: str = "",
       followers: int = 100, thread_id: str | None = None, parent_id: str | None = None,
       is_own: bool = False, name: str | None = None, lang: str = "en") -> domain.Mention:
    now = datetime.now(UTC)
    score = None
    if urgency is not None:
        sentiment = {"negative": -0.7, "neutral": 0.0, "positive": 0.6}[label]
        score = domain.Score(sentiment, domain.SentimentLabel(label), urgency,
                             [r for r in reasons.split(";") if r], lang)
    return domain.Mention(
        platform=platform, external_id=external_id, text=text,
        created_at=now - timedelta(minutes=minutes_ago),
        author=domain.Author(platform, f"u-{handle}", handle, name or handle.title(), followers),
        thread_id=thread_id, parent_id=parent_id, lang=lang, is_own=is_own, score=score,
        url=f"https://example.invalid/{external_id}",
    )


def seed(db: Database) -> None:
    x, fb, ig = domain.Platform.X, domain.Platform.FACEBOOK, domain.Platform.INSTAGRAM
    with db.write() as session:
        for user, password in PASSWORDS.items():
            create_or_update_user(session, user, ROLES[user], password)
        upsert_mentions(session, [
            _m(x, "1600000000000000001", TOP_TEXT, 30, handle="jdoe", urgency=0.97,
               reasons="safety;negative;high_reach", followers=52000,
               thread_id="1600000000000000001"),
            _m(x, "1600000000000000002", "Where is my bag? Third day waiting.", 300,
               handle="lostbag", urgency=0.61, reasons="negative;question;waiting_sla"),
            _m(x, "1600000000000000003", "Still no refund for my cancelled flight", 200,
               handle="refundme", urgency=0.55, reasons="negative;churn"),
            _m(x, "1600000000000000004", "Great crew today, thanks!", 100, handle="happy",
               urgency=0.05, label="positive"),
            _m(x, "1600000000000000005", "¿Dónde está mi maleta?", 50, handle="maleta",
               urgency=0.3, label="neutral", reasons="lang_unsupported", lang="es"),
        ], source_key="x:search:test")
        upsert_mentions(session, [
            _m(fb, "100000000000001_100", "New route to Lisbon from May!", 2000,
               handle="acmeair", urgency=None, is_own=True, thread_id="100000000000001_100"),
            _m(fb, "100000000000001_200", HOSTILE_TEXT, 60, handle="hax0r", urgency=0.45,
               reasons="negative", thread_id="100000000000001_100",
               parent_id="100000000000001_100"),
            _m(fb, "100000000000001_300", "We're sorry to hear that, please DM us.", 55,
               handle="acmeair", urgency=None, is_own=True, thread_id="100000000000001_100",
               parent_id="100000000000001_200"),
        ], source_key="facebook:page:100000000000001",
            brand_author_ids={("facebook", "u-acmeair")})
        upsert_mentions(session, [
            _m(ig, "17890000000000001", "Flight AC 812 smelled of smoke yesterday too", 2900,
               handle="jdoe", urgency=0.7, reasons="safety", thread_id="17890000000000000"),
        ], source_key="instagram:media:17841400000000001")
        session.add(Source(key="instagram:media:17841400000000001", platform="instagram",
                           kind="media", cursor={}, healthy=False, token_state="revoked",
                           health_message="token revoked: reconnect the Facebook page",
                           last_error="Graph error 190", consecutive_failures=3,
                           items_total=1))
        session.add(Alert(kind="risk_words", severity="high", episode_key="risk:smoke",
                          summary="Safety words in 2 mentions (smoke)",
                          mention_ids=[TOP_REF, "instagram:17890000000000001"], details={}))
    with db.write() as session:
        from storage.mentions import mention_by_ref

        mention = mention_by_ref(session, ASSIGNED_REF)
        assert mention is not None
        mention.assignee = "agent2"
        mention.status = "assigned"
    merge_jdoe(db)


JDOE_REASON = "same handle @jdoe on Instagram and X"


def merge_jdoe(db: Database) -> None:
    """agent1's "Same person" for @jdoe on X and on Instagram."""
    from storage.customer_links import merge_customers
    from storage.models import Author

    with db.write() as session:
        ids = dict(session.execute(select(Author.platform, Author.customer_id).where(
            Author.external_id == "u-jdoe")).all())
        merge_customers(session, ids["x"], ids["instagram"], actor="agent1",
                        reason=JDOE_REASON)
