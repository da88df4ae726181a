"""Another brand against `carewatch sandbox`: a configuration whose page id, Instagram
account id and X account id are not the sandbox's own (as an acceptance check writes one).

The sandbox has one brand; it adopts the ids the product asks about as that brand's other
names (`sandbox.graph_api.graph_ids`, `sandbox.x_api.x_brand_ids`). Before, every Graph
source of such a configuration failed with "Object with ID ... does not exist" and
`listen --once` exited 1; the X account's own DMs came back as a customer's.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sandbox.records import FB_PAGE_ID, IG_USER_ID
from sandbox.server import SandboxServer
from sandbox.world import BRAND_X_ID
from storage.db import Database
from tests.listener.conftest import CliRunner
from tests.listener.helpers import stored, stored_pairs

PAGE = "555000000000777"
DIRECT_PAGE = "555000000000888"  # Instagram Direct through a page of another id
IG = "17841499999999999"
X_ACCOUNT = "1234567890123456789"
SOURCES = [  # every public and private kind of the three platforms, with the ids above
    {"platform": "x", "kind": "mentions", "user_id": X_ACCOUNT},
    {"platform": "x", "kind": "dms", "user_id": X_ACCOUNT},
    {"platform": "facebook", "page_id": PAGE, "every": "2m"},
    {"platform": "facebook", "kind": "messenger", "page_id": PAGE},
    {"platform": "instagram", "ig_user_id": IG, "every": "2m"},
    {"platform": "instagram", "kind": "direct", "page_id": DIRECT_PAGE, "ig_user_id": IG},
]
OTHER_TOML = '[brand]\nname = "Globex Rail"\nhandles = ["@GlobexRail"]\n' + "".join(
    "\n[[sources]]\n" + "".join(f'{key} = "{value}"\n' for key, value in source.items())
    for source in SOURCES)
BRAND_IDS = {FB_PAGE_ID, IG_USER_ID, BRAND_X_ID, PAGE, DIRECT_PAGE, IG, X_ACCOUNT}


def _checked(row: Any) -> bool:
    """Whether a row's author can be held to "not the brand": not an Instagram Direct one.
    The Direct source asks only for its page's conversations, so the sandbox knows the
    account's other id only once the media source has asked for it (they poll at once)."""
    return not (row.platform == "instagram" and row.visibility == "private")


def test_listen_once_twice_for_another_brands_ids(
        database_url: str, sandbox: SandboxServer, make_env: Callable[..., dict],
        cli: CliRunner, open_db: Callable[[str], Database], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox.world.seed(150, seed=5, days=2.0)
    make_env(database_url, toml=OTHER_TOML)
    for key, value in {"CAREWATCH_X_CONSUMER_KEY": "ck", "CAREWATCH_X_CONSUMER_SECRET": "cs",
                       "CAREWATCH_X_ACCESS_TOKEN": f"{X_ACCOUNT}-access",
                       "CAREWATCH_X_ACCESS_TOKEN_SECRET": "as"}.items():
        monkeypatch.setenv(key, value)
    assert cli("init")[0] == 0
    code, err = cli("listen", "--once")
    assert code == 0, err
    db = open_db(database_url)
    first = Counter(stored_pairs(db))
    assert all(n == 1 for n in first.values())
    for platform in ("x", "facebook", "instagram"):
        rows = stored(db, platform).values()
        assert any(not r.is_own for r in rows), platform  # customers' items arrived
        assert any(r.is_own for r in rows), platform  # and the brand's, known as its own
        assert not [r.external_id for r in rows if not r.is_own and r.author is not None
                    and r.author.external_id in BRAND_IDS and _checked(r)], platform
    assert any(r.visibility == "private" for r in stored(db, "x").values())
    assert any(r.visibility == "private" for r in stored(db, "facebook").values())
    assert any(r.visibility == "private" for r in stored(db, "instagram").values())

    code, err = cli("listen", "--once")  # nothing new: nothing stored twice
    assert code == 0, err
    assert Counter(stored_pairs(db)) == first
    assert err.count(": 0 new") == len(SOURCES), err

    out = tmp_path / "all.jsonl"
    assert cli("export", "mentions", "--format", "jsonl", "--out", str(out),
               "--include-private")[0] == 0
    exported = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert len(exported) == sum(1 for r in (r for p in ("x", "facebook", "instagram")
                                            for r in stored(db, p).values()) if not r.is_own)
    assert not [r for r in exported if r["author_id"] in BRAND_IDS
                and not (r["platform"] == "instagram" and r["visibility"] == "private")]
