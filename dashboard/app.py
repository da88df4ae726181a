"""carewatch dashboard entry point: login, then the pages the user's role allows.

`st.navigation` is built on every rerun from the role read from the database, so a page
outside the role is neither listed nor served (asking for its URL lands on the first allowed
page); each page function checks the role again before rendering (`auth.require`).
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from dashboard import auth, context, outage
from dashboard.alerts import alerts_page
from dashboard.inbox import inbox_page
from dashboard.settings_page import settings_page
from dashboard.trends import trends_page
from storage.db import Database

# No icons: the navigation shows exactly the page names.
PAGES: dict[str, Callable[[], None]] = {
    "Inbox": inbox_page,
    "Alerts": alerts_page,
    "Trends": trends_page,
    "Settings": settings_page,
}


NOT_AVAILABLE = "Not available"


def url_paths(name: str) -> list[str]:
    """The URL paths that name a page, its own (`settings`) first: Streamlit matches a path
    exactly, so `/Settings` or `/SETTINGS` would otherwise answer "page not found" in a
    dialog over the login form instead of the login, the page or the refusal."""
    return list(dict.fromkeys([name.lower(), name, name.upper()]))


def _not_available() -> None:
    """What a URL outside the user's role shows: a refusal, none of the page."""
    st.error("You do not have access to this page.")


def main() -> None:
    st.set_page_config(page_title="carewatch", page_icon=":material/support_agent:",
                       layout="wide")
    try:
        db = context.database()
    except context.DashboardUnavailable as exc:
        st.error(f"carewatch cannot start: {exc}")
        st.stop()
        return  # st.stop() raises only inside a Streamlit run
    with outage.shown():
        _serve(db)


def _serve(db: Database) -> None:
    """The login form, or the page the user asked for among those of their role."""
    user = auth.current_user(db)
    if user is None:
        # The login form answers on every page URL, so a bookmarked /inbox still logs in
        # (instead of a "page not found" box) and lands on that page if the role allows it.
        login = [st.Page(auth.login_page, title="Log in", url_path="login", default=True)]
        login += [st.Page(auth.login_page, title="Log in", url_path=path,
                          visibility="hidden") for name in PAGES for path in url_paths(name)]
        st.navigation(login, position="hidden").run()
        return
    names = auth.ROLE_PAGES[user.role]
    pages = [st.Page(PAGES[name], title=name, url_path=name.lower(), default=index == 0)
             for index, name in enumerate(names)]
    # Other pages' URLs (and /login) answer with a refusal, never with the page itself; the
    # user's own pages under another casing (/Inbox) lead to the page.
    aliases = {path: page for name, page in zip(names, pages, strict=True)
               for path in url_paths(name)[1:]}
    hidden = [st.Page(_not_available, title=NOT_AVAILABLE, url_path=path,
                      visibility="hidden")
              for path in [p for n in PAGES if n not in names for p in url_paths(n)]
              + ["login", *aliases]]
    selected = st.navigation(pages + hidden, position="sidebar")
    with st.sidebar:
        if len(pages) == 1:
            # Streamlit hides its menu for a single page; list it anyway so every role sees
            # which pages it has.
            st.page_link(pages[0], label=names[0])
        st.text(f"{user.username} · {user.role}")
        auth.cookie_script()
        if st.button("Log out", key="cw_logout"):
            auth.log_out()
            st.rerun()
    if selected.url_path == "login":
        st.switch_page(pages[0])
    if selected.url_path in aliases:
        st.switch_page(aliases[selected.url_path])
    if selected.title == NOT_AVAILABLE:
        _not_available()
        st.page_link(pages[0], label=f"Go to {names[0]}")
        return
    selected.run()


main()
