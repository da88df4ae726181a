"""The approval queue (managers, on the Inbox page): replies held for a manager, each with
approve, edit-then-approve and reject.

Held replies come from users marked `needs_approval` and from rules (`rule:<name>`), whose
automatic replies wait unless the rule waives it for a calm item. Every button is a callback
wrapped in `auth.action`, so it acts only for a fresh manager session; the decision goes
through `responders.teamwork` (which checks the role again, the platform's text limit for an
edit, and audits who decided). Reply and item text are shown as text only.
"""

from __future__ import annotations

import streamlit as st

from dashboard import actions, auth, context
from dashboard.components import ago, set_flash
from dashboard.safe import one_line
from storage.db import Database

#: Who decides: the roles responders.teamwork accepts that have the Inbox page.
APPROVERS = ("manager",)
SHOWN = 50


@auth.action(APPROVERS)
def _approve(user: auth.CurrentUser, reply_id: int, text_key: str | None = None) -> None:
    text = st.session_state.get(text_key) if text_key else None
    outcome = actions.approve_reply(context.database(), reply_id, by=user.username,
                                    role=user.role, text=text)
    set_flash("success" if outcome.ok else "error", outcome.message)


@auth.action(APPROVERS)
def _reject(user: auth.CurrentUser, reply_id: int, reason_key: str) -> None:
    reason = (st.session_state.get(reason_key) or "").strip() or None
    outcome = actions.reject_reply(context.database(), reply_id, by=user.username,
                                   role=user.role, reason=reason)
    set_flash("success" if outcome.ok else "error", outcome.message)


def approval_queue(db: Database, user: auth.CurrentUser) -> None:
    """The pending replies, oldest first, for a manager; nothing for anyone else."""
    if user.role not in APPROVERS:
        return
    from responders.teamwork import pending_approvals

    pending = pending_approvals(db)
    label = f"Approval queue ({len(pending)})"
    with st.expander(label, expanded=bool(pending)):
        if not pending:
            st.caption("No replies are waiting for approval.")
            return
        if len(pending) > SHOWN:
            st.caption(f"Showing the {SHOWN} oldest of {len(pending)}.")
        for reply in pending[:SHOWN]:
            with st.container(border=True, key=f"cw_approval_{reply.id}"):
                st.text(f"#{reply.id} · {reply.kind.replace('_', ' ')} to {reply.mention} · "
                        f"by {one_line(reply.agent or '?', 60)} · queued "
                        f"{ago(reply.queued_at)}")
                text_key = f"cw_approval_text_{reply.id}"
                st.text_area("Reply text", value=reply.text, key=text_key,
                             help="Edit, then 'Approve edited' to send your version.")
                reason_key = f"cw_approval_reason_{reply.id}"
                st.text_input("Reason (for a rejection)", key=reason_key)
                approve, edited, reject = st.columns(3)
                approve.button("Approve", key=f"cw_approve_{reply.id}", on_click=_approve,
                               args=(reply.id,), type="primary")
                edited.button("Approve edited", key=f"cw_approve_edited_{reply.id}",
                              on_click=_approve, args=(reply.id, text_key))
                reject.button("Reject", key=f"cw_reject_{reply.id}", on_click=_reject,
                              args=(reply.id, reason_key))
