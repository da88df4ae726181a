"""The `[[rules]]` engine against a real database and the sandbox: actions, approvals,
audit, round robin, private conversations, idempotency (in-process and two processes)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from carewatch import domain
from carewatch.settings import ConfigError, load_settings
from carewatch.topics import train
from responders import teamwork
from responders.automation import RuleEngine, check_rule_references
from responders.outbox import run_due
from storage.models import AuditEntry, Author, Customer, Mention, Reply, RuleRun, TeamTurn, User
from storage.routing import routing_for
from storage.topics import save_topic_model

from .conftest import Stand

RULES = """
[[canned_replies]]
name = "Bag trace"
text = "Hi {first_name}, sorry your bag hasn't arrived. Please DM us the file reference. ^{agent}"

[[canned_replies]]
name = "Thanks"
text = "Thank you {handle}! ^{agent}"

[[canned_replies]]
name = "After hours"
text = "Thanks {first_name}, our team is in from 9am; we've sent you a message."

[[canned_replies]]
name = "After hours DM"
text = "Hi {first_name}, our team is back at 9am. Tell us your booking reference here."

[[teams]]
name = "bags team"
members = ["maria", "omar", "locked", "ann"]

[hours]
timezone = "Europe/London"
days = ["mon", "tue", "wed", "thu", "fri"]
start = "09:00"
end = "17:00"
"""


def with_rules(stand: Stand, rules: str, tmp_path: Path) -> None:
    """Append `rules` (and the shared canned replies, team and hours) to the stand's config."""
    config = tmp_path / "carewatch.toml"
    config.write_text(config.read_text() + RULES + rules)
    stand.settings = load_settings(config)
    with stand.db.write() as session:
        for name, role in (("maria", "manager"), ("omar", "agent"), ("ann", "analyst"),
                           ("locked", "agent")):
            session.add(User(username=name, role=role, password_hash="x",
                             locked_until=datetime.now(UTC) + timedelta(days=1)
                             if name == "locked" else None))
    teamwork.seed_canned_replies(stand.db, stand.settings)
    check_rule_references(stand.db, stand.settings)


def with_human_agent_messenger(tmp_path: Path) -> None:
    """Add a Messenger source whose people may answer up to 7 days (HUMAN_AGENT tag)."""
    config = tmp_path / "carewatch.toml"
    config.write_text(config.read_text().replace(
        '[[sources]]\nplatform = "facebook"\npage_id',
        '[[sources]]\nplatform = "facebook"\nkind = "messenger"\npage_id = "100000000000001"\n'
        'human_agent = true\n\n[[sources]]\nplatform = "facebook"\npage_id', 1))


def thank_in_private(stand: Stand, tmp_path: Path, *, approval: bool) -> None:
    """A human-agent Messenger source and a rule thanking every private message."""
    with_human_agent_messenger(tmp_path)
    with_rules(stand, f"""
[[rules]]
name = "thank in private"
when = {{ visibility = "private" }}
then = {{ reply_canned = "Thanks", approval = {str(approval).lower()} }}
""", tmp_path)


def scored(stand: Stand, mention: domain.Mention, *, label: str, urgency: float,
           topic: str | None = None) -> int:
    """Give a stored item the scores the listener would have (the rules read them)."""
    with stand.db.write() as session:
        row = session.execute(select(Mention).where(
            Mention.external_id == mention.external_id)).scalar_one()
        row.sentiment_label, row.urgency, row.topic = label, urgency, topic
        return row.id


def replies(stand: Stand) -> list[Reply]:
    with stand.db.session() as session:
        rows = list(session.execute(select(Reply).order_by(Reply.id)).scalars())
        session.expunge_all()
        return rows


