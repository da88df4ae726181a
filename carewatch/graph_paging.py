"""Following Graph API paging, the one rule the listener and the responders share.

facebook-sdk's `get_all_connections` fails on a `paging.next` without `access_token` and has
no retry, so carewatch pages itself. Edges paged by cursor (comments, replies, media) go on
with `paging.cursors.after`; edges paged by time (a page's feed) carry `until` and
`__paging_token` only in the `paging.next` URL, whose query is followed instead.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit


def next_page_params(result: dict[str, Any], params: dict[str, Any]) -> dict[str, Any] | None:
    """The query for the page after `result` (fetched with `params`), or None at the end."""
    if not result.get("data"):
        return None
    paging = result.get("paging") or {}
    next_url = paging.get("next")
    if not next_url:
        return None
    after = (paging.get("cursors") or {}).get("after")
    if after:
        following = {**params, "after": after}
    else:
        query = parse_qs(urlsplit(str(next_url)).query)
        query.pop("access_token", None)
        following = {key: values[-1] for key, values in query.items()}
    # A platform that repeats the same page must not keep us looping.
    return None if following == params else following
