"""The library's own error type.

Every problem caused by user input (a bad path, a bad config value, an unreadable
dataset) is raised as :class:`GanhacksError` with a one-sentence message that says
what was wrong and what to do. The CLI prints that sentence without a traceback.
"""

from __future__ import annotations


class GanhacksError(Exception):
    """A user-facing error: its message is one sentence, what was wrong and what to do."""


class ConfigError(GanhacksError):
    """An invalid configuration key or value."""


class DataError(GanhacksError):
    """A dataset that cannot be found, read or used."""
