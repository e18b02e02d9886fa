"""Notebook 07's later sections: a retry with Celery's backoff, and Redis's visibility_timeout (`redelivery`)."""

from __future__ import annotations

import pytest

from conctutor.course import queue_tasks
from conctutor.course.redelivery import record_redelivery
from conctutor.engine.model import Status
from conctutor.queue.local_redis import local_redis, redis_installed
from conctutor.queue_timeline import record_queue
from conctutor.taskqueue import make_app, run_workers


@pytest.fixture(scope="module")
def redis_url():
    if not redis_installed():
        pytest.skip("redis-server não está instalado")
    with local_redis() as redis:
        yield redis.url


def test_the_backoff_task_lets_celery_retry_it_after_whole_seconds_without_jitter():
    task = queue_tasks.grava_log_com_backoff
    assert task.autoretry_for == (ConnectionError,)
    assert task.retry_backoff is True and task.retry_backoff_max == queue_tasks.BACKOFF_MAX == 1
    assert task.retry_jitter is False and task.max_retries == 3
    assert "grava_log_com_backoff" in queue_tasks.TASK_NAMES


@pytest.mark.usefixtures("fast_tasks")
def test_a_backoff_retry_waits_about_a_second_in_the_queue_then_succeeds(redis_url):
    app = make_app(redis_url)
    with run_workers(app, workers=1, concurrency=1):
        with record_queue(app) as timeline:
            assert queue_tasks.grava_log_com_backoff.delay(falhas=1).get(timeout=30) is None
    runs = [s for s in timeline.spans if not s.queued]
    waits = sorted((s for s in timeline.spans if s.queued), key=lambda s: s.start)
    assert [s.status for s in runs] == [Status.ERROR, Status.OK]
    assert "ConnectionError" in runs[0].error or "Retry" in runs[0].error
    assert len(waits) == 2
    # Celery's backoff is 1 s (retry_backoff_max), not scaled by CONCTUTOR_TIME_SCALE
    assert runs[1].start - runs[0].end >= 0.9
    assert waits[1].end - waits[1].start >= 0.9


def test_a_task_longer_than_the_visibility_timeout_runs_twice_at_once_on_redis(redis_url, monkeypatch):
    monkeypatch.setenv("CONCTUTOR_TIME_SCALE", "1")  # Redis's timeout is not scaled: neither is the task
    # Swept every second: put back between 2 s and about 3 s, while the first run (3.5 s) still runs; the
    # second delivery is not yet 2 s old when the first run's ack removes the message from Redis's unacked set.
    timeline = record_redelivery(visibility_timeout=2, seconds=3.5, redis_url=redis_url)
    runs = sorted((s for s in timeline.spans if not s.queued), key=lambda s: s.start)
    assert len(runs) >= 2
    assert [s.status for s in runs[:2]] == [Status.OK, Status.OK]
    assert runs[0].worker != runs[1].worker
    # put back in the queue only once the timeout passed, and while the first run still ran
    assert runs[0].start + 2 <= runs[1].start < runs[0].end
