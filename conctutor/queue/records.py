"""A task queue's records, joined: one `TaskRecord` per execution of a message, and the queue's depth over time.

`read_records` reads what producers and workers sent to an app's record
channel (`conctutor.queue.channel`) and aligns every time to this process's
``perf_counter_ns``: directly for workers on this machine, through the wall
clock and measured offsets (`conctutor.queue.clock`) for the others.
`queue_depth` counts the messages waiting over time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import celery

from .app import app_info, pid_alive
from .channel import INTERRUPTED, OK, QUEUED, RUNNING, channel_of, read_channel
from .clock import ClockOffset, clock_identity, wall_minus_perf_ns
from .reporting import short_name


class TaskRecord(NamedTuple):
    """One execution of a message by a worker (or a message still waiting: ``"queued"``).

    Times ending in ``_ns`` without ``worker_``/``wall`` are on the reading
    process's ``time.perf_counter_ns()`` clock, so they line up with its own
    recording. ``worker_*`` are the raw readings in the worker process.
    """

    task_id: str
    name: str
    """Short task name, e.g. ``"consulta_dados"``."""
    status: str
    """``"ok"``, ``"error"``, ``"interrupted"``, ``"running"`` or ``"queued"``."""
    publish_ns: int | None
    start_ns: int | None
    end_ns: int | None
    pid: int | None
    hostname: str
    """The worker's node name (``w1-…@host``)."""
    error: str
    attempt: int
    """1 for the first execution of the message, 2 after one redelivery..."""
    redelivered: bool
    message_id: str
    task: str
    """Full Celery task name."""
    publish_wall_ns: int | None
    worker_start_ns: int | None
    worker_end_ns: int | None
    worker_start_wall_ns: int | None
    worker_end_wall_ns: int | None
    clock: str
    """The worker machine's clock identity."""
    offset_ns: int | None
    """Worker wall clock − ours used to align this record (0: same clock, None: not aligned)."""
    offset_error_ns: int | None
    producer_pid: int | None
    cpu_ns: int | None = None
    """CPU time the execution used in its worker thread (``time.thread_time_ns``), when it ended."""
    kind: str = ""
    """What the task declares it does (`QueueTask.kind`): ``"io"`` (waits), ``"cpu"`` (computes), or ``""``."""
    needs: tuple[str, ...] = ()
    """The tasks it declares it needs (`QueueTask.needs`)."""


