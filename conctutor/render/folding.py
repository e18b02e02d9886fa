"""Folding lanes: a run with more lanes than a figure can show draws bands instead.

Ten thousand asyncio tasks are ten thousand lanes: no screen shows them, and
matplotlib spends seconds on their labels alone. So, above `FOLD_ABOVE` rows,
lanes are grouped by the worker that ran them, one level at a time until the
rows fit:

1. the asyncio tasks of one thread become one band;
2. the threads of one process (and their tasks) become one band; a task
   queue's rows of waiting messages become one, and its workers another;
3. the threads of all the worker processes become one band.

A band is drawn `BAND_WEIGHT` lanes tall and shows, over time, how many of its
tasks were running, waiting (by reason) or already done (`band_counts`). A lane
where a task failed, or that the student named (an asyncio task given a
``name=``, a thread given a ``name=``, the main thread), keeps a row of its own,
`KEEP_AT_MOST` of them at most. ``plot(lanes="all")`` folds nothing.

Everything here is numbers and grouping; the words are `labels` and `words`'.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ..engine.model import Lane, LaneRole

FOLD_ABOVE = 100
"""More rows than this are folded: at the tallest figure, a lane would be under about 8 pixels."""
KEEP_AT_MOST = 20
"""Lanes that keep a row of their own among folded ones (failed tasks first, then named ones)."""
BAND_WEIGHT = 3
"""A band is this many lanes tall."""

_DEFAULT_TASK_NAME = re.compile(r"Task-\d+")
# threading's own names: "Thread-3", "Thread-3 (alvo)", "Dummy-1", a ThreadPoolExecutor's "ThreadPoolExecutor-0_1"
# and asyncio's default executor's "asyncio_0" (a pool given a thread_name_prefix was named by the program)
_DEFAULT_THREAD_NAME = re.compile(r"(?:Thread-\d+(?: \(.*\))?|Dummy-\d+|ThreadPoolExecutor-\d+_\d+|asyncio_\d+)")


class Row(NamedTuple):
    """One row of the figure: a lane, or a band of several folded lanes."""

    lanes: tuple[int, ...]
    """The timeline's lane indices drawn in it, in drawing order."""
    band: bool
    key: tuple = ()
    """What its lanes share (``("tasks", pid, interpreter, thread id)``, ``("threads", pid, interpreter)``,
    ``("processes",)``, ``("queue",)``, ``("workers",)``); empty for a lane."""


def named(lane: Lane) -> bool:
    """Whether the student gave this lane's task or thread a name of their own."""
    if lane.role != LaneRole.THREAD:
        return False
    if lane.task:
        return not _DEFAULT_TASK_NAME.fullmatch(lane.task)
    return lane.main_thread or not _DEFAULT_THREAD_NAME.fullmatch(lane.thread_name)


def _key(lane: Lane, level: int, main_pid: int) -> tuple:
    """The group `lane` folds into at `level` (1-3), or ``()`` where it stays a lane of its own."""
    if lane.role == LaneRole.QUEUE:
        return ("queue",) if level >= 2 else ()
    if lane.role == LaneRole.WORKER:
        return ("workers",) if level >= 2 else ()
    if level == 1:
        return ("tasks", lane.pid, lane.interpreter, lane.thread_id) if lane.task else ()
    if level == 3 and lane.pid != main_pid:
        return ("processes",)
    return ("threads", lane.pid, lane.interpreter)


def fold_rows(lanes: Sequence[Lane], used: Sequence[int], failed: set[int], main_pid: int,
              mode: str = "auto") -> list[Row]:
    """The rows for the lanes `used` (in drawing order): one per lane, or folded (module docstring).

    `failed`: the lanes where a task raised.
    """
    if mode == "all" or len(used) <= FOLD_ABOVE:
        return [Row((lane,), False) for lane in used]
    kept = [lane for lane in used if lane in failed]
    kept += [lane for lane in used if lane not in failed and named(lanes[lane])]
    keep = set(kept[:KEEP_AT_MOST])
    rows: list[Row] = []
    for level in (1, 2, 3):
        groups: dict[tuple, list[int]] = {}
        order: list[tuple] = []  # a lane's own row is keyed by its index
        for lane in used:
            key = () if lane in keep else _key(lanes[lane], level, main_pid)
            key = key or ("lane", lane)
            if key not in groups:
                groups[key] = []
                order.append(key)
            groups[key].append(lane)
        rows = [Row(tuple(groups[key]), True, key) if key[0] != "lane" and len(groups[key]) > 1
                else Row(tuple(groups[key]), False) for key in order]
        if len(rows) <= FOLD_ABOVE:
            break
    return rows


def row_geometry(rows: Sequence[Row]) -> tuple[np.ndarray, np.ndarray, float]:
    """Each row's centre and half height, in lane units (a lane's centre is at its index when nothing
    is folded), and the rows' total height."""
    weights = np.array([BAND_WEIGHT if row.band else 1 for row in rows], dtype=float)
    tops = np.concatenate(([0.0], np.cumsum(weights)))
    centres = (tops[:-1] + tops[1:]) / 2 - 0.5
    return centres, weights / 2, float(tops[-1])


def _mean_count(starts: np.ndarray, ends: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """How many of the intervals [starts, ends] were open, on average, in each bin between `edges`.

    Through the integral F(t) = Σ |[s, e] ∩ [0, t]|, which sorted ends and starts give at every edge
    at once: no loop over intervals, exact whatever their number.
    """
    def integral(points: np.ndarray) -> np.ndarray:  # Σ max(0, t - p) for every edge t
        points = np.sort(points)
        before = np.searchsorted(points, edges, side="right")
        sums = np.concatenate(([0.0], np.cumsum(points)))
        return before * edges - sums[before]

    covered = integral(starts) - integral(ends)
    return np.diff(covered) / np.maximum(np.diff(edges), 1e-12)


class BandCounts(NamedTuple):
    states: np.ndarray
    """(states, bins): how many of the band's tasks were in each state (the model's state codes, in
    order), on average over each bin."""
    done: np.ndarray
    """(bins,): how many had ended."""
    total: int
    """Tasks (spans) folded into the band."""


def band_counts(edges: np.ndarray, n_states: int, span_start: np.ndarray, span_end: np.ndarray,
                seg_start: np.ndarray, seg_end: np.ndarray, seg_state: np.ndarray) -> BandCounts:
    """The stacked counts one band draws, from the spans folded into it and their segments."""
    states = np.zeros((n_states, len(edges) - 1))
    for code in np.unique(seg_state).tolist():
        pick = seg_state == code
        states[code] = _mean_count(seg_start[pick], seg_end[pick], edges)
    done = _mean_count(span_end, np.full(len(span_end), edges[-1] + 1.0), edges)
    return BandCounts(states, done, len(span_start))
