"""Small building blocks the pages share: reason chips, reply length counters, time labels.

Every helper here takes text from mentions as data and renders it with `st.text`, dataframe
cells or `safe.plain()`, never as markup.
"""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from carewatch.platforms import all_specs, spec_for
from dashboard.safe import plain

REASON_COLORS = {"safety": "red", "legal": "red", "churn": "orange", "negative": "orange",
                 "waiting_sla": "violet", "high_reach": "blue", "question": "blue",
                 "repeat_contact": "violet", "lang_unsupported": "gray"}


def platform_choices() -> list[str]:
    """Every platform's stored value, in the order filters list them."""
    return [spec.platform.value for spec in all_specs()]


def platform_label(platform: str) -> str:
    """The platform's name as users read it; a value no spec knows is shown as stored."""
    try:
        return spec_for(platform).label
    except ValueError:
        return platform


def length_counter(platform: str, text: str, kind: str = "public") -> bool:
    """Show `used / limit` under a reply box, counted the way the platform counts it (X
    public text by its weighted length); returns True when the text fits."""
    spec = spec_for(platform)
    rule = spec.text_rule(kind)
    used = rule.count(text) if text else 0
    if used > rule.limit:
        st.error(f"{used} / {rule.limit} {rule.unit} on {spec.label}: "
                 f"{used - rule.limit} too many.")
        return False
    st.caption(f"{used} / {rule.limit} {rule.unit} on {spec.label}")
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
