"""Shared test helpers: the documented carewatch.toml, the CLI in-process, expected data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from sandbox.world import BRAND_X_ID, BRAND_X_USERNAME, World
from sandbox.x_query import compile_query
from storage.db import Database
from storage.models import Mention, Source

SEARCH_QUERY = '@acmeair OR "acme air" -is:retweet'
BRAND_PAGE = "100000000000001"
BRAND_IG = "17841400000000001"

CONTRACT_TOML = f"""
[brand]
name = "Acme Air"
handles = ["acmeair"]

[[sources]]
platform = "x"
kind = "search"
query = '{SEARCH_QUERY}'
every = "60s"

[[sources]]
platform = "x"
kind = "mentions"
user_id = "{BRAND_X_ID}"
every = "60s"

[[sources]]
platform = "facebook"
page_id = "{BRAND_PAGE}"
every = "120s"

[[sources]]
platform = "instagram"
ig_user_id = "{BRAND_IG}"
every = "120s"
"""

#: The private conversation sources exactly as carewatch.toml documents them.
PRIVATE_SOURCES_TOML = f"""
[[sources]]
platform = "x"
kind = "dms"                 # direct messages of the brand account
user_id = "{BRAND_X_ID}"
every = "60s"

[[sources]]
platform = "facebook"
kind = "messenger"           # the page's Messenger conversations
page_id = "{BRAND_PAGE}"
every = "60s"
human_agent = false          # true: replies up to 7 days with the HUMAN_AGENT tag

