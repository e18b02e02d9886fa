"""Task queues with Celery: an embedded broker, real worker processes, and records.

Notebook 07 ("Filas de tarefas") in three lines::

    app = make_app()                          # embedded: no server to install
    with run_workers(app, workers=2, concurrency=1):
        consulta_dados.delay().get(timeout=30)  # from conctutor.queue_tasks
    records = read_records(app)               # one TaskRecord per execution

This module gathers the public names of ``conctutor.taskqueue``; each job has
its own module in `conctutor.queue`:

* `app`: `make_app()`, a Celery app on an embedded broker (kombu's
  filesystem transport in a private directory, no server) or on Redis, and
  results that do not wait in vain (`ResultUnavailable`, `WorkerDied`);
* `workers`: `run_workers()`, real ``celery worker`` processes that never
  outlive their block or their parent, even killed by SIGKILL (`WorkerGroup`);
* `channel`: the records producers and workers write about each message
  (a JSON-lines file per process, or a Redis list);
* `records`: `read_records()` joins them into one `TaskRecord` per execution;
  `queue_depth()` counts the messages waiting over time;
* `clock`: `measure_clock_offsets()`, for workers on other machines;
* `reporting`: the `QueueTask` base of every task (`BrokerUnavailable`).

``python -m conctutor.taskqueue --broker redis://host:6379/0`` starts a worker
on another machine.
"""

from __future__ import annotations

import sys

from .app import (
    CHAPTER_TASKS,
    OWNER_FILE,
    RUN_DIRECTORY_PREFIX,
    QueueApp,
    QuickResult,
    ResultUnavailable,
    WorkerDied,
    app_info,
    check_broker,
    make_app,
    set_recording,
)
from .channel import ERROR, INTERRUPTED, OK, QUEUED, RUNNING
from .clock import CLOCK_OFFSET_VARIABLE, ClockOffset, clock_identity, measure_clock_offsets
from .records import TaskRecord, queue_depth, read_records
from .reporting import BrokerUnavailable, QueueTask
from .workers import MAX_CONCURRENCY, MAX_WORKERS, WorkerGroup, run_workers

__all__ = [
    "CHAPTER_TASKS",
    "CLOCK_OFFSET_VARIABLE",
    "ERROR",
    "INTERRUPTED",
    "MAX_CONCURRENCY",
    "MAX_WORKERS",
    "OK",
    "OWNER_FILE",
    "QUEUED",
    "RUNNING",
    "RUN_DIRECTORY_PREFIX",
    "BrokerUnavailable",
    "ClockOffset",
    "QueueApp",
    "QueueTask",
    "QuickResult",
    "ResultUnavailable",
    "TaskRecord",
    "WorkerDied",
    "WorkerGroup",
    "app_info",
    "check_broker",
    "clock_identity",
    "make_app",
    "measure_clock_offsets",
    "queue_depth",
    "read_records",
    "run_workers",
    "set_recording",
]

if __name__ == "__main__":
    from .workers import _standalone_main

    _standalone_main(sys.argv[1:])
