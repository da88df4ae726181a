"""Settings page (admins): what carewatch listens to and how it behaves, secrets masked.

Sources, queries and notification targets come from `carewatch.toml` and are shown read-only
(the file stays the one source of truth for them, and tokens never reach the browser), with
which listener process polls each one now (`host:pid`) and when it is next due.
Values that are safe to change at runtime are stored in the `settings_kv` table: the first
response target, urgency weights and keyword lists. Canned replies and users are edited here.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from carewatch.domain import Role
from carewatch.platforms import all_specs, spec_for
from carewatch.settings import Settings
from dashboard import actions, auth, context
from dashboard.components import ago, flash, platform_label, set_flash, stamp, write_then_flash
from dashboard.safe import cell, mask_secret, mask_url, mask_webhook, plain
from storage.canned import canned_replies, delete_canned_reply, save_canned_reply
from storage.db import Database, redact_url
from storage.settings_values import (
    KV_FIRST_RESPONSE,
    KV_URGENCY_KEYWORDS,
    KV_URGENCY_WEIGHTS,
    get_kv,
    set_kv,
)
from storage.sources import source_health
from storage.users import (
    PASSWORD_RULE,
    PasswordRuleError,
    RoleChangeRefused,
    create_or_update_user,
    list_users,
    password_advice,
    set_needs_approval,
    set_role,
    unlock,
)

DEFAULT_REASONS = ("negative", "question", "high_reach", "safety", "legal", "churn",
                   "waiting_sla", "repeat_contact")


def _sources(db: Database, settings: Settings) -> None:
    st.subheader("Sources and queries")
    with db.session() as session:
        health = {h["source"]: h for h in source_health(session)}
    rows = []
    for source in settings.sources:
        h = health.get(source.key, {})
        rows.append({
            "source": source.key, "platform": platform_label(source.platform.value),
            "kind": source.kind or "", "query / account": cell(
                spec_for(source.platform).source_kind(source.kind or "").polled(source), 300),
            "every (s)": source.every, "backfill (days)": source.backfill_days,
            "healthy": h.get("healthy", True), "token": h.get("token_state", "—"),
            "last poll": ago(h.get("last_poll_at")),
            "polled by": h.get("lease_holder") or "—", "next due": stamp(h.get("next_due_at")),
        })
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True)
    else:
        st.caption("No sources configured in carewatch.toml.")
    st.subheader("Connections")
    st.dataframe(pd.DataFrame([
        {"setting": "database", "value": redact_url(settings.database_url)},
        *_platform_connections(settings),
        {"setting": "brand", "value": f"{settings.brand.name} "
                                      f"(@{', @'.join(settings.brand.handles)})"},
    ]), hide_index=True)


def _platform_connections(settings: Settings) -> list[dict[str, str]]:
    """Each platform API's base URL (and version), then each token masked, as the platform
    specs name them; platforms sharing an API or a token show it once."""
    apis: dict[str, str] = {}
    tokens: dict[str, str] = {}
    for spec in all_specs():
        version = (f" ({getattr(settings, spec.api_version_setting)})"
                   if spec.api_version_setting else "")
        base = getattr(settings, spec.api_routes[0].base_url_setting)
        apis.setdefault(spec.api_name, f"{mask_url(base)}{version}")
        tokens.update(spec.secrets)
    return ([{"setting": name, "value": value} for name, value in apis.items()]
            + [{"setting": label, "value": mask_secret(getattr(settings, name))}
               for name, label in tokens.items()])


def _response(db: Database, settings: Settings, username: str) -> None:
    st.subheader("First response target")
    with db.session() as session:
        current = get_kv(session, KV_FIRST_RESPONSE,
                         settings.alerts.first_response_minutes)
        weights = dict(settings.urgency.weights)
        weights.update(get_kv(session, KV_URGENCY_WEIGHTS, {}) or {})
        keywords: dict[str, list[str]] = dict(settings.urgency.keywords)
        keywords.update(get_kv(session, KV_URGENCY_KEYWORDS, {}) or {})
    with st.form("cw_first_response"):
        minutes = st.number_input("Minutes until an urgent mention breaches the SLA",
                                  min_value=1.0, max_value=10080.0, value=float(current),
                                  step=5.0)
        if st.form_submit_button("Save target"):
            with db.write() as session:
                set_kv(session, KV_FIRST_RESPONSE, float(minutes), actor=username)
            set_flash("success", f"First response target set to {minutes:g} minutes.")
            st.rerun()
    st.subheader("Urgency weights")
    st.caption("Weight per reason code; reasons without a weight keep the built-in one.")
    table = pd.DataFrame([{"reason": r, "weight": weights.get(r)}
                          for r in sorted(set(DEFAULT_REASONS) | set(weights))])
    edited = st.data_editor(table, hide_index=True, key="cw_weights", disabled=["reason"],
                            column_config={"weight": st.column_config.NumberColumn(
                                min_value=0.0, max_value=1.0, step=0.05)})
    if st.button("Save weights", key="cw_save_weights"):
        new = {str(r["reason"]): float(r["weight"]) for r in edited.to_dict("records")
               if r["weight"] is not None and not pd.isna(r["weight"])}
        with db.write() as session:
            set_kv(session, KV_URGENCY_WEIGHTS, new, actor=username)
        set_flash("success", "Urgency weights saved.")
        st.rerun()
    st.subheader("Urgency keyword lists")
    reason = st.selectbox("Reason", sorted(set(DEFAULT_REASONS) | set(keywords)),
                          key="cw_kw_reason")
    words = st.text_area("Keywords (one per line)", value="\n".join(keywords.get(reason, [])),
                         key=f"cw_kw_{reason}")
    if st.button("Save keywords", key="cw_save_keywords"):
        keywords[reason] = [w.strip() for w in words.splitlines() if w.strip()]
        with db.write() as session:
            set_kv(session, KV_URGENCY_KEYWORDS, keywords, actor=username)
        set_flash("success", f"Keywords for {reason} saved.")
        st.rerun()


def _canned(db: Database, settings: Settings, username: str) -> None:
    st.subheader("Canned replies")
    with db.session() as session:
        stored = [(r.id, r.name, r.text) for r in canned_replies(session)]
    if stored:
        st.dataframe(pd.DataFrame([{"name": cell(n, 100), "text": cell(t, 500)}
                                   for _, n, t in stored]), hide_index=True)
    from_file = [c for c in settings.canned_replies if c.name not in {n for _, n, _ in stored}]
    if from_file:
        st.caption("From carewatch.toml (read-only; add one with the same name to override)")
        st.dataframe(pd.DataFrame([{"name": cell(c.name, 100), "text": cell(c.text, 500)}
                                   for c in from_file]), hide_index=True)
    choices: dict[str, int | None] = {"New canned reply": None}
    choices.update({f"Edit: {n}": i for i, n, _ in stored})
    picked = st.selectbox("Canned reply to edit", list(choices), key="cw_canned_pick")
    reply_id = choices[picked]
    existing = next(((n, t) for i, n, t in stored if i == reply_id), ("", ""))
    with st.form(f"cw_canned_form_{reply_id}"):
        name = st.text_input("Name", value=existing[0])
        text = st.text_area("Text", value=existing[1])
        col_save, col_delete = st.columns(2)
        save = col_save.form_submit_button("Save canned reply")
        remove = col_delete.form_submit_button("Delete canned reply",
                                               disabled=reply_id is None)
    if save:
        if reply_id is not None and name.strip() != existing[0]:
            try:  # a rename keeps the row (and its id)
                with db.write() as session:
                    save_canned_reply(session, name, text, actor=username,
                                      reply_id=reply_id)
            except ValueError as exc:
                st.error(plain(str(exc)))
                return
        outcome = actions.save_canned(db, name, text, by=username)
        if not outcome.ok:
            st.error(plain(outcome.message))
            return
        set_flash("success", outcome.message)
        st.rerun()
    if remove and reply_id is not None:
        with db.write() as session:
            delete_canned_reply(session, reply_id, actor=username)
        set_flash("success", "Canned reply deleted.")
        st.rerun()


def _notify(settings: Settings) -> None:
    st.subheader("Notification targets")
    rows: list[dict[str, Any]] = []
    for target in settings.notify:
        if target.kind == "email":
            where = (f"{target.smtp_host}:{target.smtp_port} from {target.sender} to "
                     f"{', '.join(target.to)}")
        else:
            where = mask_webhook(target.url)
        rows.append({"kind": target.kind, "name": target.name or "", "target": where,
                     "min severity": target.min_severity,
                     "credentials": mask_secret(target.smtp_password)
                     if target.kind == "email" else "in URL (masked)"})
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True)
    else:
        st.caption("No notification targets configured in carewatch.toml.")


def _users(db: Database, username: str) -> None:
    st.subheader("Users and roles")
    with db.session() as session:
        users = [(u.username, u.role, u.locked_until, u.failed_attempts)
                 for u in list_users(session)]
        held = {u.username for u in list_users(session) if u.needs_approval}
    from storage.models import utcnow

    now = utcnow()
    st.dataframe(pd.DataFrame([{"user": n, "role": r,
                                "locked": bool(lock and lock > now),
                                "failed logins": f, "needs approval": n in held}
                               for n, r, lock, f in users]),
                 hide_index=True)
    roles = [r.value for r in Role]
    with st.form("cw_add_user", clear_on_submit=True):
        st.caption("Add a user, or set a new password for an existing one (their role "
                   "changes only with Change role below)")
        name = st.text_input("New user name")
        role = st.selectbox("Role", roles)
        password = st.text_input("Initial password", type="password",
                                 help=f"Passwords: {PASSWORD_RULE}.")
        st.caption(f"Passwords: {PASSWORD_RULE}.")
        if st.form_submit_button("Save user"):
            try:
                with db.write() as session:
                    _, created = create_or_update_user(session, name, role, password,
                                                       actor=username)
            except RoleChangeRefused as exc:
                st.error(plain(f"{exc}: use Change role below."))
            except PasswordRuleError as exc:
                st.error(plain(str(exc)))
            else:
                advice = password_advice(password)
                set_flash("success", f"User {name.strip()} {'added' if created else 'updated'}."
                          + ("" if advice is None else f" Note: {advice}."))
                st.rerun()
    if users:
        names = [n for n, *_ in users]
        col_user, col_role = st.columns(2)
        who = col_user.selectbox("User", names, key="cw_user_pick")
        new_role = col_role.selectbox("New role", roles, key="cw_user_role")
        col_a, col_b = st.columns(2)
        if col_a.button("Change role", key="cw_change_role"):
            with db.write() as session:
                set_role(session, who, new_role, actor=username)
            set_flash("success", f"{who} is now {new_role}.")
            st.rerun()
        if col_b.button("Unlock", key="cw_unlock"):
            with db.write() as session:
                unlock(session, who, actor=username)
            set_flash("success", f"{who} unlocked.")
            st.rerun()
        _approval_toggle(who, who in held)


@auth.action(("admin",))
def _set_needs_approval(user: auth.CurrentUser, who: str, needed: bool) -> None:
    write_then_flash(context.database(),
                     lambda session: set_needs_approval(session, who, needed,
                                                        actor=user.username),
                     f"Replies by {who} now need a manager's approval." if needed
                     else f"Replies by {who} are now sent without approval.",
                     refused=(PasswordRuleError,))


def _approval_toggle(who: str, held: bool) -> None:
    """Mark the picked user `needs_approval` (their replies wait for a manager), or clear it."""
    st.caption(f"{who}: replies {'wait for a manager' if held else 'are sent directly'}.")
    st.button("Send without approval" if held else "Require approval",
              key="cw_toggle_approval", on_click=_set_needs_approval, args=(who, not held))


def settings_page() -> None:
    user, db = auth.require(auth.PAGE_ROLES["Settings"])
    settings = context.settings()
    st.title("Settings")
    flash()
    tabs = st.tabs(["Sources", "Response and urgency", "Canned replies", "Notifications",
                    "Users"])
    with tabs[0]:
        _sources(db, settings)
    with tabs[1]:
        _response(db, settings, user.username)
    with tabs[2]:
        _canned(db, settings, user.username)
    with tabs[3]:
        _notify(settings)
    with tabs[4]:
        _users(db, user.username)
