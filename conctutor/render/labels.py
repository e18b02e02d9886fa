"""The readable labels of a run's lanes and processes, made from the lane data for display and never parsed back.

The recording process's main thread is ``principal``, its other threads
``thread 1..n``; worker processes are ``processo 1..n (pid P)``, numbered in
order of first appearance, with a thread suffix when a task ran outside the
worker's main thread. A subinterpreter's lane says which, numbered in order of
first appearance, and which OS thread of its process ran it:
``interpretador 1 · thread 2`` (the thread's number is the one its process's
own lanes use). An asyncio task's lane adds its name:
``principal · Task-2``. A task queue's lanes (`LaneRole`): its rows of waiting
messages are ``fila 1..n``, each worker pool process ``w1 · pid 4242`` (``… @
host`` for another machine).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ..engine.model import Lane, LaneRole

if TYPE_CHECKING:
    from .folding import Row


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


def worker_label(node: str, pid: int, local_host: str) -> str:
    """A task queue worker's pool process: ``w1 · pid 4242``, or ``w1 · pid 4242 @ host`` on another machine."""
    name, _, host = node.partition("@")
    short = name.split("-", 1)[0] or "worker"
    label = f"{short} · pid {pid}" if pid else short
    return label if not host or host == local_host else f"{label} @ {host}"


def lane_labels(lanes: Sequence[Lane], main_pid: int, tasks: bool = True) -> list[str]:
    """A readable label for each lane (given in order of first appearance): see the module docstring.
    Without `tasks`, an asyncio task's lane is labelled as its thread."""
    labels = []
    threads_only = [lane for lane in lanes if lane.role == LaneRole.THREAD]
    processes = process_labels(threads_only, main_pid)
    threads: dict[tuple, int] = {}
    process_threads: dict[tuple, int] = {}
    threads_in: dict[int, int] = {}  # pid -> threads numbered in that worker process so far
    interpreters: dict[tuple[int, int], int] = {}
    interpreters_in: dict[int, int] = {}  # pid -> its subinterpreters numbered so far
    os_threads: dict[tuple[int, int], int] = {}  # (pid, native id) -> the thread's number in its process
    local_host = os.uname().nodename if hasattr(os, "uname") else ""
    for lane in lanes:
        if lane.role == LaneRole.QUEUE:
            labels.append(f"fila {lane.thread_id + 1}")
            continue
        if lane.role == LaneRole.WORKER:
            labels.append(worker_label(lane.thread_name, lane.pid, local_host))
            continue
        thread_key = (lane.pid, lane.thread_id, lane.thread_name)
        if lane.interpreter:
            number = interpreters.get((lane.pid, lane.interpreter), 0)
            if not number:
                number = interpreters[(lane.pid, lane.interpreter)] = interpreters_in.get(lane.pid, 0) + 1
                interpreters_in[lane.pid] = number
            thread = os_threads.get((lane.pid, lane.native_id))
            if lane.native_id == lane.pid:  # Linux: the process's first thread, the main interpreter's main one
                label = f"interpretador {number} · principal"
            elif thread is None:
                count = len(threads) if lane.pid == main_pid else threads_in.get(lane.pid, 0)
                thread = os_threads[(lane.pid, lane.native_id)] = count + 1
                (threads if lane.pid == main_pid else process_threads)[(lane.pid, "os", lane.native_id)] = thread
                if lane.pid != main_pid:
                    threads_in[lane.pid] = thread
                label = f"interpretador {number} · thread {thread}"
            else:
                label = f"interpretador {number} · thread {thread}"
            if lane.pid != main_pid:
                label = f"{processes[lane.pid]} · {label}"
        elif lane.pid == main_pid:
            if lane.main_thread:
                label = "principal"
            else:
                label = f"thread {threads.setdefault(thread_key, len(threads) + 1)}"
                os_threads.setdefault((lane.pid, lane.native_id), threads[thread_key])
        else:
            label = processes[lane.pid]
            if not lane.main_thread:
                inner = process_threads.get(thread_key, 0)
                if not inner:
                    inner = process_threads[thread_key] = threads_in.get(lane.pid, 0) + 1
                    threads_in[lane.pid] = inner
                label += f" · thread {inner}"
        labels.append(f"{label} · {lane.task}" if lane.task and tasks else label)
    return labels


def thread_labels(lanes: Sequence[Lane], main_pid: int) -> list[str]:
    """Each lane's label without its asyncio task: the thread that ran it, numbered as `lane_labels` numbers it."""
    return lane_labels(lanes, main_pid, tasks=False)


def band_label(row: Row, lanes: Sequence[Lane], main_pid: int, threads_of: Sequence[str] = ()) -> str:
    """A band of folded lanes (`conctutor.render.folding`): whose they are and how many, like
    ``principal · 9.990 tarefas``, ``processo 1 (pid 812) · 300 threads``, ``64 processos · 64 threads``.
    `threads_of`: `thread_labels` of the lanes, for a band of one thread's asyncio tasks."""
    from .words import thousands

    mine = [lanes[i] for i in row.lanes]
    kind = row.key[0] if row.key else ""
    if kind == "queue":
        return f"fila · {thousands(len(mine))} linhas"
    if kind == "workers":
        return f"{thousands(len(mine))} workers"
    tasks = sum(1 for lane in mine if lane.task)
    if kind == "tasks":
        return f"{threads_of[row.lanes[0]]} · {thousands(tasks)} tarefas"
    # a thread's ident is reused once it ends: a thread is all that names it (each lane without a task is one)
    threads = len({(lane.pid, lane.thread_id, lane.native_id, lane.thread_name) for lane in mine})
    counts = [f"{thousands(threads)} threads"] if threads > 1 or not tasks else []
    if tasks:
        counts.append(f"{thousands(tasks)} tarefas")
    if kind == "processes":
        processes = len({lane.pid for lane in mine})
        return f"{thousands(processes)} processos · {', '.join(counts)}"
    where = process_labels((lane for lane in lanes if lane.role == LaneRole.THREAD), main_pid).get(mine[0].pid, "")
    return f"{where} · {', '.join(counts)}"
