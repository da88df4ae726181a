"""Fixtures: the real sandbox, the real clients, a migrated database, mentions that exist in
the sandbox (inserted with storage.mentions.upsert_mentions, as the listener would)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from carewatch import domain
from carewatch.settings import Settings, load_settings
from sandbox.control import SandboxControl
from sandbox.limits import DEFAULT_GRAPH_LIMIT, DEFAULT_X_LIMITS
from sandbox.server import SandboxServer
from sandbox.world import FB_PAGE_ID, IG_USER_ID
from storage.db import Database, open_database
from storage.mentions import upsert_mentions
from storage.migrate import upgrade

BRAND_X_ID = "1500000000000000000"
X_SOURCE = f"x:mentions:{BRAND_X_ID}"
X_DMS_SOURCE = f"x:dms:{BRAND_X_ID}"
FB_SOURCE = f"facebook:page:{FB_PAGE_ID}"
IG_SOURCE = f"instagram:media:{IG_USER_ID}"

CONFIG = f"""
[brand]
name = "Acme Air"
handles = ["acmeair"]

[[sources]]
platform = "x"
kind = "mentions"
user_id = "{BRAND_X_ID}"

[[sources]]
platform = "facebook"
page_id = "{FB_PAGE_ID}"

[[sources]]
platform = "instagram"
ig_user_id = "{IG_USER_ID}"

