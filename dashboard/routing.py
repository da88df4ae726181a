"""Why an item is where it is: the rules that routed it ("routed by rule 'bags to maria':
assign maria, tag bags"), its tags and priority, under the item in the Inbox. Shown with
`st.text`, never as markdown."""

from __future__ import annotations

import streamlit as st

from storage.db import Database
from storage.routing import routing_for


def routing_note(db: Database, mention_id: int) -> None:
    with db.session() as session:
        routing = routing_for(session, mention_id)
    extras = [f"priority {routing.priority}"] if routing.priority else []
    if routing.tags:
        extras.append("tags " + ", ".join(routing.tags))
    for line in [*routing.lines(), *([" · ".join(extras)] if extras else [])]:
        st.text(line)
