"""Building a `Timeline` from recorded spans (`conctutor.engine.assembly`) and what the sampler saw.

`build` turns each span's events into columns; `_segments` splits a span into
the intervals of each `State`: what the task reported itself wins, and the
sampler's view of its thread fills in the rest (thresholds: `CARRY_MIN_NS`,
`CARRY_WAITING_MIN_NS`, and a finished span that used the CPU for less than
half its length mostly waited).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .files import os_reason
from .model import STATES, STATUSES, CpuUsage, Kind, Lane, Series, State
from .timeline import RUNNING_CODE, Columns, Timeline

if TYPE_CHECKING:
    from .assembly import Loss, RawSpan

_STATUS = {status: code for code, status in enumerate(STATUSES)}
_STATE = {state: code for code, state in enumerate(STATES)}


def build(
    raws: Sequence[RawSpan],
    lanes: dict[tuple, Lane],
    tasks: dict[tuple, tuple[str, Kind, tuple[str, ...]]],
    origin_ns: int,
    stop_ns: int,
    main_pid: int,
    cpu: CpuUsage,
    live: bool,
    cores: int | None = None,
    thread_states: dict[tuple[int, int], list[tuple[int, State | None]]] | None = None,
    sampled: bool = True,
    series: Sequence[Series] = (),
    losses: Sequence[Loss] = (),
    notes: Sequence[str] = (),
) -> Timeline:
    """A `Timeline` of the spans that started in ``[origin_ns, stop_ns]``, in seconds from `origin_ns`.

    A span not finished by `stop_ns` ends there (its status says why). `cpu`
    is already in seconds from `origin_ns`. `thread_states` (what the sampler
    saw each thread doing, by (pid, native thread id)) refines what the
    recorded events alone say (see `_segments`). `losses`, the spans that
    worker processes could not keep, become the timeline's `lost` notes,
    followed by `notes` (what else could not be kept).
    """
    timelines_of = _sorted_states(thread_states or {})
    kept = [raw for raw in raws if origin_ns <= raw.start_ns <= stop_ns]
    kept.sort(key=lambda raw: (raw.start_ns, raw.end_ns if raw.end_ns is not None else stop_ns))
    lane_index: dict[tuple, int] = {}
    name_index: dict[tuple[str, Kind], int] = {}
    needs_of: dict[tuple[str, Kind], tuple[str, ...]] = {}
    n = len(kept)
    lane_col = np.empty(n, dtype=np.int32)
    name_col = np.empty(n, dtype=np.int32)
    start, end, cpu_col, seconds = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    status = np.empty(n, dtype=np.int8)
    offsets = np.zeros(n + 1, dtype=np.int64)
    seg_start: list[float] = []
    seg_end: list[float] = []
    seg_state: list[int] = []
    errors: dict[int, str] = {}
    unknown = Lane(0, 0, 0, "?", False)
    for i, raw in enumerate(kept):
        lane_col[i] = lane_index.setdefault(raw.lane, len(lane_index))
        name, kind, needs = tasks.get(raw.task, ("?", Kind.MEASURED, ()))
        name_col[i] = name_index.setdefault((name, kind), len(name_index))
        needs_of.setdefault((name, kind), needs)
        finished = raw.end_ns is not None
        stop = min(raw.end_ns, stop_ns) if raw.end_ns is not None else stop_ns
        start[i] = (raw.start_ns - origin_ns) / 1e9
        end[i] = (stop - origin_ns) / 1e9
        cpu_col[i] = raw.cpu_ns / 1e9 if finished else 0.0
        seconds[i] = raw.seconds
        status[i] = _STATUS[raw.status]
        if raw.error:
            errors[i] = raw.error
        lane = lanes.get(raw.lane)
        states = timelines_of.get((lane.pid, lane.native_id)) if lane is not None else None
        ran_ns = 0
        for a, b, state in _segments(raw, stop, finished, states):
            seg_start.append((a - origin_ns) / 1e9)
            seg_end.append((b - origin_ns) / 1e9)
            seg_state.append(state)
            if state == RUNNING_CODE:
                ran_ns += b - a
        offsets[i + 1] = len(seg_start)
        if lane is not None and lane.task and finished:
            # An asyncio task's thread ran the loop's other tasks while it was suspended: its own CPU time is
            # at most the steps it ran itself (10 000 tasks of one thread would each count the whole run's).
            cpu_col[i] = min(cpu_col[i], ran_ns / 1e9)
    columns = Columns(lane_col, name_col, start, end, cpu_col, seconds, status, offsets,
                      np.asarray(seg_start, dtype=float), np.asarray(seg_end, dtype=float),
                      np.asarray(seg_state, dtype=np.int8))
    window = cpu.window(0.0, (stop_ns - origin_ns) / 1e9)
    timeline_lanes = [lanes.get(key, unknown) for key in lane_index]
    return Timeline(
        timeline_lanes,
        [name for name, _ in name_index],
        [kind for _, kind in name_index],
        columns, errors, window, (stop_ns - origin_ns) / 1e9, cores, live=live, main_pid=main_pid,
        sampled=sampled, series=series, lost=[*loss_notes(losses, timeline_lanes, main_pid), *notes],
        needs=[needs_of[key] for key in name_index],
    )


def loss_notes(losses: Iterable[Loss], lanes: Sequence[Lane], main_pid: int) -> list[str]:
    """``"disco cheio: 3 tarefas do processo 2 (pid 812) não foram gravadas"``, one per process and reason.

    Processes are named as in the figure's lanes; one that kept no span at all by its pid.
    """
    from ..render import views  # the processes named as in the figure's lanes

    processes = views.process_labels(lanes, main_pid)
    order = {pid: position for position, pid in enumerate(processes)}
    notes = []
    for loss in sorted(losses, key=lambda loss: (order.get(loss.pid, len(order)), loss.pid, loss.errno)):
        if loss.pid == main_pid:
            where = "do processo principal"
        elif loss.pid in processes:
            where = f"do {processes[loss.pid]}"
        else:
            where = f"do processo de pid {loss.pid}"
        spans = f"1 tarefa {where} não foi gravada" if loss.spans == 1 else \
            f"{loss.spans} tarefas {where} não foram gravadas"
        notes.append(f"{os_reason(loss.errno)}: {spans}")
    return notes


_FIXED, _DERIVED, _UNKNOWN, _HELD = 0, 1, 2, 3
"""How sure the events are of a segment: reported by the task itself (fixed), assumed
running between the waits it reported (derived), a wait of unknown reason, or a gap in
the running that the task saw itself (``calcula``): it was held back, and a thread the
sampler saw runnable then was waiting for a core."""


def _sorted_states(states: dict[tuple[int, int], list[tuple[int, State | None]]]) -> dict[tuple, tuple]:
    out: dict[tuple, tuple] = {}
    for key, changes in states.items():
        ordered = sorted(changes, key=lambda change: change[0])
        out[key] = ([t for t, _ in ordered], [state for _, state in ordered])
    return out


def _segments(raw: RawSpan, stop: int, finished: bool, sampled: tuple | None = None) -> list[tuple[int, int, int]]:
    """Split ``[raw.start_ns, stop]`` into (start, end, state code), in order, covering all of it.

    What the task reported wins: its waits (with their reason) and the
    running slices it saw itself (``calcula``). Where the events only imply
    that it ran (between waits), the sampler's view of the thread replaces
    them; where a wait's reason is unknown, the sampler's reason fills it in.
    """
    base = _event_segments(raw, stop, finished)
    if not sampled:
        return [(a, b, code) for a, b, code, _ in base]
    times, states = sampled
    # A finished span that used the CPU for less than half its length cannot have run all along:
    # where the sampler saw no change inside a short piece, what it saw before holds.
    mostly_waiting = finished and raw.cpu_ns < 0.5 * (stop - raw.start_ns)
    out: list[tuple[int, int, int]] = []
    for a, b, code, sureness in base:
        if sureness == _FIXED:
            out.append((a, b, code))
            continue
        pieces = _pieces(times, states, a, b, carry_always=mostly_waiting)
        held = _held_reason(pieces, _state_before(times, states, a)) if sureness == _HELD else None
        for pa, pb, state in pieces:
            if held is not None and state in (State.RUNNING, None):
                new = _STATE[held]
            elif state is None or (sureness == _UNKNOWN and state == State.RUNNING):
                new = code
            else:
                new = _STATE[state]
            if out and out[-1][2] == new and out[-1][1] == pa:
                out[-1] = (out[-1][0], pb, new)
            else:
                out.append((pa, pb, new))
    return out


def _state_before(times: list[int], states: list[State | None], t: int) -> State | None:
    index = bisect.bisect_right(times, t)
    return states[index - 1] if index > 0 else None


def _held_reason(pieces: list[tuple[int, int, State | None]], before: State | None) -> State | None:
    """Why a task that saw itself stop running was held back, from what the sampler saw meanwhile.

    The sampler's edges are blurred by half its interval, so where it still (or already) saw the
    thread running, the reason it gave for the rest of the gap holds (the GIL, say). Seen runnable
    all along (the sampler writes changes only: no change, and runnable `before`): no core was free
    for it (``pronta``; on a virtual machine, the host gave the core to another). Seen nothing:
    unknown (None).
    """
    known: dict[State, int] = {}
    for a, b, state in pieces:
        if state is not None and state != State.RUNNING:
            known[state] = known.get(state, 0) + b - a
    if known:
        return max(known, key=lambda state: known[state])
    if any(state == State.RUNNING for _, _, state in pieces) or before == State.RUNNING:
        return State.READY
    return None


CARRY_MIN_NS = 25_000_000
"""A sampled state seen before a segment starts is trusted for its first piece only when that piece
is longer than this: the sampler writes changes only, and a busy machine samples every 20 ms or so."""


CARRY_WAITING_MIN_NS = 2_000_000
"""With a span that mostly waited, pieces longer than this carry the waiting state seen before them;
a shorter one (the moment between a span's start and its first reported wait) stays as the events say."""


def _pieces(times: list[int], states: list[State | None], a: int, b: int,
            carry_always: bool = False) -> list[tuple[int, int, State | None]]:
    """``[a, b]`` cut where the sampled state changes inside it.

    The state seen before ``a`` counts for the first piece only when that
    piece is long: the events show the thread doing something new at ``a``
    (a span began, a wait ended) that the sampler, a fraction of a
    millisecond or more behind, may not have seen; over a long piece, a
    state that did not change is what the thread was doing. With
    `carry_always` (the span's own CPU time says it mostly waited), a waiting
    state seen before counts for short pieces too.
    """
    pieces = []
    index = bisect.bisect_right(times, a)
    cursor = a
    first_change = times[index] if index < len(times) else b
    length = min(first_change, b) - a
    carry = length > CARRY_MIN_NS or (
        carry_always and index > 0 and length > CARRY_WAITING_MIN_NS and states[index - 1] not in (State.RUNNING, None))
    state: State | None = states[index - 1] if index > 0 and carry else None
    while index < len(times) and times[index] < b:
        if times[index] > cursor:
            pieces.append((cursor, times[index], state))
            cursor = times[index]
        state = states[index]
        index += 1
    pieces.append((cursor, b, state))
    return pieces


def _event_segments(raw: RawSpan, stop: int, finished: bool) -> list[tuple[int, int, int, int]]:
    out: list[tuple[int, int, int, int]] = []
    cursor = raw.start_ns
    if raw.runs is not None:  # the task saw itself running (calcula): in the gaps it was held back
        for a, b in raw.runs:
            a, b = max(a, cursor), min(b, stop)
            if b <= a:
                continue
            if a > cursor:
                out.append((cursor, a, _STATE[State.WAITING], _HELD))
            out.append((a, b, RUNNING_CODE, _FIXED))
            cursor = b
        if stop > cursor:
            out.append((cursor, stop, _STATE[State.WAITING], _HELD) if finished
                       else (cursor, stop, RUNNING_CODE, _DERIVED))
        return out
    for a, b, state in raw.waits:
        a, b = max(a, cursor), min(b, stop)
        if b <= a:
            continue
        if a > cursor:
            out.append((cursor, a, RUNNING_CODE, _DERIVED))
        out.append((a, b, _STATE[state], _UNKNOWN if state == State.WAITING else _FIXED))
        cursor = b
    if stop > cursor:
        out.append((cursor, stop, RUNNING_CODE, _DERIVED))
    return out
