"""The export commands' flags, checked before the database is opened: a bad value stops the
command with one line naming the flag (exit 2), and nothing is created."""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path

from carewatch.cli.common import UsageError, acting_as, check_out_path
from storage.export import PLATFORMS
from storage.export_files import iso


def parse_time(value: str | None, flag: str) -> datetime | None:
    """`2026-11-01`, `2026-11-01T10:00:00Z`, `...+02:00` → aware UTC datetime; naive = UTC."""
    if value is None or value == "":
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            moment = datetime.combine(datetime.strptime(text, "%Y-%m-%d").date(), time())
        else:
            moment = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        raise UsageError(
            f"{flag}: {value!r} is not an ISO 8601 date or time "
            "(e.g. 2026-11-01 or 2026-11-01T10:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00, 9999-12-31T23:00-05:00
        raise UsageError(f"{flag}: {value!r} is out of range (years 1 to 9999 in UTC)") from None


def parse_platform(value: str | None, flag: str = "--platform") -> str | None:
    if value is None or value == "":
        return None
    name = value.strip().lower()
    if name not in PLATFORMS:
        raise UsageError(f"{flag}: unknown platform {value!r} (one of {', '.join(PLATFORMS)})")
    return name


def parse_format(value: str | None, out_path: str | None, allowed: Sequence[str],
                 flag: str = "--format") -> str:
    """The format named by `--format`, or else the one the output file's suffix implies."""
    if value:
        fmt = value.strip().lower()
        if fmt not in allowed:
            raise UsageError(f"{flag}: unknown format {value!r} (one of {'|'.join(allowed)})")
        return fmt
    suffix = Path(out_path).suffix.lower().lstrip(".") if out_path else ""
    if suffix in allowed:
        return suffix
    raise UsageError(f"{flag} is required (one of {'|'.join(allowed)})")


def check_range(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and since >= until:
        raise UsageError(
            f"--since ({iso(since)}) must be before --until ({iso(until)}); until is exclusive"
        )


def export_actor(as_user: str | None) -> str:
    """Who the audit log names for an export: `--as USER`, else the operating-system user."""
    if as_user and as_user.strip():
        return acting_as(as_user.strip())
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment and no passwd entry
        return f"uid:{os.getuid()}"


@dataclass(frozen=True, slots=True)
class ExportFlags:
    """The export flags, checked and typed (`platform` is None when not narrowed)."""

    fmt: str
    path: Path
    since: datetime | None
    until: datetime | None
    platform: str | None = None

    def audit_details(self) -> dict[str, str | None]:
        """The export's filters as the audit log keeps them (times in ISO 8601 UTC)."""
        return {"format": self.fmt, "since": iso(self.since), "until": iso(self.until),
                "platform": self.platform, "include_private": "yes"}


def export_flags(fmt: str | None, out: str | None, since: str | None, until: str | None,
                 allowed: Sequence[str], platform: str | None = None) -> ExportFlags:
    """Check `--format`, `--since`, `--until`, `--platform` and `--out` in that order; the
    first bad one raises `UsageError`."""
    kind = parse_format(fmt, out, allowed)
    start, end = parse_time(since, "--since"), parse_time(until, "--until")
    check_range(start, end)
    plat = parse_platform(platform)
    return ExportFlags(fmt=kind, path=check_out_path(out), since=start, until=end,
                       platform=plat)
