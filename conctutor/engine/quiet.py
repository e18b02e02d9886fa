"""Quiet recordings: what their recorded code prints is dropped; other code prints as usual."""

from __future__ import annotations

import sys
import threading
from typing import Any

from .routing import current_collector


class _QuietStream:
    """``sys.stdout`` while a quiet recording is open: drops what its recorded code prints.

    Other code (another thread's recording, the notebook itself) prints as usual.
    """

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        collector = current_collector()
        if collector is not None and collector.quiet:
            return len(text)
        written: int = self.stream.write(text)
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


_quiet_count = 0
_quiet_lock = threading.Lock()


def quiet_begin() -> None:
    """A quiet recording opens here: from now on `sys.stdout` asks whose code prints."""
    global _quiet_count
    with _quiet_lock:
        _quiet_count += 1
        if sys.stdout is not None and not isinstance(sys.stdout, _QuietStream):
            sys.stdout = _QuietStream(sys.stdout)


def quiet_end() -> None:
    """Undo `quiet_begin`; the last quiet recording to end puts the plain `sys.stdout` back."""
    global _quiet_count
    with _quiet_lock:
        _quiet_count -= 1
        if _quiet_count == 0 and isinstance(sys.stdout, _QuietStream):
            sys.stdout = sys.stdout.stream


def quiet_for_good() -> None:
    """In a worker process: `sys.stdout` asks whose code prints from now on (a later job of a recording
    that is not quiet prints as usual)."""
    if not isinstance(sys.stdout, _QuietStream):
        quiet_begin()
