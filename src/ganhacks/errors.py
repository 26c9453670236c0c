"""The library's own error type.

Every problem caused by user input (a bad path, a bad config value, an unreadable
dataset) is raised as :class:`GanhacksError` with a one-sentence message that says
what was wrong and what to do. The CLI prints that sentence without a traceback.
"""

from __future__ import annotations


def one_line(text: str) -> str:
    """``text`` with control characters (newlines, tabs, escapes) written as escapes, so a message that
    quotes user input stays one line and cannot move the terminal's cursor."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class GanhacksError(Exception):
    """A user-facing error: its message is one sentence, what was wrong and what to do. User text quoted
    in it cannot break it over lines (see :func:`one_line`)."""

    def __init__(self, message: object = "", *args: object):
        super().__init__(one_line(str(message)), *args)


class ConfigError(GanhacksError):
    """An invalid configuration key or value."""


class DataError(GanhacksError):
    """A dataset that cannot be found, read or used."""


class DiskFull(GanhacksError):
    """A write that the disk (or a quota) had no room for; nothing partial was left behind."""


# ENOSPC: no space left on the device; EDQUOT: the user's quota is used up (not defined on every OS).
def is_disk_full(e: BaseException) -> bool:
    """True for an OSError that says the disk or the quota is full."""
    import errno

    codes = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
    return isinstance(e, OSError) and e.errno in codes


def free_space(path: object) -> str:
    """The free space on the disk holding ``path`` (or its nearest existing parent), for messages."""
    import shutil
    from pathlib import Path

    p = Path(str(path))
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return human_bytes(shutil.disk_usage(p).free)
    except OSError:
        return "unknown"


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover
