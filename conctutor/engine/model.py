"""The vocabulary of a recording: statuses, states, lanes and spans.

A `Span` is one execution of a recorded function, in seconds from the start
of its recording. A `Lane` is where it ran (a thread of a process, or an
asyncio task on a thread); its readable label is made for display only
(`conctutor.render.labels`) and never parsed back.

Statuses, states, kinds and lane roles are stable English codes, the same in
events, timelines, saved files and Perfetto traces; the Portuguese words a
figure shows belong to drawing alone (`conctutor.render.scene`). The enums are
``str`` subclasses, so ``span.status == "ok"`` holds on every supported Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class _Code(str, Enum):
    """An enum whose members are their stable English code everywhere (``str(State.IO) == "io"``)."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class Status(_Code):
    """How a span ended. RUNNING only appears while its recording is still going on."""

    OK = "ok"
    ERROR = "error"
    INTERRUPTED = "interrupted"
    RUNNING = "running"


class State(_Code):
    """What a task was doing at a moment of its span (the legend's words: `conctutor.render.scene.STATE_WORDS`)."""

    RUNNING = "running"
    """On a CPU."""
    IO = "io"
    """Waiting for input/output or a sleep (``time.sleep`` simulates I/O in the chapter)."""
    BLOCKED = "blocked"
    """Waiting for a lock, a queue or another task."""
    GIL = "gil"
    """Ready to run Python code, waiting for the GIL."""
    READY = "ready"
    """Ready to run, but no core was free."""
    WAITING = "waiting"
    """Waiting, for a reason that could not be known."""
    QUEUED = "queued"
    """A message published to a task queue, not yet taken by a worker."""


class Kind(_Code):
    """What a task mostly does; it decides how the ideal time counts it."""

    IO = "io"
    """Waits: needs no core while it waits (the chapter's three tasks)."""
    CPU = "cpu"
    """Computes: needs a core for all of its length."""
    MEASURED = "measured"
    """Not declared: counted by the CPU time it was measured to use."""


class LaneRole(_Code):
    """What a lane is: a thread (of this process or a worker process), or one of a task queue's rows."""

    THREAD = "thread"
    QUEUE = "queue"
    """A row of a task queue's waiting messages (`conctutor.queue.queue_timeline`)."""
    WORKER = "worker"
    """A task queue worker's pool process; ``thread_name`` holds the worker's node name."""


@dataclass(frozen=True, slots=True)
class Lane:
    """Where spans ran: a thread of a process, and the asyncio task if there was one."""

    pid: int
    thread_id: int
    """``threading.get_ident()`` of the thread."""
    native_id: int
    """The operating system's id of the thread (what /proc shows)."""
    thread_name: str
    main_thread: bool
    task: str = ""
    """The asyncio task's name, for coroutines; empty otherwise."""
    role: LaneRole = LaneRole.THREAD
    interpreter: int = 0
    """The interpreter of the process that ran it: 0 for the main one, else a subinterpreter's id
    (`concurrent.interpreters`); its thread is an OS thread of the process like any other."""


@dataclass(frozen=True, slots=True)
class Span:
    """One execution of a recorded task, in seconds from the start of its recording.

    ``running`` holds the intervals in which the task was seen running on a CPU;
    for the rest of ``[start, end]`` it waited. ``waits`` says why, interval by
    interval, with a `State`.
    """

    name: str
    start: float
    end: float
    pid: int
    thread_id: int
    worker: str
    """A readable label of the lane, for display (``principal``, ``thread 1``, ``processo 2 (pid 123)``)."""
    status: Status = Status.OK
    cpu_time: float = 0.0
    running: tuple[tuple[float, float], ...] = ()
    waits: tuple[tuple[float, float, State], ...] = ()
    seconds: float | None = None
    """The duration the task was asked for (after the time scale), for the chapter's tasks."""
    kind: Kind = Kind.MEASURED
    thread_name: str = ""
    error: str = ""
    task: str = ""
    """The asyncio task that ran it, when it ran in one."""
    lane: Lane | None = None

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def running_time(self) -> float:
        return sum(b - a for a, b in self.running)

    @property
    def queued(self) -> bool:
        """Whether this is a message waiting in a task queue (`conctutor.queue_timeline`), not an execution."""
        return bool(self.waits) and not self.running and all(state == State.QUEUED for _, _, state in self.waits)


@dataclass(frozen=True)
class CpuUsage:
    """Per-core busy percentage over time, sampled while a recording ran.

    ``percent[i][core]`` is how busy ``core`` was between ``times[i-1]`` and
    ``times[i]`` (seconds from the start of the recording; the first interval
    starts at ``start``). ``ours[i][core]``, when known, is the part of it
    used by this program (see `conctutor.timeline.Timeline.others_cpu_share`).
    """

    times: tuple[float, ...] = ()
    percent: tuple[tuple[float, ...], ...] = ()
    start: float = 0.0
    ours: tuple[tuple[float, ...], ...] | None = None

    @property
    def cores(self) -> int:
        return len(self.percent[0]) if self.percent else 0

    def window(self, offset: float, until: float | None = None) -> CpuUsage:
        """The samples after ``offset`` seconds (up to ``until``), re-based so ``offset`` is zero.

        The sample that covers ``until`` is kept, clipped, so the strip reaches the end.
        """
        times: list[float] = []
        percent: list[tuple[float, ...]] = []
        ours: list[tuple[float, ...]] = []
        for index, t in enumerate(self.times):
            if t <= offset:
                continue
            clipped = until is not None and t > until
            times.append((until if clipped else t) - offset)  # type: ignore[operator]
            percent.append(self.percent[index])
            if self.ours is not None:
                ours.append(self.ours[index])
            if clipped:
                break
        return CpuUsage(tuple(times), tuple(percent), max(self.start - offset, 0.0),
                        tuple(ours) if self.ours is not None else None)


@dataclass(frozen=True)
class Series:
    """A number watched over a recording (``record(watch=...)``): its value from each time on.

    ``values[i]`` holds from ``times[i]`` (seconds from the start of the
    recording) until the next time, or the end of the timeline.
    """

    name: str
    times: tuple[float, ...] = ()
    values: tuple[float, ...] = ()


STATUSES: tuple[Status, ...] = tuple(Status)
"""Statuses in code order: a timeline's columns hold the index (int8)."""
STATES: tuple[State, ...] = tuple(State)
"""States in code order, as `STATUSES`."""
RUNNING_STATE = STATES.index(State.RUNNING)
"""The code of `State.RUNNING` in a timeline's segment column."""
