"""Rules before queueing: one clear line and exit 2 on the CLI, nothing queued."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from carewatch.cli import main
from carewatch.platforms.x import x_weighted_length
from responders.rules import RuleViolation
from responders.teamwork import assign
from storage.models import Reply

from .conftest import Stand


def _count(stand: Stand) -> int:
    with stand.db.session() as session:
        return int(session.execute(select(func.count(Reply.id))).scalar_one())


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str], needle: str) -> None:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert needle in err, err
    assert "Traceback" not in err


def test_bad_replies_exit_2_with_one_line(stand: Stand,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    tweet = stand.tweet()
    fb = stand.fb_comment()
    ref = f"x:{tweet.external_id}"
    assert x_weighted_length("字" * 141) == 282
    _refused(["reply", "x:1699999999999999999", "--text", "hi"], capsys, "unknown mention")
    _refused(["reply", ref, "--text", "字" * 141], capsys, "282 characters")
    _refused(["reply", ref, "--text", "   "], capsys, "text is empty")
    _refused(["reply", ref, "--text", ""], capsys, "text is empty")
    _refused(["reply", "nonsense", "--text", "hi"], capsys, "malformed mention")
    _refused(["reply", "myspace:1", "--text", "hi"], capsys, "unknown platform")
    for name in ("x:abc", "x:-1", "x:1e5", "x:\uff11\uff12"):  # ASCII digits only
        _refused(["reply", name, "--text", "hi"], capsys, "an X id is all digits")
        _refused(["suggest", name], capsys, "an X id is all digits")
    _refused(["move-private", ref, "--text", "hi", "--public-note", "字" * 141], capsys,
             "public note text is 282")
    assert _count(stand) == 0
    assert main(["move-private", f"facebook:{fb.external_id}", "--text", "DM us"]) == 0
    _refused(["move-private", f"facebook:{fb.external_id}", "--text", "again"], capsys,
             "only one is allowed per comment")
    assert _count(stand) == 1
    # URLs count 23 whatever their length: a long URL in a short reply is fine.
    assert main(["reply", ref, "--text", "See https://example.com/" + "a" * 300]) == 0


def test_private_reply_window_own_posts_and_posts(stand: Stand,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    old = stand.fb_comment("old complaint", ago=8 * 86400)
    _refused(["move-private", f"facebook:{old.external_id}", "--text", "hi"], capsys,
             "only within 7 days")
    own = stand.tweet("Our summer schedule is out", own=True)
    _refused(["reply", f"x:{own.external_id}", "--text", "hi"], capsys, "brand's own post")
    _refused(["reply", f"facebook:{old.external_id}", "--text", "x" * 8001], capsys,
             "allows 8000")
    ig = stand.ig_comment()
    _refused(["reply", f"instagram:{ig.external_id}", "--text", "x" * 2201], capsys,
             "allows 2200")


def test_assigned_to_another_agent(stand: Stand, capsys: pytest.CaptureFixture[str]) -> None:
    from storage.models import User

    with stand.db.write() as session:
        session.add(User(username="maria", role="manager", password_hash="x"))
        session.add(User(username="bob", role="agent", password_hash="x"))
        session.add(User(username="alice", role="agent", password_hash="x"))
    tweet = stand.tweet()
    ref = f"x:{tweet.external_id}"
    assign(stand.db, ref, "bob", "bob")
    _refused(["reply", ref, "--text", "hi", "--as", "alice"], capsys,
             "is assigned to bob")
    _refused(["assign", ref, "--to", "alice", "--as", "alice"], capsys,
             "already assigned to bob")
    assert main(["reply", ref, "--text", "hi", "--as", "maria"]) == 0
    assert main(["reply", ref, "--text", "hi", "--as", "bob"]) == 0
    assert main(["assign", ref, "--to", "alice", "--as", "maria"]) == 0
    assert main(["reply", ref, "--text", "hi again"]) == 0  # $USER is alice
    with pytest.raises(RuleViolation):
        assign(stand.db, ref, "bob", "bob")


def test_dm_closed_and_deleted_comment_fail_with_reasons(
        stand: Stand, capsys: pytest.CaptureFixture[str]) -> None:
    tweet = stand.tweet(username="hal", dms_open=False)
    fb = stand.fb_comment()
    assert main(["move-private", f"x:{tweet.external_id}", "--text", "DM?",
                 "--public-note", "Sent you a DM"]) == 0
    assert main(["reply", f"facebook:{fb.external_id}", "--text", "Hello"]) == 0
    stand.ctl.delete_graph_object(fb.external_id)
    capsys.readouterr()
    assert main(["respond", "--once"]) == 1
    err = capsys.readouterr().err
    assert "@hal does not accept direct messages" in err
    assert "private message it announces failed" in err
    assert "deleted or is no longer visible" in err
    assert "failed:" in err.splitlines()[-1]
    assert stand.ctl.sent() == []
    with stand.db.session() as session:
        assert set(session.execute(select(Reply.state)).scalars()) == {"failed"}


@pytest.mark.parametrize(("platform", "article"), [("x", "an X"), ("facebook", "a Facebook")])
def test_an_over_long_text_names_the_platform_in_plain_english(platform: str,
                                                               article: str) -> None:
    from responders.rules import check_text

    with pytest.raises(RuleViolation, match=f"characters.*; {article} public reply allows"):
        check_text(platform, "public", "a" * 70_000)


def test_as_an_unknown_user(any_stand: Stand, capsys: pytest.CaptureFixture[str]) -> None:
    """`--as` names a user of the users table. A name that is none (a typo) may still queue a
    reply or a move to private, as CONTRACT.md lets any `--as USER` do (and `$USER` always
    could), with a one-line warning; it may not take an assignment (exit 2, nothing
    changed). Before, both went through in silence."""
    from storage.models import Mention, User

    stand = any_stand
    with stand.db.write() as session:
        session.add(User(username="maria", role="manager", password_hash="x"))
    tweet, fb, dm = stand.tweet(), stand.fb_comment(), stand.dm()
    _refused(["assign", f"x:{tweet.external_id}", "--to", "maria", "--as", "nobody"], capsys,
             "--as: unknown user 'nobody'")
    with stand.db.session() as session:
        assert session.execute(select(Mention.assignee).where(
            Mention.external_id == tweet.external_id)).scalar_one() is None
    for argv in (["reply", f"x:{tweet.external_id}", "--text", "hi"],
                 ["reply", f"x:{dm.external_id}", "--text", "hi"],
                 ["move-private", f"facebook:{fb.external_id}", "--text", "DM us",
                  "--public-note", "sent you a message"]):
        capsys.readouterr()
        assert main([*argv, "--as", "nobody"]) == 0
        err = capsys.readouterr().err
        assert "warning: --as: unknown user 'nobody'" in err
        assert "queued under that name" in err
    assert _count(stand) == 4  # two replies, a private message and its public note
    capsys.readouterr()
    assert main(["reply", f"x:{tweet.external_id}", "--text", "hi again", "--as", "maria"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert _count(stand) == 5


def test_the_brands_own_message_is_named_a_message(stand: Stand,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Replying to the brand's own DM (its event id, e.g. from the DM listener's history)
    says "message", not "post"."""
    from sqlalchemy import update

    from storage.models import Mention

    dm = stand.dm()
    with stand.db.write() as session:
        session.execute(update(Mention).where(Mention.external_id == dm.external_id)
                        .values(is_own=True))
    _refused(["reply", f"x:{dm.external_id}", "--text", "hi"], capsys,
             "is the brand's own message")
    assert _count(stand) == 0
