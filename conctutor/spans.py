"""What one task execution looked like: the `Span`, and the lane it belongs to."""

from __future__ import annotations

from dataclasses import dataclass, field

OK, ERROR, INTERRUPTED, RUNNING = "ok", "error", "interrupted", "running"
"""Span statuses. RUNNING only appears while the recording is still going on."""


@dataclass(frozen=True)
class Span:
    """One execution of a task, in seconds from the start of the recording.

    `running` holds the intervals in which the task was seen running on a CPU;
    for the rest of ``[start, end]`` it was waiting (sleeping, blocked on I/O,
    or waiting for the GIL).
    """

    name: str
    start: float
    end: float
    pid: int
    thread_id: int
    worker: str
    status: str = OK
    cpu_time: float = 0.0
    running: tuple[tuple[float, float], ...] = ()
    seconds: float | None = None
    """The duration the task was asked for (after the time scale), if known."""
    kind: str = "io"
    """``"io"`` for a task that waits, ``"cpu"`` for one that computes."""
    thread_name: str = ""
    error: str = ""
    task: str = ""
    """The asyncio task that ran it, when it ran in one."""
    lane_key: tuple = field(default=(), repr=False, compare=False)

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def running_time(self) -> float:
        return sum(b - a for a, b in self.running)


@dataclass(slots=True)
class RawSpan:
    """A span while it is being recorded: nanosecond clock readings, mutable.

    Created when a task starts (so a task that never finishes still leaves a
    trace) and completed when it ends.
    """

    seq: int
    name: str
    kind: str
    start_ns: int
    end_ns: int | None
    pid: int
    thread_id: int
    thread_name: str
    main_thread: bool
    status: str
    cpu_ns: int
    seconds: float | None
    running: list[tuple[int, int]] | None
    waits: list[tuple[int, int]]
    error: str
    task: str


def running_intervals(raw: RawSpan, end_ns: int) -> list[tuple[int, int]]:
    """The running intervals of a span: reported by the task, or the span minus its waits."""
    if raw.running is not None:
        return raw.running
    intervals, cursor = [], raw.start_ns
    for wait_start, wait_end in raw.waits:
        if wait_start > cursor:
            intervals.append((cursor, wait_start))
        cursor = max(cursor, wait_end)
    if end_ns > cursor:
        intervals.append((cursor, end_ns))
    return intervals


def lane_labels(raws: list[RawSpan], main_pid: int) -> dict[tuple, str]:
    """A readable label for every lane, numbered in order of first appearance.

    The recording process's main thread is ``principal``; its other threads are
    ``thread 1..n``; worker processes are ``processo 1..n (pid P)``, with a
    thread suffix when a task ran outside the worker's main thread.
    """
    labels: dict[tuple, str] = {}
    threads: dict[tuple, int] = {}
    processes: dict[int, int] = {}
    process_threads: dict[int, dict[tuple, int]] = {}
    for raw in sorted(raws, key=lambda r: r.start_ns):
        key = lane_key(raw)
        if key in labels:
            continue
        if raw.pid == main_pid:
            if raw.main_thread:
                labels[key] = "principal"
            else:
                threads.setdefault(key, len(threads) + 1)
                labels[key] = f"thread {threads[key]}"
            continue
        number = processes.setdefault(raw.pid, len(processes) + 1)
        label = f"processo {number} (pid {raw.pid})"
        if not raw.main_thread:
            inner = process_threads.setdefault(raw.pid, {})
            inner.setdefault(key, len(inner) + 1)
            label += f" · thread {inner[key]}"
        labels[key] = label
    return labels


def lane_key(raw: RawSpan) -> tuple:
    # Thread idents are reused once a thread ends; the name tells pools apart.
    return (raw.pid, raw.thread_id, raw.thread_name, raw.task)
