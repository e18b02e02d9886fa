"""The record channel: what producers and workers note about each message, and where they send it.

Every message leaves records: the producer notes when it published it; the
worker notes when each execution started and ended, with both clocks, and
what the task declares it does. They travel through a simple channel: one
append-only JSON-lines file per process in the run directory (``dir:<path>``,
embedded), or a Redis list (``redis:<key>``), which `make_app` picks for each
app (`use_channel`). Celery's signals write them, connected when this module is
imported; `read_channel` gives them back (`conctutor.queue.records` joins them
into one `TaskRecord` per execution).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import celery
from celery import signals

from ..engine.settings import get_durations
from . import reporting
from .clock import clock_identity, now
from .reporting import kind_code, needs_of, request_header, time_scale_from_environment

REDIS_RECORDS_TTL = 24 * 3600
"""Seconds a Redis record list lives after its last record."""

OK, ERROR, INTERRUPTED, RUNNING, QUEUED = "ok", "error", "interrupted", "running", "queued"
"""An execution's statuses in the records: an end record says the first three."""

_channels: weakref.WeakKeyDictionary[celery.Celery, str] = weakref.WeakKeyDictionary()
_publishing = threading.local()


def use_channel(app: celery.Celery, channel: str) -> None:
    """Send the records of the messages `app` publishes from now on to `channel` (``""``: no records)."""
    _channels[app] = channel


def channel_of(app: celery.Celery) -> str | None:
    """Where `app`'s records go: ``dir:<path>``, ``redis:<key>``, ``""`` (off), None for an app
    `make_app` did not make."""
    return _channels.get(app)


@contextmanager
def publishing_through(app: celery.Celery) -> Iterator[None]:
    """Within the block, this thread publishes through `app` (`before_task_publish` does not say which)."""
    previous, _publishing.app = getattr(_publishing, "app", None), app
    try:
        yield
    finally:
        _publishing.app = previous


class _DirWriter:
    """Appends one JSON line per record, with a single `os.write`, to a per-process file."""

    def __init__(self, directory: str, prefix: str) -> None:
        name = f"{prefix}-{socket.gethostname()}-{os.getpid()}.jsonl"
        self.fd = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def write(self, record: dict) -> None:
        os.write(self.fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())


class _RedisWriter:
    """Pushes one JSON record per call onto a Redis list."""

    def __init__(self, url: str, key: str) -> None:
        import redis

        self.key = key
        self.client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)

    def write(self, record: dict) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.rpush(self.key, json.dumps(record, separators=(",", ":")))
        pipe.expire(self.key, REDIS_RECORDS_TTL)
        pipe.execute()


_writers: dict[tuple, Any] = {}
_writers_pid = os.getpid()
_writers_lock = threading.Lock()


def write_record(channel: str, url: str, prefix: str, record: dict) -> None:
    """Send `record` to `channel`; a failure is reported on stderr, never raised into a task."""
    global _writers_pid
    try:
        with _writers_lock:
            if _writers_pid != os.getpid():  # a forked child: its own files and connections
                _writers.clear()
                _writers_pid = os.getpid()
            key = (channel, url, prefix)
            writer = _writers.get(key)
            if writer is None:
                if channel.startswith("dir:"):
                    writer = _DirWriter(channel[4:], prefix)
                elif channel.startswith("redis:"):
                    writer = _RedisWriter(url, channel[6:])
                else:
                    return
                _writers[key] = writer
        writer.write(record)
    except Exception as error:
        print(f"conctutor: não consegui guardar um registro da fila ({channel}): {error}", file=sys.stderr)


# --- the signal handlers ---------------------------------------------------------


def _on_publish(sender: str | None = None, headers: dict | None = None, **_: Any) -> None:
    """Producer side: stamp the message and note its publication."""
    if headers is None:
        return
    app = getattr(_publishing, "app", None) or celery.current_app._get_current_object()
    channel = channel_of(app)
    if channel == "":
        return  # records are off for this app
    if channel is None:  # a worker publishing a retry: use the channel of the task it runs
        running = celery.current_task
        channel = request_header(running.request, "conctutor_channel") if running else None
    if channel is None:
        return
    perf, wall = now()
    message = uuid.uuid4().hex
    task_id = headers.get("id", "")
    try:
        defaults = dict(get_durations())
    except Exception:
        defaults = {}
    name = sender or headers.get("task", "")
    headers.update(
        conctutor_msg=message,
        conctutor_channel=channel,
        conctutor_pub_ns=perf,
        conctutor_pub_wall_ns=wall,
        conctutor_clock=clock_identity(),
        conctutor_scale=time_scale_from_environment(),
        conctutor_defaults=defaults,
    )
    write_record(channel, app.conf.broker_url, "producer", {
        "e": "publish", "msg": message, "id": task_id, "task": name, "kind": _declared_kind(app, name),
        "needs": _declared_needs(app, name),
        "t": perf, "w": wall, "clock": clock_identity(), "pid": os.getpid(),
    })