def test_rule_assigns_tags_and_queues_a_canned_reply_for_approval(
        any_stand: Stand, tmp_path: Path) -> None:
    stand = any_stand
    with_rules(stand, """
[[rules]]
name = "bags to maria"
when = { topics = ["Lost Luggage"], sentiment = ["negative"] }
then = { assign = "maria", tag = "bags", priority = "high", reply_canned = "Bag trace" }

[[rules]]
name = "also thank"
when = { topics = ["Lost Luggage"] }
then = { tag = ["luggage", "bags"], reply_canned = "Thanks", approval = false }
""", tmp_path)
    bag = stand.tweet("@acmeair my bag is lost", username="kim", name="Kim Park")
    other = stand.tweet("@acmeair nice flight", username="lee")
    bag_id = scored(stand, bag, label="negative", urgency=0.4, topic="Lost Luggage")
    other_id = scored(stand, other, label="positive", urgency=0.1)
    engine = RuleEngine(stand.db, stand.settings)

    assert engine.apply([bag_id, other_id]) == {bag_id: ["bags to maria", "also thank"],
                                                other_id: []}
    holder = teamwork.holder(stand.db, f"x:{bag.external_id}")
    assert (holder.assignee, holder.status) == ("maria", "assigned")
    [reply] = replies(stand)
    assert reply.state == "pending_approval"
    assert reply.agent == "rule:bags to maria"
    assert reply.text.startswith("Hi Kim, sorry your bag")
    assert reply.text.endswith("^maria")
    with stand.db.session() as session:
        routing = routing_for(session, bag_id)
        actors = set(session.execute(select(AuditEntry.actor, AuditEntry.action)).all())
    assert routing.tags == ["bags", "luggage"]
    assert routing.priority == "high"
    assert routing.lines() == [
        "routed by rule 'bags to maria': assign maria, tag bags, priority high, reply "
        "'Bag trace' (waiting for approval)",
        "routed by rule 'also thank': tag luggage, tag bags, reply skipped: a rule already "
        "queued an answer"]
    assert {("rule:bags to maria", "assigned"), ("rule:bags to maria", "tagged"),
            ("rule:bags to maria", "priority_set"), ("rule:bags to maria", "reply_queued"),
            ("rule:bags to maria", "rule_applied"), ("rule:also thank", "rule_applied")
            } <= actors

    # Once per item: again, or after a restart (a new engine), nothing more happens.
    assert engine.apply([bag_id, other_id]) == {}
    assert RuleEngine(stand.db, stand.settings).catch_up() == {}
    assert len(replies(stand)) == 1
    with stand.db.session() as session:
        assert session.execute(select(func.count(RuleRun.id))).scalar_one() == 2

    # The manager approves (edited), the responder sends it once.
    assert teamwork.approve(stand.db, reply.id, "maria", text="Hi Kim, on it. ^maria") \
        == [reply.id]
    assert run_due(stand.db, stand.settings).sent == 1
    assert run_due(stand.db, stand.settings).sent == 0
    assert [s["text"] for s in stand.ctl.sent()] == ["Hi Kim, on it. ^maria"]
    # An automatic answer does not make the rule the customer's agent for next time.
    with stand.db.session() as session:
        customer = session.execute(select(Customer).join(Author).join(
            Mention, Mention.author_pk == Author.id).where(Mention.id == bag_id)).scalar_one()
        assert customer.last_agent is None


def test_no_automatic_send_to_negative_or_urgent_items(stand: Stand, tmp_path: Path) -> None:
    with_rules(stand, """
[[rules]]
name = "thank"
when = {}
then = { reply_canned = "Thanks", approval = false }
""", tmp_path)
    items = {label_urgency: scored(stand, stand.tweet(f"@acmeair {n}", username=f"u{n}"),
                                   label=label_urgency[0], urgency=label_urgency[1])
             for n, label_urgency in enumerate([("positive", 0.1), ("negative", 0.1),
                                                ("positive", 0.8)])}
    RuleEngine(stand.db, stand.settings).apply(items.values())
    states = {r.mention_pk: r.state for r in replies(stand)}
    assert states == {items[("positive", 0.1)]: "queued",
                      items[("negative", 0.1)]: "pending_approval",
                      items[("positive", 0.8)]: "pending_approval"}
    with stand.db.session() as session:
        lines = routing_for(session, items[("negative", 0.1)]).lines()
    assert lines == ["routed by rule 'thank': reply 'Thanks' (waiting for approval: negative "
                     "or urgent item)"]


