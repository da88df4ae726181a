"""Alerts as an outsider sees them: through the console script, TOML and environment only.

A real sandbox (the platforms' stand-in), a real SMTP server on loopback (aiosmtpd) and a
local webhook receiver; carewatch configured by a `carewatch.toml` and `CAREWATCH_*`
variables, and driven as the console script in subprocesses (`init`, `listen --once`,
`alerts --json`). Nothing here imports carewatch's own modules: what is checked is what a
user can see (the alerts listing, the emails, the webhook POSTs).

"Done when": a quiet baseline raises no spike; a burst of negative, safety-flavoured mentions
raises exactly one `spike` alert naming its mentions and a `risk_words` alert; both reach
email and the webhook once; a quiet re-poll adds nothing.

Variants of the burst:
- `x_both_sources`: every burst tweet mentions @acmeair, so the X search AND the X mentions
  timeline both return it. It must still count once, in one spike.
- `x_search_only_text`: part of the burst names "Acme Air" without the handle (only the search
  finds those), part mentions @acmeair: still one spike naming all of them.
- `x_and_facebook`: the same incident on two channels (X tweets and Facebook comments, each
  enough for a spike on its own). Spikes are judged against each platform's own baseline (the
  issue asks for "each source's own baseline"), so one spike per platform is the product's
  meaning of "exactly one": exactly one `spike` per platform that burst, each naming that
  platform's burst mentions, none duplicated, each notified once per target.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sandbox.control import SandboxControl
from sandbox.server import SandboxServer
from tests.listener.helpers import CONTRACT_TOML
from tests.receivers import Inbox, Webhook, smtp_server, webhook_server

pytestmark = pytest.mark.slow

CAREWATCH = Path(sys.executable).parent / "carewatch"
HOUR = 3600.0

BASELINE_TEXTS = [
    # negative, ordinary complaints (no risk words)
    "@acmeair my flight was delayed two hours and nobody told us anything",
    "@acmeair still waiting for my refund, this is ridiculous",
    "@acmeair lost my bag again. third time this year",
    "@acmeair on hold for 40 minutes, terrible service",
    # neutral questions
    "@acmeair what's the baggage allowance on the Lisbon route?",
    "@acmeair do you fly to Boston in the winter?",
    "@acmeair can I change the name on my booking?",
    "flying acme air to Porto tomorrow, anyone know if the lounge is open?",
    # positive
    "@acmeair thanks for the upgrade, lovely crew today!",
    "@acmeair great flight, landed early, thank you",
    "shoutout to the acme air gate team in Boston, super helpful",
    "@acmeair the new seats are really comfortable, well done",
]

BURST_TEXTS = [
    "@acmeair there is smoke in the cabin on flight AA412, everyone is terrified",
    "@acmeair engine fire on AA412!!! this is unacceptable, we are scared",
    "@acmeair AA412 crew is panicking, smoke everywhere, this airline is unsafe",
    "@acmeair why are you flying unsafe planes? smoke in the cabin AA412",
    "@acmeair emergency landing after an engine fire, worst day of my life",
    "@acmeair AA412 smells of burning, passengers crying, this is dangerous",
    "@acmeair unsafe aircraft, smoke in the cabin, never flying with you again",
]
# Texts the search finds ("acme air") but the mentions timeline does not (no @handle).
SEARCH_ONLY_TEXTS = [
    "acme air flight AA412 had smoke in the cabin, absolutely terrifying and unsafe",
    "engine fire on acme air AA412, we were so scared, this is a disgrace",
    "acme air is unsafe. smoke filled the cabin on AA412 and the crew did nothing",
]
FB_BURST_TEXTS = [
    "Smoke in the cabin on AA412 today. Terrifying. Your planes are unsafe.",
    "My sister was on AA412, engine fire, she is still shaking. Disgraceful.",
    "Unsafe airline. Smoke everywhere on AA412 and nobody explained anything.",
    "Engine fire and an emergency landing, and not a word from Acme Air. Awful.",
]


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as served:
        yield served


@pytest.fixture
def hook() -> Iterator[tuple[Webhook, str]]:
    with webhook_server() as served:
        yield served


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(live_rate=0) as server:  # an empty world: only the brand accounts
        yield server


# ---------------------------------------------------------------------------- carewatch


def write_config(tmp_path: Path, smtp_port: int, hook_url: str) -> Path:
    """The README's four sources, an [alerts] table and both notification targets."""
    config = tmp_path / "carewatch.toml"
    config.write_text(CONTRACT_TOML + f"""
[alerts]
first_response_minutes = 60

[[notify]]
kind = "email"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
sender = "carewatch@acme.example"
to = ["social-lead@acme.example"]

[[notify]]
kind = "webhook"
url = "{hook_url}"
""", encoding="utf-8")
    return config


@dataclass
class Cli:
    env: dict[str, str]
    cwd: Path

    def run(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(CAREWATCH), *args], env=self.env, cwd=self.cwd,
                              capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, (f"carewatch {' '.join(args)} exited {proc.returncode}:\n"
                                      f"{proc.stderr[-3000:]}")
        return proc

    def alerts(self) -> list[dict[str, Any]]:
        records = json.loads(self.run("alerts", "--json").stdout)
        assert isinstance(records, list)
        return records


