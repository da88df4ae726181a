"""Filling a reply template for one mention: `{first_name}`, `{handle}`, `{agent}`,
`{case_id}`.

One place for it because canned replies are filled in three ways (the CLI's `--canned`, the
dashboard's canned picker and reply suggestions), and an agent must see the same text in
each.
"""

from __future__ import annotations

import string

from carewatch.platforms import spec_for
from carewatch.settings import ConfigError, Settings
from responders.rules import RuleViolation
from storage.models import Mention

PLACEHOLDERS = ("first_name", "handle", "agent", "case_id")


def check_template(text: str) -> None:
    """RuleViolation (one line) for a broken or unknown placeholder."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
    except ValueError as exc:
        raise RuleViolation(f"canned reply has a broken placeholder: {exc}") from None
    for name in fields:
        if name not in PLACEHOLDERS:
            known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            raise RuleViolation(f"unknown placeholder {{{name}}} in canned reply (use {known})")


def check_configured_templates(settings: Settings) -> None:
    """ConfigError naming the key for a `[[canned_replies]]` text with a broken or unknown
    placeholder: a bad file is refused before anything is written (it used to surface as a
    traceback from `init`, after the schema was created)."""
    for index, item in enumerate(settings.canned_replies):
        try:
            check_template(item.text)
        except RuleViolation as exc:
            raise ConfigError(f"canned_replies[{index}].text: {exc}") from None


def placeholder_values(mention: Mention, agent: str) -> dict[str, str]:
    """The values for `mention` (its author loaded): the first word of the author's name
    (or "there"), the handle as the platform writes it (the name where the platform has no
    handles), the agent, and the case id CW-<mention id>."""
    author = mention.author
    handle = (author.handle if author else None) or ""
    full = ((author.name if author else None) or handle).strip()
    spec = spec_for(mention.platform)
    return {
        "first_name": full.split()[0] if full.split() else "there",
        "handle": spec.format_handle(handle) if handle and spec.handle_format
        else (full or "there"),
        "agent": agent,
        "case_id": f"CW-{mention.id}",
    }


def fill(text: str, mention: Mention, agent: str) -> str:
    """`text` with its placeholders filled for `mention` (RuleViolation when broken)."""
    check_template(text)
    return text.format_map(placeholder_values(mention, agent))
