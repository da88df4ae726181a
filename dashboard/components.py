"""Small building blocks the pages share: reason chips, reply length counters, time labels.

Every helper here takes text from mentions as data and renders it with `st.text`, dataframe
cells or `safe.plain()`, never as markup.
"""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st
from twitter_text import parse_tweet

from dashboard.safe import plain

PLATFORM_LABELS = {"x": "X", "facebook": "Facebook", "instagram": "Instagram"}
REASON_COLORS = {"safety": "red", "legal": "red", "churn": "orange", "negative": "orange",
                 "waiting_sla": "violet", "high_reach": "blue", "question": "blue",
                 "repeat_contact": "violet", "lang_unsupported": "gray"}
# Shown when the responders' rules module is unavailable; the rules module is the authority
# (X public replies weighted as X counts them, Facebook 8000, Instagram 2200).
REPLY_LIMITS = {"x": 280, "facebook": 8000, "instagram": 2200}


def reply_limit(platform: str, kind: str = "public") -> int:
    try:
        from responders.rules import LIMITS
    except ImportError:
        return REPLY_LIMITS.get(platform, 2000)
    return LIMITS.get((platform, "private" if kind == "private" else "public"),
                      REPLY_LIMITS.get(platform, 2000))


def reply_length(platform: str, text: str, kind: str = "public") -> int:
    """How long a reply is, counted the way the platform counts it: X public text by
    twitter-text's weighted length (URLs 23, CJK and emoji 2), everything else by chars."""
    if not text:
        return 0
    if platform == "x" and kind != "private":
        return int(parse_tweet(text).weightedLength)
    return len(text)


def length_counter(platform: str, text: str, kind: str = "public") -> bool:
    """Show `used / limit` under a reply box; returns True when the text fits."""
    limit = reply_limit(platform, kind)
    used = reply_length(platform, text, kind)
    label = PLATFORM_LABELS.get(platform, platform)
    unit = "weighted characters" if platform == "x" and kind != "private" else "characters"
    if used > limit:
        st.error(f"{used} / {limit} {unit} on {label}: {used - limit} too many.")
        return False
    st.caption(f"{used} / {limit} {unit} on {label}")
    return True


def reason_chips(reasons: list[str]) -> None:
    """Urgency reason codes as plain-text badges in one row."""
    if not reasons:
        return
    with st.container(horizontal=True, gap="small"):
        for reason in reasons:
            st.badge(plain(reason), color=REASON_COLORS.get(reason, "gray"))  # type: ignore[arg-type]


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """'5 min ago', '3 h ago', '2 d ago'."""
    if moment is None:
        return "—"
    seconds = max(0.0, ((now or datetime.now(UTC)) - moment).total_seconds())
    if seconds < 90:
        return "just now"
    if seconds < 5400:
        return f"{int(seconds // 60)} min ago"
    if seconds < 172800:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"


def stamp(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def flash(key: str = "cw_flash") -> None:
    """Show (once) a message a callback left for the next rerun."""
    message = st.session_state.pop(key, None)
    if not message:
        return
    kind, text = message
    {"success": st.success, "error": st.error, "info": st.info,
     "warning": st.warning}.get(kind, st.info)(plain(text))


def set_flash(kind: str, text: str, key: str = "cw_flash") -> None:
    st.session_state[key] = (kind, text)
