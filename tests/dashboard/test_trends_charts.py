"""The Trends charts as the browser receives them (the Vega-Lite specs and their data, read
from a rendered page through AppTest): every bucket of the range is a row, empty ones zero;
the x-axis ticks sit on the chart's own bucket (midnights on a daily chart, Mondays on a
weekly one, hours only on an hourly one); the sentiment areas stack all three labels."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from dashboard import trends as page
from tests.dashboard.test_app import login

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def _charts(at: Any) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    """Each time chart on the page: its spec and its data."""
    out = []
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        if spec.get("encoding", {}).get("x", {}).get("field") != "period":
            continue  # top terms and response times are not time charts
        raw = chart.proto.datasets[0].data.data
        frame = pa.ipc.open_stream(raw).read_pandas()
        out.append((spec, frame))
    return out


def _days_in_range() -> list[pd.Timestamp]:
    today = datetime.now(UTC).date()
    return [pd.Timestamp(datetime.combine(today - timedelta(days=d), datetime.min.time(),
                                          tzinfo=UTC)) for d in range(6, -1, -1)]


def _periods(frame: pd.DataFrame) -> list[pd.Timestamp]:
    return sorted(pd.to_datetime(frame["period"], utc=True).unique())


def test_daily_charts_have_every_day_with_zeros_and_midnight_ticks(store: Any) -> None:
    at = login("analyst1")
    charts = _charts(at)
    assert len(charts) == 5  # platform, sentiment, negative share, visibility, echoes
    days = _days_in_range()
    for spec, frame in charts:
        axis = spec["encoding"]["x"]["axis"]
        assert axis["format"] == page.TICK_FORMATS["day"]
        assert "%H" not in axis["format"]
        assert axis["values"] == [int(d.timestamp() * 1000) for d in days]
        assert all(v % DAY_MS == 0 for v in axis["values"])  # midnights, no hour ticks
        assert _periods(frame) == days  # every day of the range, even the empty ones
    by_sentiment = charts[1][1]
    per_day = by_sentiment.groupby("period")["count"].sum()
    # The seeded mentions are from the last three days: the other days are zero, not missing.
    assert (per_day == 0).sum() >= 4
    assert per_day.sum() == 7


def test_sentiment_areas_stack_all_three_labels(store: Any) -> None:
    at = login("analyst1")
    spec, frame = _charts(at)[1]
    assert spec["mark"]["type"] == "area"
    assert spec["encoding"]["y"]["stack"] == "zero"
    assert spec["encoding"]["color"]["scale"]["domain"] == list(page.SENTIMENTS)
    assert spec["encoding"]["order"]["field"] == "sentiment_label"
    # Every label in every bucket (a missing label would cut a hole in the stack).
    counts = frame.groupby("period")["sentiment_label"].apply(sorted)
    assert all(labels == list(page.SENTIMENTS) for labels in counts)
    totals = frame.groupby("sentiment_label")["count"].sum().to_dict()
    assert totals == {"negative": 5, "neutral": 1, "positive": 1}
    assert (frame["count"] == 0).any()  # the empty days' labels are there, as zeros


@pytest.mark.parametrize(("grain", "unit_ms", "formats"), [
    ("hour", HOUR_MS, "%H"), ("week", 7 * DAY_MS, "%b %d")])
def test_ticks_follow_the_chosen_bucket(store: Any, grain: str, unit_ms: int,
                                        formats: str) -> None:
    at = login("analyst1")
    today = datetime.now(UTC).date()
    at.date_input(key="cw_t_range").set_value((today - timedelta(days=34), today))
    at.radio(key="cw_t_grain").set_value(grain).run()
    assert not at.exception
    charts = _charts(at)
    assert charts
    for spec, frame in charts:
        axis = spec["encoding"]["x"]["axis"]
        assert axis["format"] == page.TICK_FORMATS[grain]
        assert formats in axis["format"]
        first = int(_periods(frame)[0].timestamp() * 1000)
        assert axis["values"][0] == first
        assert all((v - first) % unit_ms == 0 for v in axis["values"])
        assert len(axis["values"]) <= page.MAX_TICKS
        steps = pd.Series(_periods(frame)).diff().dropna().unique()
        assert [int(s / pd.Timedelta(milliseconds=1)) for s in steps] == [unit_ms]
    if grain == "week":
        assert all(p.day_name() == "Monday" for p in _periods(charts[0][1]))
