"""Another brand against `carewatch sandbox`: a configuration whose page id, Instagram
account id and X account id are not the sandbox's own (as an acceptance check writes one).

The sandbox has one brand; it adopts the ids the product asks about as that brand's other
names (`sandbox.graph_api.graph_ids`, `sandbox.x_api.x_brand_ids`). Before, every Graph
source of such a configuration failed with "Object with ID ... does not exist" and
`listen --once` exited 1; the X account's own DMs came back as a customer's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sandbox.records import FB_PAGE_ID, IG_USER_ID
from sandbox.server import SandboxServer
from sandbox.world import BRAND_X_ID, World
from storage.db import Database
from tests.listener.conftest import CliRunner, carewatch_env
from tests.listener.helpers import CLI, stored, stored_pairs, subprocess_env

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
    account's other id only once the media source has asked for it (they poll at once), unless
    it was told the ids at start, as `carewatch sandbox` is (test below)."""
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


DIRECT_ONLY_TOML = ('[brand]\nname = "Globex Rail"\nhandles = ["@GlobexRail"]\n\n'
                    f'[[sources]]\nplatform = "instagram"\nkind = "direct"\n'
                    f'page_id = "{DIRECT_PAGE}"\nig_user_id = "{IG}"\n')


def _started_sandbox(env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen[str], str]:
    """`carewatch sandbox --port 0` as a user starts it, and the URL it prints."""
    proc = subprocess.Popen([*CLI, "sandbox", "--port", "0", "--initial", "150", "--seed", "5",
                             "--live-rate", "0"], env=env, cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if found is None or found.group(1) == "0":
        proc.kill()
        raise AssertionError(f"no bound URL printed: {line!r} {proc.stderr.read()!r}")
    return proc, f"http://127.0.0.1:{found.group(1)}"


def test_carewatch_sandbox_knows_the_configured_ids_before_the_first_request(
        database_url: str, tmp_path: Path, cli: CliRunner, open_db: Callable[[str], Database],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`carewatch sandbox` reads the ids of the configuration's sources. Before, a poll of
    Instagram Direct alone (it names only its page) got the brand's own messages under the
    sandbox's Instagram id, and stored them as a customer's."""
    env = carewatch_env(tmp_path, "http://unused", database_url, DIRECT_ONLY_TOML)
    proc, base_url = _started_sandbox(subprocess_env(env), tmp_path)
    try:
        for key in [k for k in os.environ if k.startswith("CAREWATCH_")]:
            monkeypatch.delenv(key)
        for key, value in {**env, "CAREWATCH_GRAPH_API_URL": base_url}.items():
            monkeypatch.setenv(key, value)
        assert cli("init")[0] == 0
        code, err = cli("listen", "--once")
        assert code == 0, err
    finally:
        proc.terminate()
        proc.wait(10)
    rows = stored(open_db(database_url), "instagram").values()
    assert any(not r.is_own for r in rows)  # the customers' messages
    assert any(r.is_own for r in rows)  # and the brand's, known as its own
    assert not [r.external_id for r in rows if not r.is_own and r.author is not None
                and r.author.external_id in BRAND_IDS]


def test_a_bad_configuration_leaves_the_sandbox_serving(tmp_path: Path) -> None:
    """The sandbox needs no configuration: a bad one is named in one line, not fatal."""
    config = tmp_path / "carewatch.toml"
    config.write_text("[brand\n", encoding="utf-8")
    env = subprocess_env({"CAREWATCH_CONFIG": str(config)})
    proc, _ = _started_sandbox(env, tmp_path)
    proc.terminate()
    _, err = proc.communicate(timeout=10)
    assert "configuration not read" in err
    assert "Traceback" not in err


def test_the_configured_ids_outlive_a_reset_of_the_world() -> None:
    world = World()
    world.adopt_brand_ids(page_ids=[PAGE, FB_PAGE_ID, PAGE], ig_user_ids=[IG],
                          x_user_ids=[X_ACCOUNT])
    for _ in range(2):
        assert world.graph_aliases == {FB_PAGE_ID: [PAGE], IG_USER_ID: [IG]}
        assert world.x_aliases == {BRAND_X_ID: X_ACCOUNT}
        world.reset()
