"""Which interpreter of this process runs this code: 0 for the main one, another id in a subinterpreter.

Each interpreter (`concurrent.interpreters`, Python 3.14; PEP 554/734) imports its
own copy of conctutor, so every counter of ids starts again in it. Ids that a
recording keys by process (tasks, lanes, worker sinks) start at `ID_BASE` in a
subinterpreter, so they never meet the main interpreter's or another's.
"""

from __future__ import annotations


def _current_interpreter() -> int:
    try:
        import _interpreters  # 3.13+
    except ImportError:
        return 0
    current = _interpreters.get_current()
    return int(current[0] if isinstance(current, tuple) else current)


INTERPRETER_ID = _current_interpreter()
IN_SUBINTERPRETER = INTERPRETER_ID != 0
ID_BASE = (INTERPRETER_ID % 4096) << 20
"""Where ids start in this interpreter: 2**20 ids each, within the 32 bits a worker's records keep."""

_state_address: int | None = None


def own_gil_address() -> int:
    """Where this subinterpreter's state lies in memory, with its own GIL near its start (0: unknown,
    or the main interpreter, whose GIL the sampler finds by itself).

    A subinterpreter's GIL is part of its state, which is allocated on the heap; the sampler
    (`conctutor.engine.sidecar`) tells a wait for it from a wait for a lock by this address.
    """
    global _state_address
    if _state_address is None:
        _state_address = 0
        if IN_SUBINTERPRETER:
            try:
                import ctypes

                get = ctypes.pythonapi.PyInterpreterState_Get
                get.restype = ctypes.c_void_p
                _state_address = int(get() or 0)
            except (ImportError, AttributeError, OSError):  # no ctypes in this build or this interpreter
                pass
    return _state_address
