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
