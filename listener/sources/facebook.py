"""Facebook page source: posts and visitor posts (`/{page-id}/feed`) and every comment and
reply on them (`/{post-id}/comments?filter=stream`).

Graph paging is time based and comments arrive on old posts too, so the cursor is a time per
post rather than one id:

    {"origin": <epoch the source first looked back to>,
     "posts": {<post id>: <created_time of the newest comment stored, epoch>}}

Every poll reads the feed of the last `RESCAN_DAYS` (never before `origin`) and, for each post,
the comments since that post's time minus `OVERLAP_SECONDS` (Graph times have one-second
precision and items can become visible late; the upsert dedupes the overlap). A post's time
only moves after its comments are stored, so a crash replays rather than skips. Posts that fall
out of the window leave the cursor, which keeps it small.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from carewatch.domain import UNKNOWN_AUTHOR_ID, Author, Mention, Page, Platform
from carewatch.settings import Settings, SourceConfig
from listener.sources.base import BaseSource, epoch, parse_time
from listener.sources.graph import GraphSource
from listener.sources.graph_conversations import MessengerSource

RESCAN_DAYS = 7.0
OVERLAP_SECONDS = 300
PAGE_LIMIT = 100
POST_FIELDS = "id,message,created_time,updated_time,from,permalink_url"
COMMENT_FIELDS = ("id,message,created_time,from{id,name},parent{id},like_count,"
                  "comment_count,permalink_url")


class FacebookSource(GraphSource):
    """Posts, visitor posts, comments and replies of one Facebook page."""

    def __init__(self, config: SourceConfig, settings: Settings, **kwargs: Any) -> None:
        super().__init__(config, settings, **kwargs)
        self.page_id = str(config.page_id)

    def poll(self, cursor: dict[str, Any]) -> Iterator[Page]:
        cursor = dict(cursor or {})
        now = self.now()
        origin = int(cursor.get("origin")
                     or epoch(now - timedelta(days=self.config.backfill_days)))
        since = max(origin, epoch(now - timedelta(days=RESCAN_DAYS)))
        known: dict[str, int] = {str(k): int(v) for k, v in (cursor.get("posts") or {}).items()}
        posts: list[dict[str, Any]] = []
        for batch in self.paging.pages(self.page_id, "feed", fields=POST_FIELDS,
                                       since=since, limit=PAGE_LIMIT):
            posts.extend(batch)
        # Oldest first, so the cursor grows in the order things happened.
        posts.sort(key=lambda p: parse_time(p["created_time"]))
        state: dict[str, int] = {pid: t for pid, t in known.items()
                                 if pid in {str(p["id"]) for p in posts}}
        for post in posts:
            if self.should_stop():
                return
            yield from self._post_pages(post, state, origin, known)
        yield Page([], self._cursor(origin, state))

    def _cursor(self, origin: int, state: dict[str, int]) -> dict[str, Any]:
        return {"origin": origin, "posts": dict(state)}

    def _post_pages(self, post: dict[str, Any], state: dict[str, int], origin: int,
                    known: dict[str, int]) -> Iterator[Page]:
        post_id = str(post["id"])
        post_mention = self.post_mention(post)
        first_time = post_id not in known
        pending: list[Mention] = [post_mention] if first_time else []
        last = known.get(post_id)
        comment_since = None if last is None else last - OVERLAP_SECONDS
        newest = last if last is not None else epoch(post_mention.created_at)
        for batch in self.paging.pages(post_id, "comments", fields=COMMENT_FIELDS,
                                       filter="stream", order="chronological",
                                       since=comment_since, limit=PAGE_LIMIT):
            mentions = [self.comment_mention(c, post_id, post_mention.url) for c in batch]
            for m in mentions:
                newest = max(newest, epoch(m.created_at))
            if not (pending or mentions) and state.get(post_id) == newest:
                continue  # nothing new on this post: no transaction needed
            state[post_id] = newest
            yield Page(pending + mentions, self._cursor(origin, state))
            pending = []
        if pending or post_id not in state:
            state[post_id] = newest
            yield Page(pending, self._cursor(origin, state))

    # ---------------------------------------------------------------- mapping
    def post_mention(self, post: dict[str, Any]) -> Mention:
        """A page post is context (`is_own`); a visitor post is a mention."""
        return post_mention(post, page_id=self.page_id)

    def comment_mention(self, comment: dict[str, Any], post_id: str,
                        post_url: str | None) -> Mention:
        return comment_mention(comment, post_id, post_url, page_id=self.page_id)


def _author(frm: dict[str, Any] | None) -> Author:
    frm = frm or {}
    return Author(platform=Platform.FACEBOOK,
                  external_id=str(frm.get("id") or UNKNOWN_AUTHOR_ID),
                  handle=None, name=frm.get("name"))


def post_mention(post: dict[str, Any], *, page_id: str) -> Mention:
    """A post on the page `page_id`: the page's own post is context (`is_own`), a visitor
    post is a mention."""
    post_id = str(post["id"])
    author = _author(post.get("from"))
    return Mention(
        platform=Platform.FACEBOOK, external_id=post_id, text=post.get("message") or "",
        created_at=parse_time(post["created_time"]), author=author, thread_id=post_id,
        parent_id=None, url=post.get("permalink_url"),
        is_own=author.external_id == page_id, raw=post,
    )


def comment_mention(comment: dict[str, Any], post_id: str, post_url: str | None, *,
                    page_id: str) -> Mention:
    """A comment or reply in Graph's comment shape, whether polled or pushed by a webhook:
    replies point at their parent comment, others at the post; the page's own are context."""
    author = _author(comment.get("from"))
    parent = (comment.get("parent") or {}).get("id")
    return Mention(
        platform=Platform.FACEBOOK, external_id=str(comment["id"]),
        text=comment.get("message") or "", created_at=parse_time(comment["created_time"]),
        author=author, thread_id=post_id, parent_id=str(parent) if parent else post_id,
        url=comment.get("permalink_url") or post_url,
        like_count=int(comment.get("like_count") or 0),
        reply_count=int(comment.get("comment_count") or 0),
        is_own=author.external_id == page_id, raw=comment,
    )


SOURCES: dict[str, type[BaseSource]] = {"page": FacebookSource, "messenger": MessengerSource}
