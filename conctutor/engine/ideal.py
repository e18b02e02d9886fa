"""The ideal time of a run: the shortest time its tasks could take on its machine's cores.

The larger of the critical path (each task taking its own length, after the
tasks it needs, `Timeline.needs`) and the CPU work divided by the cores.
Waiting needs no core; computing does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .model import STATES, STATUSES, Kind, State, Status

if TYPE_CHECKING:
    from .timeline import Timeline

_STATUS = {status: code for code, status in enumerate(STATUSES)}
_STATE = {state: code for code, state in enumerate(STATES)}
NOT_OWN_WORK = np.array([_STATE[State.GIL], _STATE[State.READY]])
"""States that do not count in a measured task's own length: it was held back by others."""


def queued_count(timeline: Timeline) -> int:
    """Spans that are messages waiting in a task queue (all their segments "na fila"), not executions."""
    c = timeline.columns
    if len(c) == 0:
        return 0
    segments = np.diff(c.seg_offsets)
    other = np.append(c.seg_state != _STATE[State.QUEUED], False).astype(int)
    not_queued = np.add.reduceat(other, c.seg_offsets[:-1])
    return int(((segments > 0) & (not_queued == 0)).sum())


def _own_lengths(timeline: Timeline) -> np.ndarray:
    c = timeline.columns
    own = c.end - c.start
    # the duration asked for counts for a task that finished or still runs; one cut short took what it took
    known = ~np.isnan(c.seconds) & np.isin(c.status, [_STATUS[Status.OK], _STATUS[Status.RUNNING]])
    own = np.where(known, np.nan_to_num(c.seconds), own)
    queued = c.seg_state == _STATE[State.QUEUED]
    if queued.any():  # a message waiting in a task queue is no work: conctutor.queue_timeline
        waited = np.add.reduceat(np.concatenate((np.where(queued, c.seg_end - c.seg_start, 0.0), [0.0])),
                                 c.seg_offsets[:-1])
        waited = np.where(np.diff(c.seg_offsets) > 0, waited, 0.0)
        own = np.where(known, own, np.maximum(own - waited, 0.0))
    measured = np.array([timeline.kinds[i] == Kind.MEASURED for i in c.name.tolist()], dtype=bool)
    if measured.any():
        held = np.isin(c.seg_state, NOT_OWN_WORK)
        held_time = np.where(held, c.seg_end - c.seg_start, 0.0)
        per_span = np.add.reduceat(np.concatenate((held_time, [0.0])), c.seg_offsets[:-1]) \
            if len(held_time) else np.zeros(len(c))
        per_span = np.where(np.diff(c.seg_offsets) > 0, per_span, 0.0)
        own = np.where(measured & ~known, np.maximum(own - per_span, 0.0), own)
    return own


def ideal_time(timeline: Timeline) -> float:
    """See `Timeline.ideal_time`."""
    c = timeline.columns
    if len(c) == 0:
        return 0.0
    own = _own_lengths(timeline)
    finish = own.copy()
    dependent = {i for i, needs in enumerate(timeline.needs) if needs}
    if dependent:
        ends_by_name: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name_id, name in enumerate(timeline.names):
            members = np.flatnonzero(c.name == name_id)
            order = members[np.argsort(c.end[members], kind="stable")]
            ends_by_name[name] = (c.end[order], order)
        for i in np.argsort(c.start, kind="stable").tolist():
            if int(c.name[i]) not in dependent:
                continue
            ready = 0.0
            for needed in timeline.needs[c.name[i]]:
                if needed not in ends_by_name:
                    continue
                ends, order = ends_by_name[needed]
                index = int(np.searchsorted(ends, c.start[i] + 1e-6, side="right")) - 1
                if index >= 0:
                    ready = max(ready, float(finish[order[index]]))
            finish[i] = ready + own[i]
    kinds = np.array([timeline.kinds[i] for i in c.name.tolist()], dtype=object)
    cpu_work = float(own[kinds == Kind.CPU].sum() + c.cpu[kinds == Kind.MEASURED].sum())
    return max(float(finish.max()), cpu_work / max(timeline.cores, 1))