def test_team_round_robin_among_available_agents(stand: Stand, tmp_path: Path) -> None:
    with_rules(stand, """
[[rules]]
name = "to the bags team"
when = { keywords = ["bag*"] }
then = { assign = "bags team" }
""", tmp_path)
    ids = [scored(stand, stand.tweet(f"@acmeair bag {n}", username=f"c{n}"),
                  label="neutral", urgency=0.2) for n in range(5)]
    engine = RuleEngine(stand.db, stand.settings)
    for mention_id in ids:  # one page each: the rotation persists between calls
        engine.apply([mention_id])
    with stand.db.session() as session:
        assignees = [session.get(Mention, i).assignee for i in ids]  # type: ignore[union-attr]
        turn = session.get(TeamTurn, "bags team")
        assert turn is not None
        assert turn.turns == 5
    # ann is an analyst and `locked` is locked out: maria and omar take turns.
    assert assignees == ["maria", "omar", "maria", "omar", "maria"]


def test_out_of_hours_acknowledgement_and_move_to_private(stand: Stand,
                                                         tmp_path: Path) -> None:
    with_rules(stand, """
[[rules]]
name = "after hours"
when = { in_hours = false, visibility = "public" }
then = { acknowledge = "After hours", move_private = "After hours DM" }
""", tmp_path)
    saturday = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    monday = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    night = scored(stand, stand.fb_comment("Where is my refund?", name="Bob Smith"),
                   label="neutral", urgency=0.3)
    day = scored(stand, stand.fb_comment("Any news on my refund?", name="Eve Stone"),
                 label="neutral", urgency=0.3)
    RuleEngine(stand.db, stand.settings, clock=lambda: saturday).apply([night])
    RuleEngine(stand.db, stand.settings, clock=lambda: monday).apply([day])
    rows = replies(stand)
    assert [(r.mention_pk, r.kind, r.state) for r in rows] == [
        (night, "private", "pending_approval"), (night, "public_note", "pending_approval")]
    assert rows[0].text.startswith("Hi Bob, our team is back at 9am")
    # One approval releases the pair; the note goes out after the private reply.
    assert sorted(teamwork.approve(stand.db, rows[1].id, "maria")) == [r.id for r in rows]
    assert run_due(stand.db, stand.settings).sent == 2
    sent = {s["kind"]: s["text"] for s in stand.ctl.sent()}
    assert sent == {"private_reply": rows[0].text, "facebook_comment": rows[1].text}


def test_private_automatic_reply_respects_the_window_without_human_agent(
        stand: Stand, tmp_path: Path) -> None:
    thank_in_private(stand, tmp_path, approval=False)
    assert stand.settings.sources[1].human_agent
    old = stand.message(domain.Platform.FACEBOOK, "thanks for the help", customer="olga",
                        ago=30 * 3600)
    fresh = stand.message(domain.Platform.FACEBOOK, "thanks a lot", customer="fred")
    old_id = scored(stand, old, label="positive", urgency=0.1)
    fresh_id = scored(stand, fresh, label="positive", urgency=0.1)
    RuleEngine(stand.db, stand.settings).apply([old_id, fresh_id])
    with stand.db.session() as session:
        why = routing_for(session, old_id).lines()[0]
    # A person could still answer the 30-hour-old message with the HUMAN_AGENT tag; a rule
    # may not, so its reply is not queued.
    assert "reply skipped" in why
    assert "never use the HUMAN_AGENT tag" in why
    [reply] = replies(stand)
    assert (reply.mention_pk, reply.kind, reply.state) == (fresh_id, "message", "queued")
    # Fred writes again before the answer went out: the waiting answer covers it.
    again = stand.message(domain.Platform.FACEBOOK, "thanks again", customer="fred")
    again_id = scored(stand, again, label="positive", urgency=0.1)
    with stand.db.session() as session:
        same = {session.get(Mention, i).thread_pk for i in (fresh_id, again_id)}  # type: ignore[union-attr]
    assert len(same) == 1
    RuleEngine(stand.db, stand.settings).apply([again_id])
    with stand.db.session() as session:
        assert routing_for(session, again_id).lines() == [
            "routed by rule 'thank in private': reply skipped: an automatic answer in this "
            "conversation is waiting"]
    assert len(replies(stand)) == 1
    assert run_due(stand.db, stand.settings).sent == 1
    [sent] = stand.ctl.sent()
    assert sent["messaging_type"] == "RESPONSE"
    assert sent.get("tag") is None


