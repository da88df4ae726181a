"""Instagram professional account source: comments and replies on the account's media.

The Instagram Graph edges have no reliable `since` on comments, and replies hang off
comments (`/{comment-id}/replies`), so a full read of a media item costs one call per
top-level comment. The cursor therefore remembers, per media item, its `comments_count`
(which counts replies too) and the newest comment time stored:

    {"media": {<media id>: {"count": <comments_count>, "last": <epoch>}}, "full_scan_at": <epoch>}

A media item is read again when its count changed, when the platform did not send a count,
or while it is young (`ACTIVE_SECONDS`: conversations happen in the first day, and a count
that leaves out replies must not hide a new reply), plus a full re-read of the window every
`FULL_SCAN_SECONDS` in case a deletion and a new comment cancelled out. Everything read is
handed on, whatever its timestamp; the upsert dedupes what is stored already. The cursor for
an item moves only after its page is stored.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import timedelta
from typing import Any

from carewatch.domain import Author, Mention, Page, Platform, handle_only_author_id
from carewatch.settings import Settings, SourceConfig
from listener.sources.base import epoch, parse_time
from listener.sources.graph import GraphSource
from listener.sources.graph_conversations import InstagramDirectSource

MEDIA_WINDOW_DAYS = 30.0
FULL_SCAN_SECONDS = 6 * 3600
ACTIVE_SECONDS = 24 * 3600
MEDIA_FIELDS = "id,caption,timestamp,permalink,comments_count,username"
COMMENT_FIELDS = "id,text,timestamp,username,from{id,username},like_count"


class InstagramSource(GraphSource):
    """Comments and replies on one Instagram professional account's media."""

    def __init__(self, config: SourceConfig, settings: Settings, **kwargs: Any) -> None:
        super().__init__(config, settings, **kwargs)
        self.ig_user_id = str(config.ig_user_id)
        self.brand_handles = {h.lower() for h in settings.brand.handles}

    def poll(self, cursor: dict[str, Any]) -> Iterator[Page]:
        cursor = dict(cursor or {})
        now = self.now()
        known: dict[str, dict[str, int]] = {
            str(k): {"count": int(v.get("count", -1)), "last": int(v.get("last", 0))}
            for k, v in (cursor.get("media") or {}).items() if isinstance(v, dict)
        }
        full_scan_at = int(cursor.get("full_scan_at") or 0)
        full_scan = epoch(now) - full_scan_at >= FULL_SCAN_SECONDS
        window_days = max(MEDIA_WINDOW_DAYS, self.config.backfill_days)
        oldest = now - timedelta(days=window_days)
        media: list[dict[str, Any]] = []
        for batch in self.paging.pages(self.ig_user_id, "media", fields=MEDIA_FIELDS,
                                       limit=100):
            inside = [m for m in batch if parse_time(m["timestamp"]) >= oldest]
            media.extend(inside)
            if len(inside) < len(batch):
                break  # newest first: the rest is older still
        media.sort(key=lambda m: parse_time(m["timestamp"]))
        present = {str(m["id"]) for m in media}
        state = {mid: v for mid, v in known.items() if mid in present}
        done_at = full_scan_at if not full_scan else epoch(now)

        def current() -> dict[str, Any]:
            # The full-scan time is only recorded with the last page of a complete pass.
            return {"media": {k: dict(v) for k, v in state.items()},
                    "full_scan_at": full_scan_at}

        for item in media:
            if self.should_stop():
                return
            media_id = str(item["id"])
            raw_count = item.get("comments_count")
            count = int(raw_count) if raw_count is not None else -1
            seen = known.get(media_id)
            young = epoch(now) - epoch(parse_time(item["timestamp"])) < ACTIVE_SECONDS
            unchanged = seen is not None and count >= 0 and seen["count"] == count
            if unchanged and not young and not full_scan:
                continue
            mentions = self.read_media(item, seen)
            newest = max([seen["last"] if seen else 0]
                         + [epoch(m.created_at) for m in mentions])
            state[media_id] = {"count": count, "last": newest}
            yield Page(mentions, current())
        final = current()
        final["full_scan_at"] = done_at
        yield Page([], final)

    def read_media(self, item: dict[str, Any], seen: dict[str, int] | None) -> list[Mention]:
        """The caption (if new to us), the comments and their replies."""
        media_id = str(item["id"])
        out: list[Mention] = []
        if seen is None:
            out.append(self.media_mention(item))
        url = item.get("permalink")
        for batch in self.paging.pages(media_id, "comments", fields=COMMENT_FIELDS, limit=50):
            for comment in batch:
                out.append(self.comment_mention(comment, media_id, url, parent_id=None))
                for replies in self.paging.pages(str(comment["id"]), "replies",
                                                 fields=COMMENT_FIELDS, limit=50):
                    out.extend(self.comment_mention(reply, media_id, url,
                                                    parent_id=str(comment["id"]))
                               for reply in replies)
        return out

    # ---------------------------------------------------------------- mapping
    def media_mention(self, item: dict[str, Any]) -> Mention:
        """The brand's media caption: thread root and context, never a mention."""
        media_id = str(item["id"])
        handle = item.get("username") or next(iter(self.brand_handles), None)
        return Mention(
            platform=Platform.INSTAGRAM, external_id=media_id, text=item.get("caption") or "",
            created_at=parse_time(item["timestamp"]),
            author=Author(platform=Platform.INSTAGRAM, external_id=self.ig_user_id,
                          handle=handle),
            thread_id=media_id, parent_id=None, url=item.get("permalink"), is_own=True,
            raw=item,
        )

    def comment_mention(self, comment: dict[str, Any], media_id: str, url: str | None, *,
                        parent_id: str | None) -> Mention:
        return comment_mention(comment, media_id, url, parent_id=parent_id,
                               ig_user_id=self.ig_user_id, brand_handles=self.brand_handles)


def comment_mention(comment: dict[str, Any], media_id: str, url: str | None, *,
                    parent_id: str | None, ig_user_id: str,
                    brand_handles: Collection[str]) -> Mention:
    """A comment or reply in the Graph comment shape, whether polled or pushed by a webhook;
    the brand's own (its account id, or one of its handles, lower case) are context."""
    frm = comment.get("from") or {}
    handle = comment.get("username") or frm.get("username")
    author = Author(platform=Platform.INSTAGRAM,
                    external_id=str(frm.get("id") or handle_only_author_id(handle)),
                    handle=handle)
    is_own = author.external_id == ig_user_id or (
        author.handle is not None and author.handle.lower() in brand_handles)
    return Mention(
        platform=Platform.INSTAGRAM, external_id=str(comment["id"]),
        text=comment.get("text") or "", created_at=parse_time(comment["timestamp"]),
        author=author, thread_id=media_id, parent_id=parent_id or media_id, url=url,
        like_count=int(comment.get("like_count") or 0), is_own=is_own, raw=comment,
    )


SOURCES: dict[str, type[GraphSource]] = {"media": InstagramSource,
                                          "direct": InstagramDirectSource}
