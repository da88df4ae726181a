"""A first search backfill that takes longer than the 7-day window's margin: the start_time it
began with slides out of the window, X answers 400, and the source goes on below the oldest
tweet it has read with a fresh start_time, instead of failing the whole poll (real tweepy
client against the sandbox, whose clock is moved forward mid-backfill)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from carewatch.settings import Settings, SourceConfig
from listener.sources import build_source
from sandbox.control import SandboxControl
from sandbox.server import SandboxServer

DAY = 86400.0


def test_backfill_outlasting_the_window_margin_goes_on(sandbox: SandboxServer,
                                                        control: SandboxControl) -> None:
    # 250 tweets spread over the last 6 days: three pages of 100.
    for i in range(250):
        control.add_tweet(f"@acmeair slow backfill {i}", author={"id": f"5{i % 30}",
                                                                  "username": f"slow{i % 30}"},
                          ago=3600 + i * (6 * DAY - 7200) / 250)
    skew = timedelta()

    def now() -> datetime:
        return datetime.now(UTC) + skew

    config = SourceConfig(platform="x", kind="search", query="@acmeair", every="60s")
    settings = Settings(x_bearer_token="sandbox-bearer-token", x_api_url=sandbox.base_url,
                        max_retries=1, sources=[config])
    source = build_source(config, settings, now=now)
    seen: list[str] = []
    for number, page in enumerate(source.poll({}), start=1):
        seen.extend(m.external_id for m in page.mentions)
        if number == 1:
            # Ten minutes pass on both clocks: the first start_time is now 7 days and 5
            # minutes old, outside what X serves.
            control.advance_clock(600)
            skew = timedelta(seconds=600)
    refused = [r for r in control.requests(path="/2/tweets/search/recent")
               if r["status"] == 400]
    assert refused, "the sandbox should have refused the stale start_time once"
    assert len(seen) == len(set(seen)) == 250
    assert page.cursor["since_id"] == max(seen, key=int)