def test_an_approved_rule_reply_never_gets_the_human_agent_tag_at_send(
        stand: Stand, tmp_path: Path) -> None:
    thank_in_private(stand, tmp_path, approval=True)
    message = stand.message(domain.Platform.FACEBOOK, "thanks", customer="gus",
                            ago=20 * 3600)
    mention_id = scored(stand, message, label="positive", urgency=0.1)
    RuleEngine(stand.db, stand.settings).apply([mention_id])
    [reply] = replies(stand)
    teamwork.approve(stand.db, reply.id, "maria")
    # The approval came late: the customer's message is now 30 hours old. A person's message
    # would go with the HUMAN_AGENT tag; the rule's fails with the window's reason, unsent.
    with stand.db.write() as session:
        session.execute(update(Mention).where(Mention.id == mention_id).values(
            created_at=datetime.now(UTC) - timedelta(hours=30)))
    summary = run_due(stand.db, stand.settings)
    assert summary.failed == 1
    assert "never use the HUMAN_AGENT tag" in summary.outcomes[0].message
    assert stand.ctl.sent() == []


def test_unknown_user_team_member_or_canned_reply_is_refused(stand: Stand,
                                                            tmp_path: Path) -> None:
    config = tmp_path / "carewatch.toml"
    base = config.read_text()
    for extra, needle in [
        ('[[rules]]\nname = "r"\nthen = { assign = "nobody" }\n',
         "rules[0].then.assign: unknown user or team 'nobody'"),
        ('[[rules]]\nname = "r"\nthen = { reply_canned = "Nope" }\n',
         "rules[0].then.reply_canned: unknown canned reply 'Nope'"),
        ('[[teams]]\nname = "t"\nmembers = ["ghost"]\n',
         "teams[0].members: unknown user 'ghost'"),
    ]:
        config.write_text(base + extra)
        with pytest.raises(ConfigError, match=needle.replace("[", r"\[").replace("]", r"\]")):
            check_rule_references(stand.db, load_settings(config))


