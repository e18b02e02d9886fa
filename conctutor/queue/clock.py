"""The clocks of a task queue's machines: which processes share ours, and how far another machine's is.

Processes on this machine (one boot of one kernel) compare ``perf_counter_ns``
readings directly: `clock_identity` names that clock. A worker on another
machine has another clock: `measure_clock_offsets` estimates its wall clock's
offset NTP-style (a control command, `conctutor_clock`, returns the worker's
``time.time_ns()``; offset = worker time − midpoint of the round trip, error
≤ half the round trip), and `conctutor.queue.records.read_records` uses it.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import celery
from celery.worker.control import control_command

CLOCK_OFFSET_VARIABLE = "CONCTUTOR_TEST_CLOCK_OFFSET_NS"
"""Tests only: nanoseconds added to every clock reading a worker records, and
the worker then claims to be another machine. Simulates a worker whose clock
is off."""


def _read_boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as file:
            return file.read().strip()
    except OSError:
        return ""


BOOT_ID = _read_boot_id()
"""This boot of this machine's kernel ("" where the system does not say)."""


def _test_offset_ns() -> int:
    raw = os.environ.get(CLOCK_OFFSET_VARIABLE, "").strip()
    try:
        return int(raw) if raw else 0
    except ValueError:
        return 0


def clock_identity() -> str:
    """Names this machine's monotonic clock: processes that share it compare
    ``perf_counter_ns`` readings directly (on Linux, one boot of one kernel)."""
    identity = f"{socket.gethostname()}/{BOOT_ID}"
    offset = _test_offset_ns()
    return f"{identity}+{offset}ns" if offset else identity


def wall_minus_perf_ns(tries: int = 5, perf: Callable[[], int] = time.perf_counter_ns,
                       wall_clock: Callable[[], int] = time.time_ns) -> int:
    """``time_ns() - perf_counter_ns()`` in this process, from the tightest of a few brackets of
    ``perf, wall, perf``: a pair read once is off by however long the thread was preempted between
    its two reads."""
    best_width, best = None, 0
    for _ in range(tries):
        before = perf()
        wall = wall_clock()
        after = perf()
        if best_width is None or after - before < best_width:
            best_width, best = after - before, wall - (before + after) // 2
    return best


def now() -> tuple[int, int]:
    """(perf_counter_ns, time_ns) of this process, with the test offset added."""
    offset = _test_offset_ns()
    return time.perf_counter_ns() + offset, time.time_ns() + offset


@control_command()
def conctutor_clock(state: Any, **_: Any) -> dict:
    """Worker control command: this machine's clock, for `measure_clock_offsets`."""
    perf, wall = now()
    return {"time_ns": wall, "perf_ns": perf, "clock": clock_identity()}


class ClockOffset(NamedTuple):
    """How far a worker machine's wall clock is from ours: worker − producer."""

    hostname: str
    clock: str
    offset_ns: int
    error_ns: int
    """Bound on the error: half the shortest round trip of the samples."""
    rtt_ns: int


def measure_clock_offsets(app: celery.Celery, hostnames: Iterable[str] | None = None, *, samples: int = 7,
                          timeout: float = 2.0) -> dict[str, ClockOffset]:
    """Estimate each running worker's wall-clock offset from ours, NTP-style.

    For each worker, `samples` times: note our time, ask the worker for its
    ``time_ns`` (a control command), note our time again. The worker read its
    clock somewhere inside that round trip, so offset = its time − our
    midpoint, wrong by at most half the round trip; the sample with the
    shortest round trip wins. `hostnames` (for example ``group.hostnames``)
    saves asking every worker first, which waits `timeout` for answers.
    Returns ``{hostname: ClockOffset}``.
    """
    if hostnames is None:
        found = app.control.broadcast("conctutor_clock", reply=True, timeout=timeout)
        hosts = sorted({name for reply in found or [] for name in reply})
    else:
        hosts = list(hostnames)
    result: dict[str, ClockOffset] = {}
    for host in hosts:
        best: ClockOffset | None = None
        for _ in range(samples):
            perf0 = time.perf_counter_ns()
            wall0 = perf0 + wall_minus_perf_ns()
            replies = app.control.broadcast("conctutor_clock", reply=True, destination=[host],
                                            limit=1, timeout=timeout)
            rtt = time.perf_counter_ns() - perf0
            answer = next((reply[host] for reply in replies or [] if host in reply), None)
            if not isinstance(answer, dict) or "time_ns" not in answer:
                continue
            offset = answer["time_ns"] - (wall0 + rtt // 2)
            if best is None or rtt < best.rtt_ns:
                best = ClockOffset(host, answer.get("clock", ""), offset, rtt // 2 + 1, rtt)
        if best is not None:
            result[host] = best
    return result
