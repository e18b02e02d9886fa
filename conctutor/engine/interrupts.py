"""Ctrl-C held back while a recording starts or closes, then delivered.

A ``KeyboardInterrupt`` can land between any two steps of Python code in the
main thread. Landing in the middle of starting or closing a recording, it
would leave a sampler process, a spool directory or an open recording behind.
So those steps run with SIGINT *held*: its handler replaced by one that only
notes it, and the original handler called once they are done (which raises
the ``KeyboardInterrupt`` the user asked for, a moment late).

`hold` is a C callable (a `functools.partial` of `signal.signal`), not a
Python function: the interpreter looks for pending signals when a Python
function starts, so a Python function that held the signal could still be
interrupted on its first step. Use it as::

    try:
        previous = interrupts.hold()
    except ValueError:  # not the main thread: no Ctrl-C lands here
        previous = interrupts.NOT_HELD
    try:
        ...  # starting or closing
    finally:
        interrupts.release(previous)  # may raise the held KeyboardInterrupt
"""

from __future__ import annotations

import functools
import signal
from types import FrameType
from typing import Any

_SIGINT = signal.SIGINT
_held: list[int] = []
"""Signals that arrived while held, not yet delivered."""


def _note(signum: int, frame: FrameType | None) -> None:
    _held.append(signum)


hold = functools.partial(signal.signal, _SIGINT, _note)
"""Hold SIGINT from now on; returns the handler to give to `release`. Raises ValueError outside the
main thread of the main interpreter, where Python delivers no signal anyway."""

NOT_HELD: Any = object()
"""What to give `release` when `hold` could not be called."""


def release(previous: Any) -> None:
    """Put the handler `hold` replaced back, and call it if a SIGINT arrived meanwhile."""
    if previous is NOT_HELD:
        return
    # None: a handler installed outside Python, which cannot be put back; Python's own is the closest
    handler = previous if previous is not None else signal.default_int_handler
    signal.signal(_SIGINT, handler)
    if _held:
        _held.clear()
        if callable(handler):
            handler(_SIGINT, None)
