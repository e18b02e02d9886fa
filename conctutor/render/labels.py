"""The readable labels of a run's lanes and processes, made from the lane data for display and never parsed back.

The recording process's main thread is ``principal``, its other threads
``thread 1..n``; worker processes are ``processo 1..n (pid P)``, numbered in
order of first appearance, with a thread suffix when a task ran outside the
worker's main thread. An asyncio task's lane adds its name:
``principal · Task-2``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..engine.model import Lane


def process_labels(lanes: Iterable[Lane], main_pid: int) -> dict[int, str]:
    """A readable label for each process the lanes ran in: ``principal`` for the recording process,
    ``processo 1..n (pid P)`` for the others, numbered in order of first appearance."""
    labels: dict[int, str] = {}
    workers = 0
    for lane in lanes:
        if lane.pid not in labels:
            if lane.pid == main_pid:
                labels[lane.pid] = "principal"
            else:
                workers += 1
                labels[lane.pid] = f"processo {workers} (pid {lane.pid})"
    return labels


def lane_labels(lanes: Sequence[Lane], main_pid: int) -> list[str]:
    """A readable label for each lane (given in order of first appearance): see the module docstring."""
    labels = []
    processes = process_labels(lanes, main_pid)
    threads: dict[tuple, int] = {}
    process_threads: dict[tuple, int] = {}
    for lane in lanes:
        thread_key = (lane.pid, lane.thread_id, lane.thread_name)
        if lane.pid == main_pid:
            label = "principal" if lane.main_thread else f"thread {threads.setdefault(thread_key, len(threads) + 1)}"
        else:
            label = processes[lane.pid]
            if not lane.main_thread:
                inner = sum(1 for key in process_threads if key[0] == lane.pid)
                label += f" · thread {process_threads.setdefault(thread_key, inner + 1)}"
        labels.append(f"{label} · {lane.task}" if lane.task else label)
    return labels