[[sources]]
platform = "instagram"
kind = "direct"              # Instagram Direct, through the linked page
page_id = "{BRAND_PAGE}"
ig_user_id = "{BRAND_IG}"
every = "60s"
"""
PRIVATE_TOML = '[brand]\nname = "Acme Air"\nhandles = ["acmeair"]\n' + PRIVATE_SOURCES_TOML
#: X user context for the brand account (the sandbox reads the user id from the token).
X_USER_CONTEXT = {
    "CAREWATCH_X_CONSUMER_KEY": "sandbox-consumer-key",
    "CAREWATCH_X_CONSUMER_SECRET": "sandbox-consumer-secret",
    "CAREWATCH_X_ACCESS_TOKEN": f"{BRAND_X_ID}-sandbox-access-token",
    "CAREWATCH_X_ACCESS_TOKEN_SECRET": "sandbox-access-secret",
}

SEARCH_KEY = "x:search:"  # prefix; the rest is a hash of the query
MENTIONS_KEY = f"x:mentions:{BRAND_X_ID}"
FACEBOOK_KEY = f"facebook:page:{BRAND_PAGE}"
INSTAGRAM_KEY = f"instagram:media:{BRAND_IG}"
DMS_KEY = f"x:dms:{BRAND_X_ID}"
MESSENGER_KEY = f"facebook:messenger:{BRAND_PAGE}"
DIRECT_KEY = f"instagram:direct:{BRAND_IG}"

HOSTILE_TEXTS = [
    '=HYPERLINK("http://evil.example","click") @acmeair where is my bag?',
    "<script>alert('x')</script> @acmeair **bold** _md_ [link](javascript:alert(1)) <b>hi</b>",
    "@acmeair \u202eRTL override\u202c \u0645\u0631\u062d\u0628\u0627 \u05e9\u05dc\u05d5\u05dd "
    "flight delayed",
    "@acmeair \U0001f469\u200d\U0001f469\u200d\U0001f467 zero\u200bwidth\u200djoin\ufeff "
    "\u2708\ufe0f",
    "+cmd|' /C calc'!A0 @acmeair -2+3 @SUM(1) \t tab",
    "@acmeair line1\r\nline2\n\"quotes\" 'single' \\ backslash & amp; &lt;",
    "@acmeair " + "very long complaint about the lounge " * 6,
]


def expected_x(world: World) -> dict[str, str]:
    """Every tweet the two X sources must store: matches of the search query or mentions of
    the brand account. Retweets the mentions timeline returns are stored too (as echoes);
    the search query itself leaves them out."""
    pred = compile_query(SEARCH_QUERY)
    out: dict[str, str] = {}
    for t in world.visible_tweets():
        mentions_brand = (t.author_id != BRAND_X_ID
                          and f"@{BRAND_X_USERNAME}" in t.text.lower())
        if pred(t, world) or mentions_brand:
            out[str(t.id)] = t.text
    return out


def expected_facebook(world: World) -> dict[str, str]:
    out = {p.id: p.message for p in world.fb_posts.values() if not p.deleted}
    out.update({c.id: c.message for c in world.fb_comments.values() if not c.deleted
                and not world.fb_posts[c.post_id].deleted})
    return out


def expected_instagram(world: World) -> dict[str, str]:
    media = {m.id: m for m in world.ig_media.values() if not m.deleted and not m.tagged}
    out = {m.id: m.caption for m in media.values()}
    out.update({c.id: c.text for c in world.ig_comments.values()
                if not c.deleted and c.media_id in media})
    return out


def stored(db: Database, platform: str) -> dict[str, Mention]:
    with db.session() as session:
        rows = session.execute(select(Mention).where(Mention.platform == platform)
                               .options(selectinload(Mention.author))).scalars()
        return {r.external_id: r for r in rows}


def stored_pairs(db: Database) -> list[tuple[str, str]]:
    with db.session() as session:
        return [(p, e) for p, e in session.execute(select(Mention.platform, Mention.external_id))]


def sources(db: Database) -> dict[str, Source]:
    with db.session() as session:
        return {s.key: s for s in session.execute(select(Source)).scalars()}


def source_by_prefix(db: Database, prefix: str) -> Source:
    matches = [s for k, s in sources(db).items() if k.startswith(prefix)]
    assert len(matches) == 1, f"expected one source {prefix!r}, got {list(sources(db))}"
    return matches[0]


def populate(world: World) -> dict[str, Any]:
    """Hand-made content with known shapes (threads, own posts, a retweet, hostile texts)."""
    made: dict[str, Any] = {"hostile": []}
    for i, text in enumerate(HOSTILE_TEXTS):
        t = world.add_tweet(text, {"username": f"hostile{i}", "followers": 10 + i},
                            created_at=world.now() - 3600 - i)
        made["hostile"].append(str(t.id))
    root = world.add_tweet("@acmeair my flight AA12 was cancelled, what now?",
                           {"username": "traveller1", "followers": 250},
                           created_at=world.now() - 1800)
    brand_reply = world.add_tweet("@traveller1 Acme Air here: sorry! DM us your booking ref.",
                                  {"id": BRAND_X_ID}, in_reply_to=root.id,
                                  created_at=world.now() - 1700)
    customer_reply = world.add_tweet("@acmeair @acmeair sent you a DM, thanks",
                                     {"username": "traveller1"}, in_reply_to=brand_reply.id,
                                     created_at=world.now() - 1600)
    retweet = world.add_tweet("RT @traveller1: @acmeair my flight AA12 was cancelled",
                              {"username": "echoer"}, retweet_of=root.id,
                              created_at=world.now() - 1500)
    made["x"] = {"root": str(root.id), "brand_reply": str(brand_reply.id),
                 "customer_reply": str(customer_reply.id), "retweet": str(retweet.id)}

    page_post = world.add_fb_post("We're adding three new routes this summer!", "page",
                                  created_at=world.now() - 7200)
    visitor = world.add_fb_post("Acme Air lost my stroller at the gate. Help!",
                                {"name": "Dana Visitor"}, created_at=world.now() - 5000)
    c1 = world.add_fb_comment("Will there be flights to Lisbon?", post_id=page_post.id,
                              author={"name": "Luis Q"}, created_at=world.now() - 7000)
    r1 = world.add_fb_comment("Yes! From June.", post_id=page_post.id, parent_id=c1.id,
                              author="page", created_at=world.now() - 6900)
    r2 = world.add_fb_comment(HOSTILE_TEXTS[0], post_id=page_post.id, parent_id=c1.id,
                              author={"name": "Luis Q"}, created_at=world.now() - 6800)
    c2 = world.add_fb_comment("Same thing happened to me", post_id=visitor.id,
                              author={"name": "Ana B"}, created_at=world.now() - 4900)
    many = [world.add_fb_comment(f"me too #{i} \u2708", post_id=visitor.id,
                                 author={"name": f"Fan {i}"},
                                 created_at=world.now() - 4800 + i).id for i in range(105)]
    made["facebook"] = {"page_post": page_post.id, "visitor": visitor.id, "c1": c1.id,
                        "page_reply": r1.id, "r2": r2.id, "c2": c2.id, "many": many}

    media = world.add_ig_media("Sunset over the wing \U0001f305", author="brand",
                               created_at=world.now() - 9000)
    ic1 = world.add_ig_comment("Gorgeous! Which route?", media_id=media.id,
                               author={"username": "wanderer"}, created_at=world.now() - 8000)
    ir1 = world.add_ig_comment("@wanderer Lisbon to Boston!", media_id=media.id,
                               parent_id=ic1.id, author="brand",
                               created_at=world.now() - 7900)
    ir2 = world.add_ig_comment(HOSTILE_TEXTS[3], media_id=media.id, parent_id=ic1.id,
                               author={"username": "wanderer"}, created_at=world.now() - 7800)
    made["instagram"] = {"media": media.id, "c1": ic1.id, "brand_reply": ir1.id, "r2": ir2.id}
    return made


#: `carewatch` as a separate process (for kill -9 and signal tests).
CLI = [sys.executable, "-c", "from carewatch.cli import run; run()"]

#: For a kill -9 test's processes: a killed listener holds its sources until its lease runs
#: out (60 s by default), and the re-run after the kill waits that long before it polls.
#: Seconds, not a minute, so the test spends its time on the poll, not on the wait.
SHORT_LEASE_SECONDS = 3


def subprocess_env(env: dict[str, str], *, short_lease: bool = False) -> dict[str, str]:
    """`env` for a `carewatch` process (no CAREWATCH_ variable of the test run's own);
    `short_lease`: its source leases last SHORT_LEASE_SECONDS (see there)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CAREWATCH_")}
    base.update(env)
    if short_lease:
        base["CAREWATCH_LEASE_SECONDS"] = str(SHORT_LEASE_SECONDS)
    base["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return base


def listen_then_kill_9(env: dict[str, str], control: Any, path: str, served: int) -> None:
    """Start `carewatch listen --once` as a process and kill -9 it once the sandbox has
    served `served` pages under `path` (the caller makes pages slow, so it dies mid-run)."""
    proc = subprocess.Popen([*CLI, "listen", "--once"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len([r for r in control.requests(path=path) if r["status"] == 200]) >= served:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def x_search_source(base_url: str) -> Any:
    """An X search source for "@acmeair" over the last day, with its own client (the real
    tweepy client) pointed at the sandbox at `base_url`."""
    from carewatch.settings import Settings, SourceConfig
    from listener.sources.x import XSource

    settings = Settings(x_api_url=base_url, x_bearer_token="tok-1",
                        sources=[SourceConfig(platform="x", kind="search", query="@acmeair",
                                              backfill_days=1)])
    return XSource(settings.sources[0], settings)


def polled(source: Any) -> list[Any]:
    """Every mention of one poll of `source` from an empty cursor, in order."""
    return [m for page in source.poll({}) for m in page.mentions]
