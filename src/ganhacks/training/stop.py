"""Stops that users and clusters make: Ctrl-C (SIGINT) and pre-emption (SIGTERM).

The first signal only asks for a stop. The loop notices it between two steps, finishes that step,
writes a checkpoint and raises :class:`Stopped`, whose message says how to continue; the command
exits 130 (SIGINT) or 143 (SIGTERM), as shells and schedulers expect. A second Ctrl-C raises
KeyboardInterrupt at once: if that lands inside the checkpoint's write, the atomic write leaves the
previous checkpoint as it was, so the run still resumes from there.

Ablation workers share the request through :func:`share`: the main process's handler sets it and
every run in flight stops at its next step, with its checkpoint.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

_requested: int | None = None
_shared: Any = None  # a multiprocessing RawValue('i') holding the signal number, shared with workers
active_run: Any = None  # the folder of the run training in this process, for a second Ctrl-C's message

NAMES = {signal.SIGINT: "Ctrl-C (SIGINT)", signal.SIGTERM: "SIGTERM"}
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal's number


class Stopped(Exception):
    """A run (or an ablation) stopped on request, with its work saved; ``str()`` says how to go on."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.signum, 128 + int(self.signum))


def requested() -> int | None:
    """The signal that asked for a stop, or None."""
    if _requested is not None:
        return _requested
    if _shared is not None and _shared.value:
        return int(_shared.value)
    return None


def request(signum: int) -> None:
    """Ask every loop in this process (and, through :func:`share`, in the workers) to stop."""
    global _requested
    _requested = int(signum)
    if _shared is not None:
        _shared.value = int(signum)


def share(value: Any) -> None:
    """Read (and write) stop requests through ``value``, a RawValue('i') the processes share."""
    global _shared
    _shared = value


def reset() -> None:
    global _requested
    _requested = None
    if _shared is not None:
        _shared.value = 0


def name(signum: int) -> str:
    return NAMES.get(signum, f"signal {signum}")


def _record(signum: int, frame: Any) -> None:
    request(signum)


def _record_or_interrupt(signum: int, frame: Any) -> None:
    if signum == signal.SIGINT and requested() is not None:  # a second Ctrl-C: stop now
        raise KeyboardInterrupt
    request(signum)


def install_in_worker() -> None:
    """For the life of an ablation's pool process: SIGINT and SIGTERM only record a stop request.

    The terminal's Ctrl-C and ``timeout``'s or a scheduler's SIGTERM reach every process of the group;
    the main process decides, and a KeyboardInterrupt or a default handler in a worker would break the
    pool. Not :func:`on_signals`: a context manager entered and then dropped is closed when it is
    collected, which put the default handlers back at once."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, _record)


@contextlib.contextmanager
def on_signals() -> Iterator[None]:
    """While inside: SIGINT and SIGTERM ask for a stop instead of killing the process.

    A second Ctrl-C raises KeyboardInterrupt at once. Outside the main thread, where Python cannot
    install handlers, this does nothing. (An ablation's pool processes use :func:`install_in_worker`.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, _record_or_interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        reset()
