"""The brand's own public replies, read back from the platforms (an agent answered from the
Facebook page or the Instagram app), answer the customer item they reply to
(`storage.brand_answers`): its first response and, while it waited, the status `replied`.
Before, the answered comment stayed `new` in the inbox and its SLA clock kept running."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from sandbox.control import SandboxControl
from sandbox.world import BRAND_X_ID
from storage.db import Database
from storage.models import AuditEntry
from tests.listener.conftest import CliRunner
from tests.listener.helpers import stored

HOUR = 3600.0


def _complaint(control: SandboxControl, ago: float) -> tuple[str, str]:
    """A post of the page and a customer's complaint under it: their ids."""
    post = control.add_fb_post("Our summer timetable is out", "page", ago=5 * HOUR)
    comment = control.add_fb_comment("my bag never arrived, what now?", post_id=post["id"],
                                     author={"name": "Dana Reyes"}, ago=ago)
    return str(post["id"]), str(comment["id"])


def test_replies_from_the_platforms_own_apps_answer_their_comments(
        database_url: str, control: SandboxControl, make_env: Callable[..., dict],
        cli: CliRunner, open_db: Callable[[str], Database]) -> None:
    make_env(database_url)
    post_id, answered_id = _complaint(control, 3 * HOUR)
    post, answered = {"id": post_id}, {"id": answered_id}
    control.add_fb_comment("So sorry Dana, please send us a message with your file number",
                           post_id=post["id"], parent_id=answered["id"], author="page",
                           ago=2.5 * HOUR)
    follow_up = control.add_fb_comment("done, sent it", post_id=post["id"],
                                       parent_id=answered["id"],
                                       author={"name": "Dana Reyes"}, ago=2 * HOUR)
    waiting = control.add_fb_comment("is the lounge open at gate B?", post_id=post["id"],
                                     author={"name": "Sam Ortiz"}, ago=1 * HOUR)
    media = control.add_ig_media("Sunset over the wing", "brand", ago=6 * HOUR)
    ig_answered = control.add_ig_comment("@acmeair refund still not here", media_id=media["id"],
                                         author={"username": "kai"}, ago=4 * HOUR)
    control.add_ig_comment("@kai we are on it, check your DMs", media_id=media["id"],
                           parent_id=ig_answered["id"], author="brand", ago=3.9 * HOUR)
    assert cli("init")[0] == 0
    code, err = cli("listen", "--once")
    assert code == 0, err

    db = open_db(database_url)
    facebook, instagram = stored(db, "facebook"), stored(db, "instagram")
    dana = facebook[answered["id"]]
    reply = next(m for m in facebook.values() if m.is_own and m.parent_id == answered["id"])
    assert dana.status == "replied"
    assert dana.first_response_at == reply.created_at
    assert facebook[follow_up["id"]].status == "new"  # written after the answer: still waiting
    assert facebook[follow_up["id"]].first_response_at is None
    assert facebook[waiting["id"]].status == "new"
    kai = instagram[ig_answered["id"]]
    assert kai.status == "replied"
    assert kai.first_response_at is not None
    assert kai.first_response_at - kai.created_at == timedelta(seconds=0.1 * HOUR)
    with db.session() as session:
        audit = session.execute(select(AuditEntry).where(
            AuditEntry.action == "status_changed")).scalars().all()
    assert sorted(a.target for a in audit) == sorted(
        [f"facebook:{answered['id']}", f"instagram:{ig_answered['id']}"])
    assert all(a.details["old"] == "new" and a.details["new"] == "replied" for a in audit)

    code, err = cli("listen", "--once")  # read again: nothing changes, nothing audited twice
    assert code == 0, err
    assert stored(db, "facebook")[answered["id"]].first_response_at == reply.created_at
    with db.session() as session:
        assert len(session.execute(select(AuditEntry).where(
            AuditEntry.action == "status_changed")).scalars().all()) == 2


def test_a_reply_carewatch_sent_keeps_its_own_first_response_when_read_back(
        database_url: str, control: SandboxControl, make_env: Callable[..., dict],
        cli: CliRunner, open_db: Callable[[str], Database]) -> None:
    make_env(database_url)
    _, comment_id = _complaint(control, 1 * HOUR)
    comment = {"id": comment_id}
    assert cli("init")[0] == 0
    assert cli("listen", "--once")[0] == 0
    assert cli("reply", f"facebook:{comment['id']}", "--text", "Sorry Dana, on it")[0] == 0
    assert cli("respond", "--once")[0] == 0
    db = open_db(database_url)
    sent = stored(db, "facebook")[comment["id"]]
    assert (sent.status, sent.first_response_at is not None) == ("replied", True)
    assert cli("listen", "--once")[0] == 0  # reads the reply back as the brand's own
    again = stored(db, "facebook")[comment["id"]]
    assert again.first_response_at == sent.first_response_at
    assert again.status == "replied"


def test_an_x_reply_read_before_the_tweet_it_answers_still_answers_it(
        database_url: str, control: SandboxControl, make_env: Callable[..., dict],
        cli: CliRunner, open_db: Callable[[str], Database]) -> None:
    """X backfills newest first, 100 tweets a page: the brand's reply lands on page one and
    the customer's tweet it answers on page two. Storing the tweet finds the reply."""
    make_env(database_url)
    tweet = control.add_tweet("@acmeair my bag never made it to Lisbon",
                              {"username": "kimp", "name": "Kim Park"}, ago=3 * HOUR)
    for i in range(120):  # between the two: the search pages split them
        control.add_tweet(f"@acmeair what time does boarding open for AA{i}?",
                          {"username": f"flyer{i}"}, ago=2 * HOUR - i * 30)
    reply = control.add_tweet("@kimp Acme Air here: so sorry, please DM us the file number",
                              {"id": BRAND_X_ID}, in_reply_to=tweet["id"], ago=0.5 * HOUR)
    unanswered = control.add_tweet("@acmeair and my stroller too", {"username": "kimp"},
                                   ago=2.5 * HOUR)
    assert cli("init")[0] == 0
    code, err = cli("listen", "--once")
    assert code == 0, err

    db = open_db(database_url)
    x = stored(db, "x")
    assert x[str(reply["id"])].is_own
    kim = x[str(tweet["id"])]
    assert kim.first_response_at == x[str(reply["id"])].created_at
    assert kim.status == "replied"
    assert x[str(unanswered["id"])].status == "new"
    assert x[str(unanswered["id"])].first_response_at is None
    with db.session() as session:
        audit = session.execute(select(AuditEntry).where(
            AuditEntry.action == "status_changed")).scalars().all()
    assert [a.target for a in audit] == [f"x:{tweet['id']}"]
    assert audit[0].details["reason"].endswith(f"x:{reply['id']}")