@pytest.fixture
def cli(tmp_path: Path, sandbox: SandboxServer, smtp: tuple[Inbox, int],
        hook: tuple[Webhook, str]) -> Cli:
    assert CAREWATCH.exists(), f"console script not installed at {CAREWATCH}"
    config = write_config(tmp_path, smtp[1], hook[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREWATCH_")}
    env.update({
        "CAREWATCH_CONFIG": str(config),
        "CAREWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'carewatch.db'}",
        "CAREWATCH_X_API_URL": sandbox.base_url,
        "CAREWATCH_GRAPH_API_URL": sandbox.base_url,
        "CAREWATCH_X_BEARER_TOKEN": "acceptance-bearer-token",
        "CAREWATCH_FB_PAGE_TOKEN": "acceptance-page-token",
        "NO_PROXY": "127.0.0.1,localhost",
    })
    return Cli(env=env, cwd=tmp_path)


# ---------------------------------------------------------------------------- the world


def seed_quiet_baseline(control: SandboxControl, rng: random.Random, days: float = 3.0) -> str:
    """A quiet brand: about four mentions an hour on X (a third of them complaints, none
    about safety), a page post with a few comments a day on Facebook. Returns the post id."""
    t = days * 24 * HOUR
    while t > 60:
        control.add_tweet(rng.choice(BASELINE_TEXTS),
                          {"username": f"quiet{rng.randrange(400)}",
                           "followers": rng.randrange(20, 3000)}, ago=t)
        t -= rng.expovariate(4 / HOUR)
    post = control.add_fb_post("New routes to Lisbon and Porto this summer!", "page",
                               ago=days * 24 * HOUR + HOUR)
    t = days * 24 * HOUR
    while t > 60:
        control.add_fb_comment(rng.choice(BASELINE_TEXTS).replace("@acmeair ", ""),
                               post_id=post["id"],
                               author={"name": f"Visitor {rng.randrange(300)}"}, ago=t)
        t -= rng.expovariate(4 / (24 * HOUR))
    media = control.add_ig_media("Sunset over the wing", author="brand", ago=2 * 24 * HOUR)
    control.add_ig_comment("Gorgeous! Which route?", media_id=media["id"],
                           author={"username": "wanderer"}, ago=30 * HOUR)
    return str(post["id"])


def add_burst(control: SandboxControl, variant: str, fb_post: str,
              rng: random.Random) -> dict[str, set[str]]:
    """The incident: negative, safety-flavoured mentions within four minutes. Returns the
    refs (`PLATFORM:ID`) per platform."""
    refs: dict[str, set[str]] = {"x": set(), "facebook": set()}
    x_count = 12 if variant == "x_and_facebook" else 18
    x_texts = list(BURST_TEXTS)
    if variant == "x_search_only_text":
        x_texts = BURST_TEXTS[:4] + SEARCH_ONLY_TEXTS
    for i in range(x_count):
        tweet = control.add_tweet(x_texts[i % len(x_texts)] + f" #{i}",
                                  {"username": f"pax{i}", "followers": rng.randrange(30, 2000)},
                                  ago=240 - i * 12)
        refs["x"].add(f"x:{tweet['id']}")
    if variant == "x_and_facebook":
        for i in range(10):
            comment = control.add_fb_comment(
                FB_BURST_TEXTS[i % len(FB_BURST_TEXTS)] + f" ({i})", post_id=fb_post,
                author={"name": f"Passenger {i}"}, ago=230 - i * 15)
            refs["facebook"].add(f"facebook:{comment['id']}")
    return refs


def by_kind(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in records if r["kind"] == kind]


def kind_of_notification(text: str) -> str:
    """The alert kind a subject or webhook text names (`[carewatch] HIGH spike: ...`)."""
    for kind in ("source_health", "sla_breach", "high_reach", "risk_words", "spike"):
        if f" {kind}:" in text:
            return kind
    return "?"


# ---------------------------------------------------------------------------- the check


@pytest.mark.parametrize("variant", ["x_both_sources", "x_search_only_text", "x_and_facebook"])
def test_quiet_baseline_then_safety_burst(variant: str, cli: Cli, sandbox: SandboxServer,
                                          smtp: tuple[Inbox, int],
                                          hook: tuple[Webhook, str]) -> None:
    inbox, _ = smtp
    received, _ = hook
    control = SandboxControl(sandbox.base_url)
    rng = random.Random(f"acceptance-{variant}")
    cli.run("init")
    cli.run("init")  # idempotent

    # 1. A quiet baseline: no spike (and, for a quiet brand, nothing else either).
    fb_post = seed_quiet_baseline(control, rng)
    cli.run("listen", "--once")
    quiet = cli.alerts()
    assert by_kind(quiet, "spike") == [], f"quiet baseline raised a spike: {quiet}"
    assert quiet == [], f"a quiet brand paged someone: {quiet}"
    assert inbox.subjects() == []
    assert received.texts() == []

    # 2. The burst: exactly one spike per platform that burst, naming its mentions, and a
    # risk_words alert; each notified once on each target.
    burst = add_burst(control, variant, fb_post, rng)
    cli.run("listen", "--once")
    loud = cli.alerts()
    spikes = by_kind(loud, "spike")
    burst_platforms = sorted(p for p, refs in burst.items() if refs)
    assert len(spikes) == len(burst_platforms), f"spikes: {json.dumps(spikes, indent=1)}"
    named_by_spikes: list[str] = [ref for s in spikes for ref in s["mention_ids"]]
    assert len(named_by_spikes) == len(set(named_by_spikes)), "a mention named twice"
    for platform in burst_platforms:
        mine = [s for s in spikes if s["mention_ids"]
                and all(r.startswith(f"{platform}:") for r in s["mention_ids"])]
        assert len(mine) == 1, f"one spike for {platform}: {spikes}"
        missing = burst[platform] - set(mine[0]["mention_ids"])
        assert not missing, f"the {platform} spike does not name {sorted(missing)}: {mine[0]}"
        assert platform in mine[0]["summary"]
    risk = by_kind(loud, "risk_words")
    assert risk, f"no risk_words alert: {loud}"
    safety = [r for r in risk if "safety" in r["summary"]]
    assert len(safety) == 1
    all_burst = set().union(*burst.values())
    assert all_burst <= set(safety[0]["mention_ids"]), safety[0]
    unexpected = [r for r in loud if r["kind"] not in ("spike", "risk_words")]
    assert unexpected == [], f"noise beside the spike and risk words: {unexpected}"
    for record in loud:
        assert record["first_seen"]
        assert record["last_seen"]
        assert record["acknowledged_by"] is None
        assert record["severity"] in ("low", "medium", "high", "critical")

    # Notifications: exactly one email and one webhook POST per open alert.
    subjects = inbox.subjects()
    texts = received.texts()
    assert sorted(kind_of_notification(s) for s in subjects) == sorted(r["kind"] for r in loud)
    assert sorted(kind_of_notification(t) for t in texts) == sorted(r["kind"] for r in loud)
    assert sum(kind_of_notification(s) == "spike" for s in subjects) == len(burst_platforms)
    assert sum(kind_of_notification(s) == "risk_words" for s in subjects) == len(risk)
    for content_type, body in received.posts:
        assert content_type.startswith("application/json")
        assert isinstance(body, dict)
        assert set(body) == {"text"}
        assert body["text"]
    for message in inbox.messages:
        assert message["To"] == "social-lead@acme.example"
        assert message["From"] == "carewatch@acme.example"

    # 3. A quiet re-poll: nothing new, no alert changes, nobody notified again.
    time.sleep(1.1)  # a change of last_seen would show at second resolution
    cli.run("listen", "--once")
    again = cli.alerts()
    assert again == loud
    assert inbox.subjects() == subjects
    assert received.texts() == texts


def test_a_running_listener_notifies_a_new_alert_within_seconds(
        cli: Cli, sandbox: SandboxServer, hook: tuple[Webhook, str], tmp_path: Path) -> None:
    """`carewatch listen` (the long-running form): a tweet about smoke in the cabin posted
    while it runs raises a risk_words alert, and the webhook target has it within seconds of
    the poll that found it, not at the next minute's periodic evaluation; once."""
    received, hook_url = hook
    config = tmp_path / "fast.toml"
    # The README's X search source alone, polled every 7 s, and the webhook target.
    head, search = CONTRACT_TOML.split("[[sources]]")[:2]
    config.write_text(head + "[[sources]]" + search.replace('every = "60s"', 'every = "7s"')
                      + f'\n[[notify]]\nkind = "webhook"\nurl = "{hook_url}"\n',
                      encoding="utf-8")
    env = {**cli.env, "CAREWATCH_CONFIG": str(config)}
    cli.run("init")
    control = SandboxControl(sandbox.base_url)
    proc = subprocess.Popen([str(CAREWATCH), "listen"], env=env, cwd=cli.cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # Started and polling: the sandbox has served the search's first page (the periodic
        # jobs join 2-3 s after the first polls, well before the next poll, 7 s later).
        deadline = time.monotonic() + 30
        while (not control.requests(path="/2/tweets/search/recent")
               and proc.poll() is None and time.monotonic() < deadline):
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        assert control.requests(path="/2/tweets/search/recent"), "no poll within 30 s"
        control.add_tweet("@acmeair smoke in the cabin on AA77, engine fire, we are terrified",
                          {"username": "scared_pax"}, ago=5)
        deadline = time.monotonic() + 25
        while not received.texts() and time.monotonic() < deadline:
            time.sleep(0.3)
        time.sleep(6)  # another notify round sends nothing twice
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    texts = received.texts()
    assert len(texts) == 1, texts
    assert kind_of_notification(texts[0]) == "risk_words"
