"""How much pure-Python work this machine does per second on one core.

`calcula(segundos)` does a *fixed amount of work*: ``segundos`` times the rate
measured here. The rate is measured once per machine and interpreter and kept
in a small JSON file (``~/.cache/conctutor/calibration.json``, or
``$CONCTUTOR_CACHE_DIR``); importing conctutor never measures, and the first
`calcula` of a process only checks quickly that the machine still runs at the
cached rate (worker processes are sent the rate and check nothing).
"""

from __future__ import annotations

import os
import sys
import threading
import time

# json, platform and tempfile are imported where the cache is read or written:
# a worker process that is sent the rate never needs them (it imports this module).

TRIAL_ITERATIONS = 100_000
TRIALS = 7
QUICK_TRIALS = 3
"""Trials of the check that a cached rate still holds (about 30 ms)."""
STALE_TOLERANCE = 0.15
"""A cached rate more than this far (15 %) from the quick check is measured again."""

_rate: float | None = None
_measuring = threading.Lock()
"""One thread measures; the others wait for its result (measuring side by side, under the GIL,
would halve every trial and cache a wrong rate)."""


def _new_lock_in_child() -> None:
    global _measuring
    _measuring = threading.Lock()  # one held by another thread at the fork would stay held in the child


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_in_child)


WORK_UNIT = "v3"
"""Names the unit of work in the cache: a new unit needs a new measurement."""


def spin(iterations: int, x: int = 1) -> int:
    """The unit of CPU-bound work: integer arithmetic in a pure-Python loop.

    Every iteration costs the same (no value grows with the loop counter), so
    the work runs equally fast in one long loop or in short chunks.
    """
    # A local, not the constant in the loop: without the GIL, threads running this same code
    # contended for the shared constant (its reference count, as in python/cpython#118527), and
    # two threads took 1.3x one's time instead of 1x on 3.14t, when this module was imported.
    modulus = 1_000_003
    for _ in range(iterations):
        x = (x * 31 + 7) % modulus
    return x


def measure(trials: int = TRIALS) -> float:
    """Iterations per second of `spin`, best of several short trials.

    The best trial is the one least disturbed by other programs, which is the
    closest to "running alone on one core".
    """
    best = float("inf")
    for _ in range(trials):
        started = time.perf_counter()
        spin(TRIAL_ITERATIONS)
        best = min(best, time.perf_counter() - started)
    return TRIAL_ITERATIONS / best


def cache_path() -> str:
    base = os.environ.get("CONCTUTOR_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "conctutor"
    )
    return os.path.join(base, "calibration.json")


def _machine_key() -> str:
    gil = "nogil" if getattr(sys, "_is_gil_enabled", lambda: True)() is False else "gil"
    import platform

    parts = (platform.node(), platform.machine(), sys.implementation.cache_tag or "", sys.version, gil, WORK_UNIT)
    return "|".join(parts)


def _read_cache() -> dict:
    try:
        with open(cache_path(), encoding="utf-8") as cache:
            import json

            data = json.load(cache)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_cache(data: dict) -> None:
    path = cache_path()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        import json
        import tempfile

        handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1)
        os.replace(temporary, path)
    except OSError:
        pass  # a read-only home only costs a re-measurement next time


def iterations_per_second() -> float:
    """The calibrated rate: from memory, else from the cache file, else measured now."""
    global _rate
    if _rate is not None:
        return _rate
    with _measuring:
        if _rate is not None:
            return _rate
        data = _read_cache()
        cached = data.get(_machine_key(), {}).get("iterations_per_second")
        # A virtual machine's speed drifts (other tenants, power limits): a quick check keeps
        # a stale rate from making calcula(1.0) take 1.5 s.
        if isinstance(cached, (int, float)) and cached > 0 and \
                abs(measure(QUICK_TRIALS) / cached - 1) <= STALE_TOLERANCE:
            _rate = float(cached)
        else:
            _rate = measure()
            data[_machine_key()] = {"iterations_per_second": _rate, "measured": time.strftime("%Y-%m-%d %H:%M:%S")}
            _write_cache(data)
    return _rate


def recalibrate() -> float:
    """Measure again (after a hardware change, or on a quieter machine) and cache it."""
    global _rate
    _rate = None
    data = _read_cache()
    data.pop(_machine_key(), None)
    _write_cache(data)
    return iterations_per_second()


def known_rate() -> float | None:
    """The rate if this process already knows it (never measures)."""
    return _rate


def adopt(rate: float) -> None:
    """In a worker process: use the rate measured by the process that sent the task."""
    global _rate
    _rate = rate
