"""How a span's events and the sampler's view of its thread become drawn segments (`conctutor.engine.build._segments`).

Synthetic events and thread states, one table row per rule: the expected segments follow from the
rules, not from a run."""

from __future__ import annotations

import pytest

from conctutor.engine.assembly import RawSpan
from conctutor.engine.build import _segments
from conctutor.model import STATES, State, Status

MS = 1_000_000
RUNNING, READY, GIL, IO, WAITING = (STATES.index(s) for s in (State.RUNNING, State.READY, State.GIL, State.IO,
                                                              State.WAITING))


def calcula_span(runs: list[tuple[int, int]], end: int) -> RawSpan:
    """A task that saw itself running in `runs` (as calcula does), from 0 to `end` ns."""
    return RawSpan((1, 0), (1, 1), 0, end, end // 2, float("nan"), Status.OK, "", [], runs)


def sampled(*changes: tuple[int, State]) -> tuple[list[int], list[State | None]]:
    return [t for t, _ in changes], [state for _, state in changes]


@pytest.mark.parametrize(("states", "expected"), [
    # the sampler saw the thread runnable during the gap: it waited for a core
    (sampled((0, State.RUNNING)), [(0, 10, RUNNING), (10, 20, READY), (20, 30, RUNNING)]),
    # it saw the GIL, with its blurred edges still "running": the GIL all through the gap
    (sampled((0, State.RUNNING), (11 * MS, State.GIL), (19 * MS, State.RUNNING)),
     [(0, 10, RUNNING), (10, 20, GIL), (20, 30, RUNNING)]),
    # no sampler: the reason is unknown
    (None, [(0, 10, RUNNING), (10, 20, WAITING), (20, 30, RUNNING)]),
])
def test_a_gap_calcula_saw_in_its_own_running_takes_the_samplers_reason(states, expected):
    span = calcula_span([(0, 10 * MS), (20 * MS, 30 * MS)], 30 * MS)
    got = [(a // MS, b // MS, code) for a, b, code in _segments(span, 30 * MS, True, states)]
    assert got == expected


def test_a_coroutines_suspension_seen_running_stays_a_wait_of_unknown_reason():
    # the thread ran other asyncio tasks meanwhile: this task was not waiting for a core
    span = RawSpan((1, 0), (1, 1), 0, 30 * MS, 1 * MS, float("nan"), Status.OK, "",
                   [(10 * MS, 20 * MS, State.WAITING)], None)
    got = [(a // MS, b // MS, code) for a, b, code in _segments(span, 30 * MS, True, sampled((0, State.RUNNING)))]
    assert (10, 20, WAITING) in got


def test_a_reported_wait_keeps_its_reason_whatever_the_sampler_saw():
    span = RawSpan((1, 0), (1, 1), 0, 30 * MS, 1 * MS, float("nan"), Status.OK, "",
                   [(5 * MS, 25 * MS, State.IO)], None)
    got = [(a // MS, b // MS, code) for a, b, code in _segments(span, 30 * MS, True, sampled((0, State.RUNNING)))]
    assert (5, 25, IO) in got


def plain_span(start_ms: int, length_ms: float, cpu_share: float) -> RawSpan:
    """A bare @task span that reported nothing of itself, `cpu_share` of its length on the CPU."""
    start, length = start_ms * MS, round(length_ms * MS)
    return RawSpan((1, 0), (1, 1), start, start + length, round(cpu_share * length), float("nan"), Status.OK, "",
                   [], None)


@pytest.mark.parametrize(("length_ms", "cpu_share", "expected"), [
    # longer than CARRY_MIN_NS (25 ms): the state seen before the span holds where nothing changed
    (30, 0.9, IO),
    # shorter: the span began something new that the sampler, behind, may not have seen: as the events say
    (20, 0.9, RUNNING),
    # a span that used the CPU less than half its length mostly waited: the wait seen before holds
    # for pieces longer than CARRY_WAITING_MIN_NS (2 ms) ...
    (20, 0.1, IO),
    # ... and not for shorter ones
    (1, 0.1, RUNNING),
])
def test_the_state_seen_before_a_span_holds_only_past_the_thresholds(length_ms, cpu_share, expected):
    span = plain_span(100, length_ms, cpu_share)
    before = sampled((90 * MS, State.IO))  # the last change the sampler wrote came before the span
    stop = span.end_ns
    assert stop is not None
    (segment,) = _segments(span, stop, True, before)
    assert segment == (span.start_ns, stop, expected)