def _declared_needs(app: celery.Celery, name: str) -> list[str]:
    """The tasks the task `name` declares it needs, if this process knows it (`reporting.needs_of`)."""
    try:
        return needs_of(app.tasks.get(name))
    except Exception:
        return []


def _declared_kind(app: celery.Celery, name: str) -> str:
    """What the task `name` declares it does, if this process knows it (`reporting.kind_code`)."""
    try:
        return kind_code(app.tasks.get(name))
    except Exception:
        return ""


_executions: dict[str, tuple[str, str, str, int]] = {}
"""In a worker process: task id -> (execution id, message id, channel, thread CPU ns at the start) of what
it runs now."""
_errors: dict[str, str] = {}


def _on_prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    """Worker side: note the start of an execution (both clocks)."""
    request = task.request
    channel = request_header(request, "conctutor_channel")
    if not channel or task_id is None:
        return
    perf, wall = now()
    message = request_header(request, "conctutor_msg") or ""
    execution = uuid.uuid4().hex
    _executions[task_id] = (execution, message, channel, time.thread_time_ns())
    delivery = getattr(request, "delivery_info", None) or {}
    write_record(channel, task.app.conf.broker_url, "worker", {
        "e": "start", "x": execution, "msg": message, "id": task_id, "task": task.name, "kind": kind_code(task),
        "needs": needs_of(task),
        "t": perf, "w": wall, "clock": clock_identity(), "pid": os.getpid(),
        "host": getattr(request, "hostname", None) or socket.gethostname(),
        "pub": request_header(request, "conctutor_pub_ns"),
        "pubw": request_header(request, "conctutor_pub_wall_ns"),
        "pclock": request_header(request, "conctutor_clock"),
        "redelivered": bool(delivery.get("redelivered")),
        "retries": getattr(request, "retries", 0) or 0,
    })


def _on_failure(task_id: str | None = None, exception: BaseException | None = None, **_: Any) -> None:
    if task_id in _executions:
        _errors[task_id] = f"{type(exception).__name__}: {exception}"


def _on_postrun(task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any) -> None:
    """Worker side, for tasks that are not `QueueTask`: note the end of an execution."""
    if task_id in _executions:
        error = _errors.pop(task_id, "")
        if state not in ("SUCCESS", "FAILURE") and not error:
            error = str(state)  # RETRY, IGNORED, REJECTED...
        _write_end(task, task_id, OK if state == "SUCCESS" else ERROR, error)


def _on_body_end(task: Any, error: BaseException | None) -> None:
    """Worker side (`QueueTask`): the body returned or raised; the result is not stored yet."""
    task_id = getattr(task.request, "id", None)
    if task_id not in _executions:
        return
    if error is None:
        status, text = OK, ""
    elif isinstance(error, Exception):
        status, text = ERROR, f"{type(error).__name__}: {error}"
    else:  # SystemExit, KeyboardInterrupt: the worker is being stopped
        status, text = INTERRUPTED, type(error).__name__
    _errors.pop(task_id, None)
    _write_end(task, task_id, status, text)


def _write_end(task: Any, task_id: str, status: str, error: str) -> None:
    execution, message, channel, cpu_at_start = _executions.pop(task_id)
    cpu = time.thread_time_ns() - cpu_at_start
    perf, wall = now()
    write_record(channel, task.app.conf.broker_url, "worker", {
        "e": "end", "x": execution, "msg": message, "id": task_id, "t": perf, "w": wall,
        "pid": os.getpid(), "status": status, "error": error, "cpu": cpu,
    })


def read_channel(channel: str, url: str | None) -> list[dict]:
    """Every record sent to `channel` (`url`: the Redis server of a ``redis:`` channel), in no set order."""
    lines: list[str] = []
    if channel.startswith("dir:"):
        directory = channel[4:]
        try:
            names = sorted(os.listdir(directory))
        except FileNotFoundError:
            return []
        for name in names:
            if name.endswith(".jsonl"):
                with open(os.path.join(directory, name), encoding="utf-8") as file:
                    lines.extend(file.read().splitlines())
    elif channel.startswith("redis:"):
        import redis

        client = redis.Redis.from_url(str(url), socket_connect_timeout=3, socket_timeout=5)
        try:
            lines = [item.decode() if isinstance(item, bytes) else str(item)
                     for item in client.lrange(channel[6:], 0, -1)]
        finally:
            client.close()
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            continue  # a line cut short by a kill: ignore it
    return parsed


signals.before_task_publish.connect(_on_publish, weak=False)
signals.task_prerun.connect(_on_prerun, weak=False)
signals.task_failure.connect(_on_failure, weak=False)
signals.task_postrun.connect(_on_postrun, weak=False)
reporting.on_body_end = _on_body_end
