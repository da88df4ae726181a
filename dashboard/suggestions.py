"""The suggestions panel beside the reply box: the three best replies for the opened item
(canned for its topic, knowledge-base answers, the team's past replies), each with why.

One click puts a suggestion's text in the reply box, where the agent reads and edits it; the
panel never queues or sends anything. Suggestions are computed by the responders
(`responders.suggest.service.suggest`) and kept for half a minute per item and agent, so the
inbox's reruns do not rebuild them on every click.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from carewatch.settings import resolve_config_path
from dashboard import auth, context
from dashboard.safe import plain
from storage.inbox import InboxRow

#: Who may use the panel: the roles of the inbox, where the reply box is shown.
ROLES = auth.PAGE_ROLES["Inbox"]
SOURCE_LABELS = {"canned": "Canned reply", "knowledge": "Knowledge base",
                 "past_reply": "Past reply"}


@dataclass(frozen=True, slots=True)
class Shown:
    """The panel's content: the suggestions as (text, source, score, why), or why none."""

    items: tuple[tuple[str, str, float, str], ...]
    error: str | None = None


@st.cache_data(ttl=30, max_entries=256, show_spinner=False)
def _compute(database_url: str, config: str | None, ref: str, agent: str) -> Shown:
    # Keyed on the database, the configuration file, the item and the agent ({agent}).
    from responders.rules import RuleViolation
    from responders.suggest.knowledge import KnowledgeError, knowledge_base_dir
    from responders.suggest.service import suggest

    current = context.settings()
    base = knowledge_base_dir(resolve_config_path(config))
    try:
        result = suggest(context.database(current), current, ref, agent=agent,
                         knowledge_dir=base)
    except (RuleViolation, KnowledgeError) as exc:
        return Shown((), str(exc))
    return Shown(tuple((s.text, s.source.value, s.score, s.why) for s in result.items))


@auth.action(ROLES)
def _use(_user: auth.CurrentUser, text_key: str, text: str) -> None:
    """Put the suggestion in the reply box (the agent still reviews and queues it)."""
    st.session_state[text_key] = text


def panel(row: InboxRow, user: auth.CurrentUser, text_key: str) -> None:
    """Up to three suggestions, best first, each with a button that fills `text_key`."""
    current = context.settings()
    config = resolve_config_path(None)
    shown = _compute(current.database_url, str(config) if config else None, row.ref,
                     user.username)
    st.caption("Suggestions")
    if shown.error:
        st.warning(plain(f"No suggestions: {shown.error}"))
        return
    if not shown.items:
        st.caption("No canned reply, article or past reply fits this item yet.")
        return
    for rank, (text, source, score, why) in enumerate(shown.items, start=1):
        with st.container(border=True):
            st.caption(plain(f"{SOURCE_LABELS.get(source, source)} · {score:.2f} · {why}"))
            st.text(text)
            st.button("Use this reply", key=f"cw_suggest_{row.id}_{rank}", on_click=_use,
                      args=(text_key, text))
