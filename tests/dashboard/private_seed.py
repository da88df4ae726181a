"""Private conversations on top of the dashboard seed (`seed.py`), stored the way the
listener stores them: a public Facebook complaint moved to Messenger (with the page's private
reply read back, the customer's answer and an agent's queued answer), an Instagram Direct
conversation whose messaging window has closed, and an X direct message from the top
mention's customer.

The case link (`threads.case_mention_pk`) and the private author's customer are set directly,
as the listener sets them when it stores the conversation.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from carewatch import domain
from storage.db import Database
from storage.mentions import mention_by_ref, upsert_mentions
from storage.models import Author, Reply, Thread

PAGE_ID = "100000000000001"
IG_ACCOUNT_ID = "17841400000000001"
X_BRAND_ID = "1500000000000000000"

POST_TEXT = "Flights cancelled by the storm: refunds are automatic, no need to call us."
POST_ID = "100000000000001_500"
COMPLAINT_TEXT = "My refund for booking QX7 never arrived. Third time I ask, nobody answers!"
COMPLAINT_REF = "facebook:100000000000001_501"
MOVE_TEXT = "Hi Maria, we're sorry about this. Could you send us your booking code here?"
NOTE_TEXT = "We've sent you a private message so we can look into this with you."
PAGE_MESSAGE_ID = "m_page_0001"
ANSWER_TEXT = "Sure, it's QX7-2231. I paid 412 EUR in March and nothing came back."
ANSWER_REF = "facebook:m_cust_0001"
AGENT_ANSWER_TEXT = "Thanks Maria, I found it: the refund was approved today, 3-5 days to arrive."
MESSENGER_KEY = domain.conversation_key(PAGE_ID, "6100000000000042")

IG_DM_TEXT = "Can I change the name on my ticket? It's for my mother."
IG_DM_REF = "instagram:m_ig_0001"
X_DM_TEXT = "Sending the photos of the smoke residue on seat 14C here, privately."
X_DM_REF = "x:1700000000000000001"
PRIVATE_TEXTS = (ANSWER_TEXT, IG_DM_TEXT, X_DM_TEXT, MOVE_TEXT, AGENT_ANSWER_TEXT)
PRIVATE_REFS = (ANSWER_REF, IG_DM_REF, X_DM_REF)


def _item(platform: domain.Platform, external_id: str, text: str, minutes_ago: float,
          author: domain.Author, *, thread_id: str, urgency: float | None = None,
          visibility: domain.Visibility = domain.Visibility.PRIVATE,
          parent_id: str | None = None, is_own: bool = False) -> domain.Mention:
    score = None
    if urgency is not None:
        score = domain.Score(-0.6, domain.SentimentLabel.NEGATIVE, urgency,
                             ["negative", "question"], "en")
    return domain.Mention(platform=platform, external_id=external_id, text=text,
                          created_at=datetime.now(UTC) - timedelta(minutes=minutes_ago),
                          author=author, thread_id=thread_id, parent_id=parent_id, lang="en",
                          is_own=is_own, score=score, visibility=visibility)


def _reply(mention_pk: int, kind: domain.ReplyKind, text: str, minutes_ago: float, *,
           sent: str | None = None, ref: str | None = None) -> Reply:
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return Reply(mention_pk=mention_pk, kind=kind.value, text=text,
                 state="sent" if sent else "queued", idempotency_key=f"seed:{kind}:{text}",
                 agent="agent1", queued_at=at, sent_at=at if sent else None,
                 platform_id=sent, conversation_ref=ref, attempts=1 if sent else 0)


def seed_private(db: Database) -> None:
    fb, ig, x = domain.Platform.FACEBOOK, domain.Platform.INSTAGRAM, domain.Platform.X
    maria_public = domain.Author(fb, "u-maria", None, "Maria Ramos", 240)
    maria_private = domain.Author(fb, "6100000000000042", None, "Maria Ramos")
    page = domain.Author(fb, PAGE_ID, None, "Acme Air")
    with db.write() as session:
        upsert_mentions(session, [
            _item(fb, POST_ID, POST_TEXT, 600, page, thread_id=POST_ID, is_own=True,
                  visibility=domain.Visibility.PUBLIC),
            _item(fb, "100000000000001_501", COMPLAINT_TEXT, 240, maria_public,
                  thread_id=POST_ID, parent_id=POST_ID, urgency=0.8,
                  visibility=domain.Visibility.PUBLIC),
        ], source_key=f"facebook:page:{PAGE_ID}", brand_author_ids={("facebook", PAGE_ID)})
        upsert_mentions(session, [
            _item(fb, PAGE_MESSAGE_ID, MOVE_TEXT, 230, page, thread_id=MESSENGER_KEY,
                  is_own=True),
            _item(fb, "m_cust_0001", ANSWER_TEXT, 60, maria_private, thread_id=MESSENGER_KEY,
                  urgency=0.66),
        ], source_key=f"facebook:messenger:{PAGE_ID}", brand_author_ids={("facebook", PAGE_ID)})
        upsert_mentions(session, [
            _item(ig, "m_ig_0001", IG_DM_TEXT, 30 * 60,
                  domain.Author(ig, "7200000000000007", "travelmum", "Ann Lee"),
                  thread_id=domain.conversation_key(IG_ACCOUNT_ID, "7200000000000007"),
                  urgency=0.4),
        ], source_key=f"instagram:direct:{IG_ACCOUNT_ID}")
        upsert_mentions(session, [
            _item(x, "1700000000000000001", X_DM_TEXT, 20,
                  domain.Author(x, "u-jdoe", "jdoe", "Jdoe", 52000),
                  thread_id=domain.conversation_key(X_BRAND_ID, "u-jdoe"), urgency=0.5),
        ], source_key=f"x:dms:{X_BRAND_ID}")
    with db.write() as session:
        complaint = mention_by_ref(session, COMPLAINT_REF)
        answer = mention_by_ref(session, ANSWER_REF)
        assert complaint is not None
        assert answer is not None
        assert answer.thread_pk is not None
        thread = session.get(Thread, answer.thread_pk)
        assert thread is not None
        thread.case_mention_pk = complaint.id
        customers = dict(session.execute(
            select(Author.external_id, Author.customer_id).where(
                Author.platform == "facebook",
                Author.external_id.in_(["u-maria", "6100000000000042"]))).all())
        session.execute(Author.__table__.update()
                        .where(Author.__table__.c.external_id == "6100000000000042")
                        .values(customer_id=customers["u-maria"]))
        complaint.status, complaint.assignee = "assigned", "agent1"
        answer.status, answer.assignee = "assigned", "agent1"
        session.add_all([
            _reply(complaint.id, domain.ReplyKind.PRIVATE, MOVE_TEXT, 230,
                   sent=PAGE_MESSAGE_ID, ref=MESSENGER_KEY),
            _reply(complaint.id, domain.ReplyKind.PUBLIC_NOTE, NOTE_TEXT, 230,
                   sent="100000000000001_502"),
            _reply(answer.id, domain.ReplyKind.MESSAGE, AGENT_ANSWER_TEXT, 5),
        ])
