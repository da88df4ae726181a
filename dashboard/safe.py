"""Showing other people's text safely.

Everything a mention carries (text, handle, name, the post it answers) was written by someone
outside the company. Streamlit's markdown renders links, images, `$math$`, `:emoji:`
shortcodes, `:red[colour]` directives and bare URLs; none of that may come alive from a
mention. The dashboard therefore shows mention text with `st.text` and dataframe cells, and
only when a markdown element is unavoidable (labels, captions) passes it through `plain()`.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from carewatch.settings import webhook_label

# Every ASCII punctuation character may be backslash-escaped in CommonMark, which turns it
# into a literal character: no emphasis, links, images, HTML tags, entities, tables or math.
_MD_PUNCT = re.compile(r"([!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])")
_ZWSP = "\u200b"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPREADSHEET_START = ("=", "+", "-", "@", "\t", "\r")


def plain(text: object, *, max_len: int | None = None) -> str:
    """`text` made inert for any Streamlit markdown element: it displays as the same
    characters, and nothing in it becomes markup, a link, an image, math, an emoji or HTML.

    - ASCII punctuation is backslash-escaped (`<img ...>`, `[x](javascript:...)`, `**b**`,
      `$m$`, `&lt;` entities, tables, headings all stay literal);
    - a zero-width space after every `:` and `/`, so `:emoji:` / `:red[..]` shortcodes and
      bare `https://` or `www.` autolinks are never recognised;
    - control characters are dropped, line breaks kept as markdown hard breaks, and leading
      spaces made non-breaking so indentation never becomes a code block.
    """
    value = "" if text is None else str(text)
    value = _CONTROL.sub("", value)
    if max_len is not None and len(value) > max_len:
        value = value[: max_len - 1] + "…"
    lines = value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    for line in lines:
        stripped = line.lstrip(" \t")
        indent = "\u00a0" * (len(line) - len(stripped))
        escaped = _MD_PUNCT.sub(r"\\\1", stripped)
        escaped = escaped.replace("\\:", "\\:" + _ZWSP).replace("\\/", "\\/" + _ZWSP)
        escaped = escaped.replace("www\\.", "www" + _ZWSP + "\\.")
        out.append(indent + escaped)
    return "  \n".join(out)


def has_control_characters(text: str) -> bool:
    """Whether `text` holds an invisible control character (NUL, escape, ...; line breaks
    and tabs are fine): pasted in by accident, refused by PostgreSQL or sent unseen."""
    return _CONTROL.search(text) is not None


def one_line(text: object, max_len: int = 140) -> str:
    """Raw text on one line, shortened; for `st.text` and dataframe cells (never markdown)."""
    value = "" if text is None else str(text)
    value = _CONTROL.sub("", value)
    value = " ".join(value.split())
    return value if len(value) <= max_len else value[: max_len - 1] + "…"


def cell(text: object, max_len: int = 500) -> str:
    """A dataframe cell: plain text (the grid renders it literally), shortened. A text that
    would run as a spreadsheet formula when copied out of the grid (`=...`, or `+ - @`
    followed by a call) gets a leading apostrophe; ordinary `@handles` stay as they are."""
    value = one_line(text, max_len)
    if value.startswith(("=", "\t", "\r")) or (
            value.startswith(_SPREADSHEET_START) and "(" in value):
        return "'" + value
    return value


def mask_secret(value: object) -> str:
    """A secret shown only as whether it is set: never any of its characters."""
    if value is None:
        return "(not set)"
    raw = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return "•••••••• (set)" if raw else "(not set)"


def mask_url(url: str | None) -> str:
    """An API base URL with any user, password and query string (tokens travel there)
    removed: scheme, host, port and path only."""
    if not url:
        return ""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    query = "?***" if parts.query else ""
    return urlunsplit((parts.scheme, host + port, parts.path, "", "")) + query


def mask_webhook(url: str | None) -> str:
    """A notification webhook as the dashboard shows it: host and digest, never the path
    (Slack keeps its secret there); the same form the logs use."""
    return webhook_label(url) if url else ""
