"""End to end: the real sandbox, the real clients, the real CLI and a real database.

`init`, `listen --once`, new items, `listen --once` again; every mention exactly once with its
text byte for byte, replies threaded, the second poll incremental, the brand's own posts kept
as context only. The same test runs on SQLite and PostgreSQL (`database_url` is parametrized).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from sandbox.control import SandboxControl
from sandbox.server import SandboxServer
from sandbox.world import BRAND_X_ID
from storage.db import Database
from storage.mentions import count_mentions
from tests.listener.conftest import CliRunner
from tests.listener.helpers import (
    expected_facebook,
    expected_instagram,
    expected_x,
    populate,
    source_by_prefix,
    stored,
    stored_pairs,
)


def _assert_complete(db: Database, sandbox: SandboxServer) -> None:
    """Stored == what the platforms hold, each once, each text identical."""
    pairs = stored_pairs(db)
    dupes = [p for p, n in Counter(pairs).items() if n > 1]
    assert not dupes
    for platform, expected in (("x", expected_x(sandbox.world)),
                               ("facebook", expected_facebook(sandbox.world)),
                               ("instagram", expected_instagram(sandbox.world))):
        rows = stored(db, platform)
        assert set(rows) == set(expected), platform
        wrong = [k for k, text in expected.items() if rows[k].text != text]
        assert not wrong, f"{platform}: texts changed for {wrong[:3]}"


def test_listen_once_twice_end_to_end(database_url: str, sandbox: SandboxServer,
                                      control: SandboxControl, make_env: Callable[..., dict],
                                      cli: CliRunner, open_db: Callable[[str], Database]) -> None:
    sandbox.world.seed(260, seed=11, days=3.0)
    made = populate(sandbox.world)
    make_env(database_url)
    assert cli("init")[0] == 0

    code, err = cli("listen", "--once")
    assert code == 0, err
    assert "x:mentions:1500000000000000000:" in err
    assert " new, " in err
    db = open_db(database_url)
    _assert_complete(db, sandbox)

    # X threads: conversation_id and the replied-to tweet; the brand's reply is context.
    xs = stored(db, "x")
    root, brand, reply = (xs[made["x"][k]] for k in ("root", "brand_reply", "customer_reply"))
    assert root.thread_id == root.external_id
    assert root.parent_id is None
    assert reply.thread_id == root.external_id
    assert reply.parent_id == brand.external_id
    assert brand.is_own
    assert not root.is_own
    assert not reply.is_own
    # The retweet is kept as an echo: stored, scored for sentiment, out of the queue.
    echo = xs[made["x"]["retweet"]]
    assert echo.is_echo
    assert echo.status == "closed"
    assert echo.urgency == 0
    assert echo.urgency_reasons == "echo"
    assert echo.sentiment is not None
    assert not root.is_echo
    assert root.url == f"https://x.com/traveller1/status/{root.external_id}"
    assert root.author is not None
    assert root.author.followers == 250
    # Facebook: page post and page reply are context; replies point at their comment.
    fb = stored(db, "facebook")
    f = made["facebook"]
    assert fb[f["page_post"]].is_own
    assert fb[f["page_reply"]].is_own
    assert not fb[f["visitor"]].is_own
    assert not fb[f["c1"]].is_own
    assert fb[f["c1"]].thread_id == f["page_post"]
    assert fb[f["c1"]].parent_id == f["page_post"]
    assert fb[f["r2"]].parent_id == f["c1"]
    assert fb[f["r2"]].thread_id == f["page_post"]
    assert all(fb[c].thread_id == f["visitor"] for c in f["many"])
    # Instagram: the caption is context, replies point at their comment.
    ig = stored(db, "instagram")
    i = made["instagram"]
    assert ig[i["media"]].is_own
    assert ig[i["brand_reply"]].is_own
    assert ig[i["r2"]].parent_id == i["c1"]
    assert ig[i["r2"]].thread_id == i["media"]
    assert ig[i["c1"]].thread_id == i["media"]
    # Own posts never count as mentions; customer mentions are scored.
    with db.session() as session:
        listed = count_mentions(session)
        everything = count_mentions(session, include_own=True)
    own = sum(r.is_own for p in ("x", "facebook", "instagram") for r in stored(db, p).values())
    assert own >= 5
    assert listed == everything - own
    assert root.sentiment is not None
    assert root.urgency is not None
    search = source_by_prefix(db, "x:search:")
    assert search.healthy
    assert search.cursor.get("since_id")
    first_since = search.cursor["since_id"]

    # New items everywhere, including a comment on an old post and a reply on old media.
    control.clear_requests()
    new_tweet = control.add_tweet("@acmeair second wave \u2014 still no bag \U0001f9f3",
                                  {"username": "late_one"})
    brand_tweet = control.add_tweet("Acme Air update: all flights on time today",
                                    {"id": BRAND_X_ID})
    new_comment = control.add_fb_comment("any update??", post_id=f["visitor"],
                                         author={"name": "Dana Visitor"})
    new_reply = control.add_ig_comment("still waiting", parent_id=i["c1"],
                                       author={"username": "wanderer"})
    code, err = cli("listen", "--once")
    assert code == 0, err
    _assert_complete(db, sandbox)
    xs = stored(db, "x")
    assert not xs[new_tweet["id"]].is_own
    assert xs[brand_tweet["id"]].is_own
    assert stored(db, "facebook")[new_comment["id"]].parent_id == f["visitor"]
    assert stored(db, "instagram")[new_reply["id"]].parent_id == i["c1"]

    # The second poll was incremental: since_id, not a new backfill.
    searches = control.requests(path="/2/tweets/search/recent")
    assert searches
    assert all(r["query"].get("since_id") == first_since for r in searches)
    assert all("start_time" not in r["query"] for r in searches)
    mentions = control.requests(path=f"/2/users/{BRAND_X_ID}/mentions")
    assert mentions
    assert all("since_id" in r["query"] for r in mentions)
    assert source_by_prefix(db, "x:search:").cursor["since_id"] != first_since
