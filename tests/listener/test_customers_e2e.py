"""End to end, through the sandbox, the real tweepy and facebook-sdk clients, the real CLI
and a real database (SQLite and PostgreSQL): two different people who share a handle and a
name across X, Facebook and Instagram stay two customers with their own history, and Graph
comments without `from` belong to no customer at all. The shared handle is offered to an
agent as a likely match, with its reason, and nothing more."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from carewatch.domain import UNKNOWN_AUTHOR_ID
from sandbox.server import SandboxServer
from storage.customer_links import likely_matches
from storage.customers import customer_history, recent_contacts
from storage.db import Database
from storage.models import Author, Customer
from tests.listener.conftest import CliRunner

X_TEXT = "@acmeair my flight AA12 was cancelled and nobody answers"
FB_TEXT = "Acme Air lost my wheelchair, I am Sam Lee from Leeds"
IG_TEXT = "@acmeair the lounge in Oslo was closed again"
HIDDEN = ["Who am I? Graph will not say.", "Another stranger, also hidden."]


def test_shared_handles_and_hidden_authors_share_no_history(
        database_url: str, sandbox: SandboxServer, make_env: Callable[..., dict],
        cli: CliRunner, open_db: Callable[[str], Database]) -> None:
    world = sandbox.world
    now = world.now()
    world.add_tweet(X_TEXT, {"username": "samlee", "name": "Sam Lee"}, created_at=now - 900)
    post = world.add_fb_post("Tell us about your trip!", "page", created_at=now - 3600)
    world.add_fb_comment(FB_TEXT, post_id=post.id, author={"name": "Sam Lee"},
                         created_at=now - 800)
    for i, text in enumerate(HIDDEN):
        world.add_fb_comment(text, post_id=post.id, author={"name": f"Hidden {i}"},
                             created_at=now - 700 + i, hide_from=True)
    media = world.add_ig_media("Our new lounge", author="brand", created_at=now - 3600)
    world.add_ig_comment(IG_TEXT, media_id=media.id, author={"username": "samlee"},
                         created_at=now - 600)
    make_env(database_url)
    assert cli("init")[0] == 0
    code, err = cli("listen", "--once")
    assert code == 0, err

    db = open_db(database_url)
    with db.session() as s:
        authors = {(a.platform, a.external_id): a for a in s.execute(select(Author)).scalars()}
        x = next(a for a in authors.values() if a.platform == "x" and a.handle == "samlee")
        fb = next(a for a in authors.values() if a.platform == "facebook" and
                  a.name == "Sam Lee")
        ig = next(a for a in authors.values() if a.platform == "instagram" and
                  a.handle == "samlee")
        assert len({x.customer_id, fb.customer_id, ig.customer_id}) == 3
        assert None not in {x.customer_id, fb.customer_id, ig.customer_id}
        for author, text in ((x, X_TEXT), (fb, FB_TEXT), (ig, IG_TEXT)):
            assert author.customer_id is not None
            view = customer_history(s, author.customer_id)
            assert view is not None
            assert [m.text for m in view.mentions] == [text]  # their own, nobody else's
        # Comments without `from`: one stand-in author, no customer, no history, no count.
        hidden = authors[("facebook", UNKNOWN_AUTHOR_ID)]
        assert hidden.customer_id is None
        assert recent_contacts(s, [("facebook", UNKNOWN_AUTHOR_ID)]) == {}
        shown = {v.customer_id for v in (customer_history(s, c) for c in
                 s.execute(select(Customer.id)).scalars()) if v is not None
                 for m in v.mentions if m.text in HIDDEN}
        assert shown == set()
        # The shared handle and name are likely matches for an agent, each with its reason.
        assert x.customer_id is not None
        reasons = {m.customer_id: m.reasons for m in likely_matches(s, x.customer_id)}
    assert reasons == {ig.customer_id: ["same handle @samlee on Instagram and X"],
                       fb.customer_id: ["same name \u201cSam Lee\u201d on Facebook and X"]}