def read_records(app: celery.Celery, *, offsets: Mapping[str, ClockOffset] | Iterable[ClockOffset] | None = None
                 ) -> list[TaskRecord]:
    """Every message published through `app` and every execution of it, sorted by publication.

    A message with no execution yet is one record with status ``"queued"``; a
    message executed twice (a redelivery after its worker died) gives two
    records, ``attempt`` 1 and 2. An execution with a start and no end is
    ``"interrupted"`` when its worker process is gone (same machine) or the
    message ran again later, else ``"running"``.

    Times are aligned to this process's ``perf_counter_ns``: directly for
    workers on this machine; through the wall clock and `offsets` (from
    `measure_clock_offsets`, keyed by hostname or a list) for the others,
    which without an offset are assumed to have the same wall clock.
    """
    app_info(app)  # an app of make_app's, or a clear error
    lines = read_channel(channel_of(app) or "", app.conf.broker_url)
    by_clock: dict[str, ClockOffset] = {}
    if offsets is not None:
        values = offsets.values() if isinstance(offsets, Mapping) else offsets
        for offset in values:
            by_clock[offset.clock] = offset
    mine = clock_identity()
    wall_minus_perf = wall_minus_perf_ns()

    def align(clock: str | None, perf: int | None, wall: int | None) -> tuple[int | None, int | None, int | None]:
        """(time on our perf clock, offset used, its error bound)."""
        if clock == mine or clock is None:
            return perf, 0, 0
        if wall is None:
            return None, None, None
        known = by_clock.get(clock)
        offset = known.offset_ns if known else 0
        return wall - offset - wall_minus_perf, (offset if known else None), (known.error_ns if known else None)

    publishes: dict[str, dict] = {}
    starts: dict[str, list[dict]] = {}
    ends: dict[str, dict] = {}
    lost: dict[tuple[str, Any], dict] = {}
    for line in lines:
        event = line.get("e")
        if event == "publish":
            publishes[line["msg"]] = line
        elif event == "start":
            starts.setdefault(line.get("msg", ""), []).append(line)
        elif event == "end":
            ends[line["x"]] = line
        elif event == "lost":
            lost[(line.get("msg", ""), line.get("pid"))] = line

    records: list[TaskRecord] = []
    for message in list(publishes) + [m for m in starts if m not in publishes]:
        published = publishes.get(message)
        runs = starts.get(message, [])
        if published is not None:
            publish_ns = align(published.get("clock"), published.get("t"), published.get("w"))[0]
            publish_wall, task_id, task_name = published.get("w"), published.get("id", ""), published.get("task", "")
            producer_pid, declared = published.get("pid"), published.get("kind") or ""
            declared_needs = tuple(published.get("needs") or ())
        else:  # published elsewhere: the worker copied the stamps from the headers
            first = runs[0]
            publish_ns = align(first.get("pclock"), first.get("pub"), first.get("pubw"))[0]
            publish_wall, task_id, task_name, producer_pid = first.get("pubw"), first["id"], first["task"], None
            declared, declared_needs = "", ()
        if not runs:
            records.append(TaskRecord(
                task_id, short_name(task_name), QUEUED, publish_ns, None, None, None, "", "", 0, False, message,
                task_name, publish_wall, None, None, None, None, "", None, None, producer_pid, None, declared,
                declared_needs,
            ))
            continue
        aligned = []
        for run in runs:
            start_ns, offset, error = align(run.get("clock"), run.get("t"), run.get("w"))
            aligned.append((start_ns if start_ns is not None else 0, run, offset, error))
        aligned.sort(key=lambda item: item[0])
        for attempt, (start_ns, run, offset, error_bound) in enumerate(aligned, 1):
            end = ends.get(run["x"])
            death = lost.get((message, run.get("pid"))) if end is None else None
            if end is not None:
                status, error_text = end.get("status", OK), end.get("error", "")
                end_ns = align(run.get("clock"), end.get("t"), end.get("w"))[0]
            else:
                later = attempt < len(aligned)
                gone = run.get("clock") == mine and not pid_alive(run.get("pid"))
                status = INTERRUPTED if death or later or gone else RUNNING
                end_ns, error_text = None, ""
                if status == INTERRUPTED:
                    error_text = "o processo do worker morreu durante a tarefa"
                if death is not None:
                    end_ns = align(run.get("clock"), death.get("t"), death.get("w"))[0]
                    error_text = f"{error_text} ({death.get('error', '')})"
            closing = end if end is not None else (death if status == INTERRUPTED else None)
            records.append(TaskRecord(
                task_id, short_name(run.get("task") or task_name), status, publish_ns, start_ns, end_ns,
                run.get("pid"), run.get("host", ""), error_text, attempt, bool(run.get("redelivered")),
                message, run.get("task") or task_name, publish_wall, run.get("t"),
                closing.get("t") if closing else None, run.get("w"), closing.get("w") if closing else None,
                run.get("clock", ""), offset, error_bound, producer_pid, end.get("cpu") if end else None,
                run.get("kind") or declared, tuple(run.get("needs") or declared_needs),
            ))
    records.sort(key=lambda r: (r.publish_ns if r.publish_ns is not None else 0, r.attempt))
    return records


def queue_depth(records: Iterable[TaskRecord]) -> list[tuple[int, int]]:
    """The number of messages waiting (published, not yet started) over time.

    Returns ``[(time_ns, depth), ...]``: the depth from that time on, one
    point per change, on the same clock as the records. A message counts from
    its publication to its first start. A message whose execution was
    interrupted waits again from the interruption's end (when known) until
    its next start.
    """
    changes: list[tuple[int, int]] = []
    by_message: dict[str, list[TaskRecord]] = {}
    for record in records:
        by_message.setdefault(record.message_id, []).append(record)
    for runs in by_message.values():
        runs.sort(key=lambda r: r.attempt)
        first = runs[0]
        if first.publish_ns is None:
            continue
        changes.append((first.publish_ns, +1))
        if first.start_ns is not None:
            changes.append((max(first.start_ns, first.publish_ns), -1))
        for previous, run in zip(runs, runs[1:]):
            if previous.status == INTERRUPTED and previous.end_ns is not None and run.start_ns is not None:
                changes.append((previous.end_ns, +1))
                changes.append((max(run.start_ns, previous.end_ns), -1))
    changes.sort(key=lambda change: (change[0], -change[1]))
    depth = 0
    points: list[tuple[int, int]] = []
    for when, step in changes:
        depth += step
        if points and points[-1][0] == when:
            points[-1] = (when, depth)
        else:
            points.append((when, depth))
    return points