[[canned_replies]]
name = "sorry"
text = "Hi {{first_name}}, {{agent}} here. Sorry about that! Case {{case_id}}."
"""


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    with SandboxServer() as srv:
        yield srv


@pytest.fixture
def ctl(sandbox_server: SandboxServer) -> SandboxControl:
    world = sandbox_server.world
    world.reset()
    world.restore()
    world.x_limits = dict(DEFAULT_X_LIMITS)
    world.graph_limit = DEFAULT_GRAPH_LIMIT
    world.set_limits({"reset_windows": True})
    return SandboxControl(sandbox_server.base_url)


def sandbox_env(base_url: str, database_url: str, config: Path) -> dict[str, str]:
    return {
        "CAREWATCH_CONFIG": str(config),
        "CAREWATCH_DATABASE_URL": database_url,
        "CAREWATCH_X_API_URL": base_url,
        "CAREWATCH_GRAPH_API_URL": base_url,
        "CAREWATCH_X_BEARER_TOKEN": "app-token",
        "CAREWATCH_X_CONSUMER_KEY": "ck",
        "CAREWATCH_X_CONSUMER_SECRET": "cs",
        "CAREWATCH_X_ACCESS_TOKEN": f"{BRAND_X_ID}-abc",
        "CAREWATCH_X_ACCESS_TOKEN_SECRET": "ats",
        "CAREWATCH_FB_PAGE_TOKEN": "page-token",
        "CAREWATCH_HTTP_TIMEOUT": "10",
    }


@dataclass
class Stand:
    """Everything a responder test needs, wired to the sandbox."""

    ctl: SandboxControl
    db: Database
    settings: Settings
    env: dict[str, str]

    def add(self, mentions: list[domain.Mention], source_key: str) -> None:
        with self.db.write() as session:
            upsert_mentions(session, mentions, source_key=source_key)

    # ----- mentions that exist in the sandbox
    def tweet(self, text: str = "@acmeair my bag is lost", *, username: str = "jane",
              name: str = "Jane Doe", dms_open: bool = True,
              in_reply_to: str | None = None, own: bool = False) -> domain.Mention:
        author: dict[str, Any] = ({"id": BRAND_X_ID} if own else
                                  {"username": username, "name": name, "dms_open": dms_open})
        made = self.ctl.add_tweet(text, author, in_reply_to=in_reply_to)
        mention = domain.Mention(
            platform=domain.Platform.X, external_id=made["id"], text=made["text"],
            created_at=datetime.now(UTC),
            author=domain.Author(domain.Platform.X, made["author_id"],
                                 "acmeair" if own else username, name),
            thread_id=made["conversation_id"], parent_id=in_reply_to, is_own=own,
            raw={"id": made["id"], "text": made["text"]})
        self.add([mention], X_SOURCE)
        return mention

    def fb_comment(self, text: str = "Where is my refund?", *, name: str = "Bob Smith",
                   post_id: str | None = None, parent_id: str | None = None,
                   ago: float | None = None) -> domain.Mention:
        if post_id is None and parent_id is None:
            post_id = self.ctl.add_fb_post("Fly with Acme Air this summer")["id"]
        made = self.ctl.add_fb_comment(text, post_id=post_id, parent_id=parent_id,
                                       author={"name": name}, ago=ago)
        created = datetime.now(UTC).timestamp() - (ago or 0)
        raw: dict[str, Any] = {"id": made["id"], "message": text}
        if made["parent_id"]:
            raw["parent"] = {"id": made["parent_id"]}
        mention = domain.Mention(
            platform=domain.Platform.FACEBOOK, external_id=made["id"], text=text,
            created_at=datetime.fromtimestamp(created, UTC),
            author=domain.Author(domain.Platform.FACEBOOK, made["from_id"], None, name),
            thread_id=made["post_id"], parent_id=made["parent_id"] or made["post_id"],
            raw=raw)
        self.add([mention], FB_SOURCE)
        return mention

    def ig_comment(self, text: str = "My flight got cancelled!", *, username: str = "carol",
                   media_id: str | None = None, parent_id: str | None = None) -> domain.Mention:
        if media_id is None and parent_id is None:
            media_id = self.ctl.add_ig_media("Summer sale")["id"]
        made = self.ctl.add_ig_comment(text, media_id=media_id, parent_id=parent_id,
                                       author={"username": username})
        mention = domain.Mention(
            platform=domain.Platform.INSTAGRAM, external_id=made["id"], text=text,
            created_at=datetime.now(UTC),
            author=domain.Author(domain.Platform.INSTAGRAM, made["from_id"], username,
                                 username),
            thread_id=made["media_id"], parent_id=made["parent_id"] or made["media_id"],
            raw={"id": made["id"], "text": text, "parent_id": made["parent_id"]})
        self.add([mention], IG_SOURCE)
        return mention

    # ----- private messages that exist in the sandbox
    def dm(self, text: str = "my bag is still missing", *, username: str = "jane",
           ago: float = 0.0) -> domain.Mention:
        """A customer's X direct message to the brand, stored as the DM listener would."""
        made = self.ctl.add_dm(text, {"username": username, "name": username.title()},
                               ago=ago or None)
        mention = domain.Mention(
            platform=domain.Platform.X, external_id=made["id"], text=text,
            created_at=datetime.now(UTC) - timedelta(seconds=ago),
            author=domain.Author(domain.Platform.X, made["sender_id"], username,
                                 username.title()),
            thread_id=made["dm_conversation_id"], visibility=domain.Visibility.PRIVATE,
            raw={"id": made["id"], "text": text,
                 "dm_conversation_id": made["dm_conversation_id"]})
        self.add([mention], X_DMS_SOURCE)
        return mention

    def message(self, platform: domain.Platform, text: str = "Where is my refund?", *,
                customer: str = "dora", ago: float = 0.0,
                keep_conversation_id: bool = True) -> domain.Mention:
        """A customer's Messenger or Instagram Direct message, stored as the listener would
        (`keep_conversation_id=False`: without the Graph conversation id in `raw`)."""
        facebook = platform == domain.Platform.FACEBOOK
        person = {"name": customer.title()} if facebook else {"username": customer}
        made = self.ctl.add_message("messenger" if facebook else "instagram", text, person,
                                    ago=ago or None)
        brand = FB_PAGE_ID if facebook else IG_USER_ID
        raw: dict[str, Any] = {"id": made["id"], "message": text}
        if keep_conversation_id:
            raw["conversation_id"] = made["conversation_id"]
        mention = domain.Mention(
            platform=platform, external_id=made["id"], text=text,
            created_at=datetime.now(UTC) - timedelta(seconds=ago),
            author=domain.Author(platform, made["sender_id"], None if facebook else customer,
                                 customer.title()),
            thread_id=domain.conversation_key(brand, made["sender_id"]),
            visibility=domain.Visibility.PRIVATE, raw=raw)
        self.add([mention], FB_SOURCE if facebook else IG_SOURCE)
        return mention


def make_stand(ctl: SandboxControl, database_url: str, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Stand:
    for key in list(os.environ):
        if key.startswith("CAREWATCH_"):
            monkeypatch.delenv(key)
    config = tmp_path / "carewatch.toml"
    config.write_text(CONFIG)
    env = sandbox_env(ctl.base_url, database_url, config)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("USER", "alice")
    db = open_database(database_url)
    upgrade(db.engine)
    return Stand(ctl, db, load_settings(config), env)


@pytest.fixture
def stand(ctl: SandboxControl, sqlite_url: str, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Stand]:
    """SQLite stand (the embedded default)."""
    s = make_stand(ctl, sqlite_url, tmp_path, monkeypatch)
    try:
        yield s
    finally:
        s.db.dispose()


@pytest.fixture
def any_stand(ctl: SandboxControl, database_url: str, tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[Stand]:
    """The same stand on SQLite and on PostgreSQL (own temporary database)."""
    s = make_stand(ctl, database_url, tmp_path, monkeypatch)
    try:
        yield s
    finally:
        s.db.dispose()
