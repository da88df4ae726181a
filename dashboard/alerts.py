"""Alerts page (managers): reputation risk now, and whether the team keeps up.

Open alerts with the mentions behind them and an acknowledge button; volume and negative
share over time with alert episodes shaded; the SLA board (urgent mentions waiting, response
times per agent); source health. All reads are bounded queries or HourlyStat aggregates.
"""

from __future__ import annotations

from datetime import timedelta

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import auth, context
from dashboard.components import ago, flash, platform_label, stamp, write_then_flash
from dashboard.safe import cell, plain
from storage.alerts import alert_episodes
from storage.db import Database
from storage.inbox import mentions_by_refs
from storage.models import utcnow
from storage.sources import source_health
from storage.trends import agent_response_stats, hourly_volume, sla_waiting

SEVERITY_COLORS = {"critical": "red", "high": "red", "medium": "orange", "low": "blue"}
RANGES = {"24 hours": timedelta(hours=24), "48 hours": timedelta(hours=48),
          "7 days": timedelta(days=7), "30 days": timedelta(days=30)}


@auth.action(auth.PAGE_ROLES["Alerts"])
def _acknowledge(user: auth.CurrentUser, alert_id: int) -> None:
    from storage.alerts import AlertNotFound, acknowledge

    write_then_flash(context.database(),
                     lambda session: acknowledge(session, alert_id, user.username),
                     f"Alert {alert_id} acknowledged.", refused=(AlertNotFound,))


def _open_alerts(db: Database, user: auth.CurrentUser) -> None:
    from storage.alerts import open_alerts

    st.subheader("Open alerts")
    with db.session() as session:
        alerts = open_alerts(session, limit=100)
        behind = {a.id: mentions_by_refs(session, a.mention_ids or []) for a in alerts}
    if not alerts:
        st.success("No open alerts.")
        return
    for alert in alerts:
        with st.container(border=True, key=f"cw_alert_{alert.id}"):
            top, button = st.columns([5, 1], vertical_alignment="center")
            with top:
                with st.container(horizontal=True, gap="small"):
                    st.badge(plain(alert.severity.upper()),
                             color=SEVERITY_COLORS.get(alert.severity, "gray"))  # type: ignore[arg-type]
                    st.badge(plain(alert.kind), color="gray")
                st.text(alert.summary)
                ack = (f" · acknowledged by {alert.acknowledged_by}"
                       if alert.acknowledged_by else " · not acknowledged")
                st.caption(plain(f"#{alert.id} · since {stamp(alert.first_seen)} · last "
                                 f"{ago(alert.last_seen)}{ack}"))
            with button:
                st.button("Acknowledge", key=f"cw_ack_{alert.id}", on_click=_acknowledge,
                          args=(alert.id,),
                          disabled=alert.acknowledged_by is not None)
            rows = behind.get(alert.id, [])
            if rows:
                with st.expander(f"Mentions behind it ({len(rows)})"):
                    st.dataframe(pd.DataFrame({
                        "mention": [r.ref for r in rows],
                        "when": [stamp(r.created_at) for r in rows],
                        "author": [cell("@" + r.author_handle if r.author_handle
                                        else r.author_name, 60) for r in rows],
                        "text": [cell(r.text, 400) for r in rows],
                        "urgency": [round(r.urgency or 0.0, 2) for r in rows],
                        "status": [r.status for r in rows],
                    }), hide_index=True)


