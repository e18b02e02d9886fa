"""A task queue's records as a `Timeline`: worker lanes, messages waiting "na fila", the queue's depth.

    with record_queue(app) as timeline:      # app from conctutor.taskqueue.make_app()
        consulta_dados.delay().get(timeout=30)
    timeline.plot()

or, from records read by hand, ``queue_timeline(read_records(app))``.

* Each worker pool process is a lane (``w1 · pid 4242``; ``… @ host`` for
  another machine), and each execution of a message is a span on it, with the
  same fields as a span recorded by ``record()``: name, start, end, status
  (``"ok"``, ``"error"``, ``"interrupted"``, ``"running"``), error.
* The time a message waited for a worker is a span of the same task (same
  colour) in state ``"na fila"`` on the queue's lanes, above the workers:
  ``fila 1``, ``fila 2``… as many as messages waited at once. A message that
  ran again after its worker died waits there again from the death on.
* The number of messages waiting is the series ``"mensagens na fila"``,
  drawn under the lanes.

The workers do not sample their threads: inside an execution, a task that
declares it waits (``kind=Kind.IO``, as the chapter's tasks in
`conctutor.course.queue_tasks` do, and `TaskRecord.kind` carries) is drawn as
``E/S``, one that declares it computes (`calcula`) as ``rodando``; another
task is ``rodando`` when its worker measured it on the CPU at least half of
its length (``thread_time``), else ``esperando`` (the reason is not known).
A computing execution that was on the CPU for less of its length than that
(more pool processes than free cores) is drawn in slices of ``rodando`` and
``pronta``, in the shares its CPU time gives.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from ..engine.model import STATES, STATUSES, Kind, Lane, LaneRole, Series, State, Status
from ..engine.recording import LiveTimeline
from ..engine.timeline import Columns, Timeline
from .records import queue_depth, read_records

QUEUE_LANE_PID = 0
"""The pid of the queue's lanes: no process, the broker's queue."""

DEPTH_SERIES = "mensagens na fila"

_STATUS = {"ok": Status.OK, "error": Status.ERROR, "interrupted": Status.INTERRUPTED, "running": Status.RUNNING}


def _kind(declared: str) -> Kind:
    """Waiting tasks count in the ideal time by their length; the others by the CPU time their worker
    measured (a `calcula` that shared a core with another took twice its work's time, but no more CPU)."""
    return Kind.IO if declared == Kind.IO.value else Kind.MEASURED


def _state_inside(declared: str, duration_ns: int, cpu_ns: int | None) -> State:
    if declared == Kind.IO.value:
        return State.IO
    if declared == Kind.CPU.value:
        return State.RUNNING
    if cpu_ns is not None and duration_ns > 0 and cpu_ns >= duration_ns / 2:
        return State.RUNNING
    return State.WAITING


def _declared(record: Any) -> str:
    """What the record's task declares it does (`TaskRecord.kind`), or ""."""
    return getattr(record, "kind", "") or ""


def _waits(records: Sequence[Any], stop_ns: int) -> list[tuple[int, int, Any]]:
    """(from, until, record) for every stretch a message waited: before its first start, and again
    after an interrupted execution until the next one (or `stop_ns` when none came)."""
    by_message: dict[str, list[Any]] = {}
    for record in records:
        by_message.setdefault(record.message_id, []).append(record)
    waits = []
    for runs in by_message.values():
        runs.sort(key=lambda r: r.attempt)
        first = runs[0]
        if first.publish_ns is None:
            continue
        waits.append((first.publish_ns, first.start_ns if first.start_ns is not None else stop_ns, first))
        for previous, run in zip(runs, [*runs[1:], None]):
            if previous.status == "interrupted" and previous.end_ns is not None:
                until = run.start_ns if run is not None and run.start_ns is not None else stop_ns
                waits.append((previous.end_ns, until, run or previous))
    return [(a, max(a, b), record) for a, b, record in waits]


def _pack(intervals: Sequence[tuple[int, int]]) -> list[int]:
    """A row for each interval (in the given order, sorted by start), the lowest free one."""
    ends: list[int] = []
    rows = []
    for start, end in intervals:
        for row, busy_until in enumerate(ends):
            if busy_until <= start:
                ends[row] = end
                rows.append(row)
                break
        else:
            ends.append(end)
            rows.append(len(ends) - 1)
    return rows


def queue_timeline(records: Iterable[Any], *, origin_ns: int | None = None, stop_ns: int | None = None,
                   depth: bool = True) -> Timeline:
    """The `Timeline` of a task queue's records (`conctutor.taskqueue.read_records`).

    Times are seconds from `origin_ns` (default: the first publication), up to
    `stop_ns` (default: the last event; an execution without an end is drawn
    up to there). ``depth=False`` leaves out the ``"mensagens na fila"`` strip.
    """
    records = [r for r in records if getattr(r, "publish_ns", None) is not None or getattr(r, "start_ns", None)]
    if not records:
        return Timeline(sampled=False)
    times = [t for r in records for t in (r.publish_ns, r.start_ns, r.end_ns) if t is not None]
    origin = min(times) if origin_ns is None else origin_ns
    stop = max(times) if stop_ns is None else stop_ns

    rows: list[tuple[Any, int, int, State, Status, str]] = []  # record, start, end, state, status, error
    lanes: list[Lane] = []
    lane_of: dict[tuple, int] = {}

    waits = sorted(_waits(records, stop), key=lambda w: (w[0], w[1]))
    queue_lane = _pack([(a, b) for a, b, _ in waits])  # lanes 0..k-1 are the queue's rows
    for start, end, record in waits:
        rows.append((record, start, end, State.QUEUED, Status.OK if end < stop else Status.RUNNING, ""))
    queue_rows = max(queue_lane, default=-1) + 1
    lanes.extend(Lane(QUEUE_LANE_PID, row, 0, "fila", False, role=LaneRole.QUEUE) for row in range(queue_rows))

    executions = sorted((r for r in records if r.start_ns is not None), key=lambda r: r.start_ns)
    # worker lanes by worker name (w1, w2...), then by when each pool process first ran a message
    for record in sorted(executions, key=lambda r: r.hostname):
        key = ("worker", record.hostname, record.pid)
        if key not in lane_of:
            lane_of[key] = len(lanes)
            lanes.append(Lane(record.pid or 0, 0, 0, record.hostname, True, role=LaneRole.WORKER))
    for record in executions:
        end = record.end_ns if record.end_ns is not None else stop
        cpu = getattr(record, "cpu_ns", None)
        state = _state_inside(_declared(record), end - record.start_ns, cpu)
        rows.append((record, record.start_ns, end, state, _STATUS.get(record.status, Status.OK), record.error))

    lane_col = queue_lane + [lane_of[("worker", r[0].hostname, r[0].pid)] for r in rows[len(waits):]]
    order = sorted(range(len(rows)), key=lambda i: rows[i][1])  # spans by start
    rows = [rows[i] for i in order]
    lane_col = [lane_col[i] for i in order]
    name_index: dict[str, int] = {}
    declared: dict[str, str] = {}
    for record, *_ in rows:
        name_index.setdefault(record.name, len(name_index))
        if _declared(record):
            declared.setdefault(record.name, _declared(record))
    names = list(name_index)
    n = len(rows)
    cpu_ns = [(getattr(r[0], "cpu_ns", None) or 0) if r[3] != State.QUEUED else 0 for r in rows]
    segments = [_inside(start, end, state, cpu) for (_, start, end, state, _, _), cpu in zip(rows, cpu_ns)]
    flat = [segment for span in segments for segment in span]
    columns = Columns(
        lane=np.array(lane_col, dtype=np.int32),
        name=np.array([name_index[r[0].name] for r in rows], dtype=np.int32),
        start=np.array([(r[1] - origin) / 1e9 for r in rows]), end=np.array([(r[2] - origin) / 1e9 for r in rows]),
        cpu=np.array(cpu_ns) / 1e9,
        seconds=np.full(n, math.nan),
        status=np.array([STATUSES.index(r[4]) for r in rows], dtype=np.int8),
        seg_offsets=np.concatenate(([0], np.cumsum([len(span) for span in segments]))).astype(np.int64),
        seg_start=np.array([(a - origin) / 1e9 for a, _, _ in flat]),
        seg_end=np.array([(b - origin) / 1e9 for _, b, _ in flat]),
        seg_state=np.array([STATES.index(state) for _, _, state in flat], dtype=np.int8),
    )
    errors = {i: row[5] for i, row in enumerate(rows) if row[5]}
    series: list[Series] = []
    if depth:
        points = queue_depth(records)
        series.append(Series(DEPTH_SERIES, tuple((t - origin) / 1e9 for t, _ in points),
                             tuple(float(v) for _, v in points)))
    needs: dict[str, tuple[str, ...]] = {}
    for record, *_ in rows:
        needs.setdefault(record.name, tuple(getattr(record, "needs", ()) or ()))
    return Timeline(lanes, names, [_kind(declared.get(name, "")) for name in names], columns, errors,
                    makespan=(stop - origin) / 1e9, sampled=False, series=series,
                    needs=[needs[name] for name in names])


ALONE_ON_A_CORE = 0.9
"""A computing execution on the CPU at least this share of its length had a core to itself: drawn solid."""
SLICE_NS = 100_000_000
"""Length of the slices a computing execution that shared a core is drawn in (between 4 and 50 of them)."""


def _inside(start: int, end: int, state: State, cpu_ns: int) -> list[tuple[int, int, State]]:
    """An execution's segments. One that computes but was on the CPU only part of its length waited for a
    core the rest of it ("pronta"): the worker's pool processes outnumbered the free cores. The workers
    are not sampled, so when it ran is not known: it is drawn in slices, each on the CPU for the share
    its CPU time says, as the system hands the cores around."""
    length = end - start
    if state != State.RUNNING or length <= 0 or not 0 < cpu_ns < ALONE_ON_A_CORE * length:
        return [(start, end, state)]
    count = max(4, min(50, round(length / SLICE_NS)))
    edges = [start + length * k // count for k in range(count + 1)]
    share = cpu_ns / length
    out: list[tuple[int, int, State]] = []
    for a, b in zip(edges, edges[1:]):
        middle = a + round((b - a) * share)
        out.extend([(a, middle, State.RUNNING), (middle, b, State.READY)])
    return out


class _QueueRecords:
    """A task queue's records as a `recording.Snapshots`: the messages published since `origin_ns`."""

    def __init__(self, app: Any, offsets: Any = None) -> None:
        self.app = app
        self.offsets = offsets

    def snapshot(self, origin_ns: int, stop_ns: int | None = None, final: bool = False) -> Timeline:
        stop = time.perf_counter_ns() if stop_ns is None else stop_ns
        records = [r for r in read_records(self.app, offsets=self.offsets)
                   if r.publish_ns is not None and origin_ns <= r.publish_ns <= stop]
        return queue_timeline(records, origin_ns=origin_ns, stop_ns=stop)


@contextlib.contextmanager
def record_queue(app: Any, *, offsets: Any = None) -> Iterator[LiveTimeline]:
    """The messages published through `app` inside the block, with every execution of them, as a timeline.

    It yields what ``record()`` yields: during the block, the timeline so far;
    after it, the finished one (``timeline.plot()``, ``timeline.spans``,
    ``checks.max_concurrent(timeline)``...). Time zero is the start of the
    block. Wait for the results you want to see inside it
    (``.get(timeout=...)``): a message still waiting or running when the block
    ends is drawn up to the end, with status ``"running"``. `offsets` (from
    `conctutor.taskqueue.measure_clock_offsets`) align the clocks of workers
    on other machines.
    """
    timeline = LiveTimeline(_QueueRecords(app, offsets), time.perf_counter_ns())
    try:
        yield timeline
    finally:
        timeline.finish(time.perf_counter_ns())
