"""The knowledge base: markdown articles named by `[knowledge] paths` (glob patterns relative
to the configuration file's folder) that suggestions quote and link.

An article may start with front matter between `---` lines, `key: value` each:
`title`, `url` (the link customers get; default the file's path), `summary` (the short
answer; default the first paragraph), `topics` (`[Lost Luggage, Damaged Luggage]`) and
`lang`. A pattern that matches no file, or a file that cannot be read as UTF-8 text, is a
configuration error (`KnowledgeError`, one line), so a typo in `paths` is found at once
instead of silently giving no suggestions.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MARKS = re.compile(r"(\*\*|__|[*`]|^>\s?|^\s*[-+*]\s+|^\s*\d+\.\s+)", re.MULTILINE)


class KnowledgeError(ValueError):
    """A `[knowledge] paths` entry that matches nothing, or an article that cannot be read."""


@dataclass(frozen=True, slots=True)
class Article:
    """One knowledge-base article, as suggestions use it."""

    title: str
    summary: str
    link: str
    body: str
    topics: tuple[str, ...] = ()
    lang: str = ""


def _plain(markdown: str) -> str:
    """Markdown as the text a customer reads in a reply: links as their words, no marks."""
    return " ".join(_MARKS.sub("", _LINK.sub(r"\1", markdown)).split())


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}, text
    for end, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            meta: dict[str, str] = {}
            for entry in lines[1:end]:
                key, sep, value = entry.partition(":")
                if sep and key.strip():
                    meta[key.strip().lower()] = value.strip().strip("\"'")
            return meta, "\n".join(lines[end + 1:])
    return {}, text


def _list(value: str) -> tuple[str, ...]:
    items = value.strip().removeprefix("[").removesuffix("]").split(",")
    return tuple(item.strip().strip("\"'") for item in items if item.strip().strip("\"'"))


def parse_article(text: str, *, default_link: str, default_title: str) -> Article:
    """An article from its markdown (front matter optional)."""
    meta, body = _front_matter(text)
    title = meta.get("title", "")
    paragraphs: list[str] = []
    for block in re.split(r"\n\s*\n", body):
        block = block.strip()
        if not block:
            continue
        if block.startswith("#"):
            heading, _, rest = block.partition("\n")
            title = title or heading.lstrip("#").strip()
            block = rest.strip()
            if not block:
                continue
        paragraphs.append(_plain(block))
    summary = _plain(meta["summary"]) if meta.get("summary") else next(iter(paragraphs), "")
    return Article(title=title or default_title, summary=summary,
                   link=meta.get("url") or default_link, body=" ".join(paragraphs),
                   topics=_list(meta.get("topics", "")), lang=meta.get("lang", ""))


def _files(patterns: Sequence[str], base: Path) -> list[Path]:
    found: dict[Path, None] = {}
    for index, pattern in enumerate(patterns):
        full = pattern if os.path.isabs(pattern) else str(base / pattern)
        matched = sorted(Path(p) for p in glob.glob(full, recursive=True))
        files = [p for p in matched if not p.is_dir()]
        if not files:
            raise KnowledgeError(f"knowledge.paths[{index}]: {pattern!r} matches no file "
                                 f"(patterns are relative to {base})")
        found.update(dict.fromkeys(files))
    return list(found)


def _read(path: Path, base: Path) -> Article:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise KnowledgeError(f"knowledge: {path}: not UTF-8 text") from None
    except OSError as exc:
        raise KnowledgeError(f"knowledge: {path}: cannot read: "
                             f"{exc.strerror or type(exc).__name__}") from None
    try:
        link = path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        link = str(path)
    return parse_article(text, default_link=link, default_title=path.stem.replace("-", " "))


_CACHE: dict[tuple[object, ...], tuple[Article, ...]] = {}


def load_articles(patterns: Sequence[str], base: Path) -> tuple[Article, ...]:
    """Every article the patterns name (each file once, in pattern order), read again only
    when a file's modification time or size changes. KnowledgeError with one line when a
    pattern matches no file or a file cannot be read."""
    if not patterns:
        return ()
    files = _files(patterns, base)
    try:
        stamps = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    except OSError as exc:
        raise KnowledgeError(f"knowledge: cannot read: {exc.strerror or exc}") from None
    key = (str(base), *stamps)
    cached = _CACHE.get(key)
    if cached is None:
        cached = tuple(_read(path, base) for path in files)
        _CACHE.clear()  # one configuration per process: keep only the current set
        _CACHE[key] = cached
    return cached


def knowledge_base_dir(config_path: Path | None) -> Path:
    """Where `[knowledge] paths` are resolved: the configuration file's folder, or the
    working directory when there is no file."""
    return (config_path.parent if config_path is not None else Path.cwd()).resolve()