def test_a_rule_on_a_misspelt_topic_is_refused_naming_the_known_ones(
        any_stand: Stand, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A misspelt topic would make the rule silently never fire: a near miss of a known
    topic is refused. A name unlike every known topic, or any name before a topic exists,
    only warns (topics are often learned after the rules are written); a topic a later
    model dropped warns too (the rule was valid when written)."""
    stand = any_stand
    config = tmp_path / "carewatch.toml"
    base = config.read_text()

    def check(topic: str) -> None:
        config.write_text(base + f'[[rules]]\nname = "bags"\nwhen = {{ topics = ["{topic}"] }}\n'
                          'then = { tag = "bags" }\n')
        check_rule_references(stand.db, load_settings(config))

    def learn(*labels: str) -> None:
        examples = [(f"my {word} problem number {i}", label) for label in labels
                    for word in label.lower().split() for i in range(3)]
        with stand.db.write() as session:
            save_topic_model(session, train(examples), actor="test")

    capsys.readouterr()
    check("Lost Luggage")  # no topic at all yet: a warning, not a refusal
    assert "rule_topic_not_yet_known" in capsys.readouterr().err

    learn("Lost Luggage", "Late Flight")
    check("lost luggage")  # matched ignoring case, as the engine matches
    with pytest.raises(ConfigError) as refused:
        check("Lost Lugage")
    assert str(refused.value) == ("rules[0].when.topics: unknown topic 'Lost Lugage' in rule "
                                  "'bags': did you mean 'Lost Luggage'? (the known topics are: "
                                  "Late Flight, Lost Luggage)")
    capsys.readouterr()
    check("Seat Upgrades")  # to be learned later: idle until then, said at start
    assert "rule_topic_not_yet_known" in capsys.readouterr().err

    learn("Late Flight", "Refunds")  # a re-learn drops Lost Luggage
    check("Lost Luggage")
    assert "rule_topic_not_yet_known" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="known topics are: Late Flight, Refunds"):
        check("Refund")
    learn("Lost Luggage")  # back again: known
    check("Lost Luggage")


TWO_PROCESSES = textwrap.dedent("""
    import sys
    from carewatch.settings import load_settings
    from responders.automation import RuleEngine
    from storage.db import open_database

    settings = load_settings(sys.argv[1])
    db = open_database(settings.database_url)
    ids = [int(i) for i in sys.argv[2].split(",")]
    sys.stdin.readline()  # start together
    RuleEngine(db, settings).apply(ids)
    db.dispose()
""")


def test_two_processes_route_each_item_once(any_stand: Stand, tmp_path: Path) -> None:
    stand = any_stand
    with_rules(stand, """
[[rules]]
name = "bags"
when = {}
then = { assign = "bags team", tag = "bags", reply_canned = "Thanks" }
""", tmp_path)
    ids = [scored(stand, stand.tweet(f"@acmeair {n}", username=f"p{n}"), label="neutral",
                  urgency=0.2) for n in range(30)]
    config = str(tmp_path / "carewatch.toml")
    procs = [subprocess.Popen([sys.executable, "-c", TWO_PROCESSES, config,
                               ",".join(map(str, order))], stdin=subprocess.PIPE,
                              env=stand.env | {"PATH": "/usr/bin:/bin"})
             for order in (ids, ids[::-1])]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
    assert [proc.wait(120) for proc in procs] == [0, 0]
    with stand.db.session() as session:
        runs = session.execute(select(RuleRun.mention_pk, func.count()).group_by(
            RuleRun.mention_pk)).all()
        per_item = session.execute(select(Reply.mention_pk, func.count()).group_by(
            Reply.mention_pk)).all()
        turn = session.get(TeamTurn, "bags team")
        assigned = session.execute(select(Mention.assignee, func.count()).where(
            Mention.id.in_(ids)).group_by(Mention.assignee)).all()
        assigned_audits = session.execute(select(func.count(AuditEntry.id)).where(
            AuditEntry.action == "assigned")).scalar_one()
    assert sorted(runs) == [(i, 1) for i in ids]
    assert sorted(per_item) == [(i, 1) for i in ids]
    assert turn is not None
    assert turn.turns == 30
    assert sorted(assigned) == [("maria", 15), ("omar", 15)]
    assert assigned_audits == 30


def test_catch_up_routes_what_a_dead_process_left(stand: Stand, tmp_path: Path) -> None:
    """Items stored but never routed (the process died between the page's commit and its
    rules) are routed by the next start, if they arrived within the last hour."""
    with_rules(stand, """
[[rules]]
name = "tag all"
when = {}
then = { tag = "seen" }
""", tmp_path)
    recent = scored(stand, stand.tweet("@acmeair one", username="r1"), label="neutral",
                    urgency=0.1)
    old = scored(stand, stand.tweet("@acmeair two", username="r2"), label="neutral",
                 urgency=0.1)
    with stand.db.write() as session:
        session.execute(update(Mention).where(Mention.id == old).values(
            fetched_at=datetime.now(UTC) - timedelta(hours=2)))
    assert RuleEngine(stand.db, stand.settings).catch_up() == {recent: ["tag all"]}
    assert RuleEngine(stand.db, stand.settings).catch_up() == {}
