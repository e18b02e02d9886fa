"""Notebook 07's stored figure of Redis's ``visibility_timeout``: a long task that runs twice.

    python -m conctutor.imgs imgs/ visibilidade.png

With Redis as the broker, a message a worker took but has not acknowledged
(``acks_late``: the ack comes when the task ends) waits in Redis's "unacked"
set. Every worker sweeps that set from time to time and puts back in the queue
any message taken more than ``visibility_timeout`` seconds ago: Redis cannot
tell a slow worker from a dead one. A task longer than the timeout is then
delivered to another worker while the first one still runs it, and runs twice.

`record_redelivery` starts Debian's ``redis-server`` on 127.0.0.1 (`local_redis`: a free
port, nothing saved to disk), two workers with one process each, publishes one
``grava_log`` longer than the timeout, records both executions with
`record_queue`, and stops everything. kombu sweeps every
``unacked_restore_interval`` × ``unacked_restore_throttle`` seconds (10 × 10
by default); the run sweeps every second, so the second delivery comes about
when the timeout says. A student never runs this: the notebook shows the PNG.
"""

from __future__ import annotations

import time

from ..engine.timeline import Timeline
from ..queue.local_redis import local_redis, redis_installed

VISIBILITY_TIMEOUT = 3
"""Seconds a taken, unacknowledged message stays invisible before a sweep puts it back in the queue."""

TASK_SECONDS = 6.0
"""The long task's length: twice the timeout."""

SWEEP_OPTIONS = {"unacked_restore_interval": 1, "unacked_restore_throttle": 1}
"""kombu's Redis transport: look for expired messages every second (default: every 100 s)."""


def record_redelivery(visibility_timeout: float = VISIBILITY_TIMEOUT, seconds: float = TASK_SECONDS,
                      redis_url: str | None = None) -> Timeline:
    """Run one `seconds`-long ``grava_log`` on Redis with `visibility_timeout`; the timeline of both runs.

    Without `redis_url`, a ``redis-server`` of its own is started on 127.0.0.1 and stopped afterwards.
    """
    if redis_url is not None:
        return _run(redis_url, visibility_timeout, seconds)
    if not redis_installed():
        raise SystemExit("esta figura precisa do redis-server (Debian: apt install redis-server)")
    with local_redis() as redis:
        return _run(redis.url, visibility_timeout, seconds)


def _run(redis_url: str, visibility_timeout: float, seconds: float) -> Timeline:
    from ..queue.app import app_info, make_app
    from ..queue.queue_timeline import record_queue
    from ..queue.records import read_records
    from ..queue.workers import run_workers
    from .queue_tasks import grava_log

    app = make_app(redis_url)
    # the producer and the workers (which rebuild the app from these settings) use the same options
    options = app_info(app).settings["broker_transport_options"]
    options.update(SWEEP_OPTIONS, visibility_timeout=visibility_timeout)
    app.conf.broker_transport_options = options
    with run_workers(app, workers=2, concurrency=1), record_queue(app) as timeline:
        receipt = grava_log.delay(segundos=seconds)
        receipt.get(timeout=seconds * 4)
        deadline = time.monotonic() + seconds * 4
        while time.monotonic() < deadline:  # the second execution ends after the result came
            ends = [r for r in read_records(app) if r.task_id == receipt.id and r.status != "running"]
            if len(ends) >= 2:
                break
            time.sleep(0.1)
    assert timeline.final is not None
    return timeline.final
