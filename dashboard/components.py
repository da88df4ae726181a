"""Small building blocks the pages share: reason chips, channel labels, reply length
counters, time labels.

Every helper here takes text from mentions as data and renders it with `st.text`, dataframe
cells or `safe.plain()`, never as markup.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import streamlit as st
from sqlalchemy.orm import Session

from carewatch.domain import Visibility
from carewatch.platforms import all_specs, spec_for
from dashboard.safe import plain
from storage.db import Database

REASON_COLORS = {"safety": "red", "legal": "red", "churn": "orange", "negative": "orange",
                 "waiting_sla": "violet", "high_reach": "blue", "question": "blue",
                 "repeat_contact": "violet", "lang_unsupported": "gray"}
#: Reason codes short enough for a narrow table column; a code not listed is shown as stored.
REASON_SHORT = {"safety": "safety", "legal": "legal", "churn": "churn", "negative": "neg",
                "waiting_sla": "sla", "high_reach": "reach", "question": "q",
                "repeat_contact": "repeat", "lang_unsupported": "lang"}
LOCK = "🔒"
#: Where a callback leaves the message the next page run shows (`set_flash`, `flash`).
FLASH_KEY = "cw_flash"
PRIVATE_MARK = f"{LOCK} private"
PUBLIC_MARK = "public"


def platform_choices() -> list[str]:
    """Every platform's stored value, in the order filters list them."""
    return [spec.platform.value for spec in all_specs()]


def platform_label(platform: str) -> str:
    """The platform's name as users read it; a value no spec knows is shown as stored."""
    try:
        return spec_for(platform).label
    except ValueError:
        return platform


def channel_label(platform: str, visibility: str) -> str:
    """Where an item was said: the platform for public items, the private channel's name
    (X direct message, Messenger, Instagram Direct) for private ones."""
    if visibility != Visibility.PRIVATE.value:
        return platform_label(platform)
    try:
        return spec_for(platform).conversation.name
    except ValueError:
        return platform


def visibility_mark(visibility: str) -> str:
    return PRIVATE_MARK if visibility == Visibility.PRIVATE.value else PUBLIC_MARK


def short_reasons(reasons: list[str]) -> list[str]:
    """Urgency reasons as the short codes of the inbox table's chips."""
    return [REASON_SHORT.get(reason, reason) for reason in reasons]


def length_counter(platform: str, text: str, kind: str = "public") -> bool:
    """Show `used / limit` under a reply box, counted the way the platform counts it for
    that kind of text (X public text by its weighted length; a `message` in a private
    conversation by that channel's limit); returns True when the text fits."""
    spec = spec_for(platform)
    rule = spec.text_rule(kind)
    where = spec.conversation.name if kind == "message" else spec.label
    used = rule.count(text) if text else 0
    if used > rule.limit:
        st.error(f"{used} / {rule.limit} {rule.unit} on {where}: "
                 f"{used - rule.limit} too many.")
        return False
    st.caption(f"{used} / {rule.limit} {rule.unit} on {where}")
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


def flash(key: str = FLASH_KEY) -> None:
    """Show (once) a message a callback left for the next rerun."""
    message = st.session_state.pop(key, None)
    if not message:
        return
    kind, text = message
    {"success": st.success, "error": st.error, "info": st.info,
     "warning": st.warning}.get(kind, st.info)(plain(text))


def set_flash(kind: str, text: str, key: str = FLASH_KEY) -> None:
    st.session_state[key] = (kind, text)


def write_then_flash(db: Database, write: Callable[[Session], object], success: str, *,
                     refused: tuple[type[Exception], ...] = (ValueError,)) -> None:
    """Run a callback's one write in a transaction, then leave its outcome for the next
    rerun: `success`, or the one-line reason of a `refused` error (nothing written)."""
    try:
        with db.write() as session:
            write(session)
    except refused as exc:
        set_flash("error", str(exc))
        return
    set_flash("success", success)