def _volume_chart(db: Database, span: timedelta) -> None:
    until = utcnow() + timedelta(hours=1)
    since = until - span - timedelta(hours=1)
    with db.session() as session:
        hourly = hourly_volume(session, since, until)
        episodes = alert_episodes(session, since)
    st.subheader("Volume and negative share")
    if not hourly:
        st.caption("No mentions in this range yet.")
        return
    frame = pd.DataFrame(hourly)
    per_hour = frame.groupby("bucket").agg(mentions=("count", "sum")).reset_index()
    negative = (frame[frame["sentiment_label"] == "negative"].groupby("bucket")["count"].sum()
                .rename("negative"))
    per_hour = per_hour.merge(negative, on="bucket", how="left").fillna({"negative": 0})
    per_hour["negative_share"] = per_hour["negative"] / per_hour["mentions"].clip(lower=1)
    per_hour["bucket"] = pd.to_datetime(per_hour["bucket"], utc=True)
    base = alt.Chart(per_hour).encode(x=alt.X("bucket:T", title="hour (UTC)"))
    volume = base.mark_bar(opacity=0.6).encode(
        y=alt.Y("mentions:Q", title="mentions per hour"),
        tooltip=["bucket:T", "mentions:Q", "negative:Q"])
    share = base.mark_line(color="#d62728", point=True).encode(
        y=alt.Y("negative_share:Q", title="negative share", axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1])),
        tooltip=["bucket:T", alt.Tooltip("negative_share:Q", format=".0%")])
    layers: list[alt.Chart] = []
    if episodes:
        ep = pd.DataFrame(episodes)
        ep["start"] = pd.to_datetime(ep["start"], utc=True)
        ep["end"] = pd.to_datetime(ep["end"], utc=True)
        layers.append(alt.Chart(ep).mark_rect(opacity=0.15, color="orange").encode(
            x="start:T", x2="end:T", tooltip=["kind:N", "severity:N", "start:T", "end:T"]))
        layers.append(alt.Chart(ep).mark_rule(color="orange", strokeDash=[4, 3]).encode(
            x="start:T", tooltip=["kind:N", "severity:N"]))
    chart = alt.layer(*layers, volume, share).resolve_scale(y="independent").properties(
        height=280)
    st.altair_chart(chart, width="stretch")
    if episodes:
        st.caption("Shaded: alert episodes (start to last activity).")


def _sla_board(db: Database, first_response_minutes: float) -> None:
    st.subheader("SLA board")
    with db.session() as session:
        waiting = sla_waiting(session)
        agents = agent_response_stats(session)
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.caption(f"Urgent mentions without a first response (target "
                   f"{first_response_minutes:g} min)")
        if waiting:
            frame = pd.DataFrame(waiting)
            frame["text"] = [cell(t, 200) for t in frame["text"]]
            frame["over_target"] = frame["waiting_minutes"] > first_response_minutes
            st.dataframe(frame[["mention", "waiting_minutes", "over_target", "urgency",
                                "status", "assignee", "text"]], hide_index=True, height=260)
        else:
            st.success("No urgent mention is waiting.")
    with right:
        st.caption("First response times per agent, last 7 days (minutes)")
        if agents:
            st.dataframe(pd.DataFrame(agents), hide_index=True)
        else:
            st.caption("No first responses recorded yet.")


def _source_health(db: Database) -> None:
    st.subheader("Source health")
    with db.session() as session:
        sources = source_health(session)
    if not sources:
        st.caption("No source has been polled yet.")
        return
    frame = pd.DataFrame([{
        "source": s["source"], "platform": platform_label(s["platform"]),
        "healthy": s["healthy"], "token": s["token_state"], "last poll": ago(s["last_poll_at"]),
        "last item": ago(s["last_item_at"]), "failures": s["consecutive_failures"],
        "items": s["items_total"], "last error": cell(s["last_error"], 300),
    } for s in sources])
    st.dataframe(frame, hide_index=True)
    for s in sources:
        if not s["healthy"] and s["health_message"]:
            st.error(plain(f"{s['source']}: {s['health_message']}"))


def alerts_page() -> None:
    user, db = auth.require(auth.PAGE_ROLES["Alerts"])
    settings = context.settings()
    st.title("Alerts")
    flash()
    _open_alerts(db, user)
    span = st.segmented_control("Range", list(RANGES), default="48 hours",
                                key="cw_alert_range") or "48 hours"
    _volume_chart(db, RANGES[span])
    _sla_board(db, settings.alerts.first_response_minutes)
    _source_health(db)
