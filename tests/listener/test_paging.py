"""Many pages from every edge: the feed's time-based paging (`until` + `__paging_token` in
`paging.next`, no cursors, as on the real Graph API), comment cursors, Instagram media pages
and X pagination tokens, all followed to the end."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sandbox.control import SandboxControl
from sandbox.server import SandboxServer
from storage.db import Database
from tests.listener.conftest import CliRunner
from tests.listener.helpers import expected_facebook, expected_instagram, expected_x, stored


def test_every_page_of_every_edge_is_read(sqlite_url: str, sandbox: SandboxServer,
                                          control: SandboxControl,
                                          make_env: Callable[..., dict], cli: CliRunner,
                                          open_db: Callable[[str], Database],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import listener.sources.facebook as facebook_source

    monkeypatch.setattr(facebook_source, "PAGE_LIMIT", 3)
    for n in range(8):
        post = control.add_fb_post(f"visitor post {n}", author={"id": f"9{n}", "name": "Vi Sitor"},
                                   ago=600 + n)
        for c in range(4):
            control.add_fb_comment(f"comment {c} on {n}", post_id=post["id"],
                                   author={"id": f"8{c}", "name": "Co Mmenter"})
    for n in range(5):
        control.add_tweet(f"@acmeair question {n}?", author={"id": f"77{n}", "username": f"u{n}"})
    make_env(sqlite_url)
    assert cli("init")[0] == 0
    code, err = cli("listen", "--once")
    assert code == 0, err
    db = open_db(sqlite_url)
    for platform, expected in (("facebook", expected_facebook(sandbox.world)),
                               ("x", expected_x(sandbox.world)),
                               ("instagram", expected_instagram(sandbox.world))):
        assert set(stored(db, platform)) == set(expected), platform
    feed_calls = control.requests(path="/v21.0/100000000000001/feed")
    assert len(feed_calls) >= 3
    assert any("__paging_token" in call["query"] for call in feed_calls)
