"""Task queues with Celery: an embedded broker, real worker processes, and records.

Notebook 07 ("Filas de tarefas") in three lines::

    app = make_app()                          # embedded: no server to install
    with run_workers(app, workers=2, concurrency=1):
        consulta_dados.delay().get(timeout=30)  # from conctutor.queue_tasks
    records = read_records(app)               # one TaskRecord per execution

* `make_app()` builds a Celery app that needs no server: kombu's filesystem
  transport in a private per-run directory (mode 0700) and a file result
  backend. ``make_app("redis://host:6379/0")`` is the same app on a real Redis
  server: only the configuration changes.
* `run_workers()` starts real ``celery worker`` processes (prefork pool, ``-E``)
  and stops them when its block ends, also when the block raises, on
  KeyboardInterrupt, and when the process that started them dies, even by
  SIGKILL: each worker watches its parent on its own (a pipe and the parent's
  pid) and kills its whole process group when the parent is gone.
* Every message leaves records: the producer notes when it published it; the
  worker notes when each execution started and ended, with both clocks. They
  travel through a simple channel: one append-only JSON-lines file per process
  in the run directory (embedded), or a Redis list (Redis). `read_records()`
  joins them; `queue_depth()` counts the messages waiting over time.
* Workers on other machines have other clocks: `measure_clock_offsets()`
  estimates each one's offset NTP-style (a control command that returns the
  worker's ``time.time_ns()``; offset = worker time − midpoint of the round
  trip, error ≤ half the round trip), and `read_records(offsets=...)` uses it.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import logging
import numbers
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from queue import Empty
from typing import Any, NamedTuple

import celery
from celery import signals, states
from celery.result import AsyncResult
from celery.worker.control import control_command
from kombu.transport import filesystem as _filesystem
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads as json_loads

from ..engine.settings import get_durations
from . import reporting
from .reporting import (
    BrokerUnavailable,
    QueueTask,
    is_connection_problem,
    kind_code,
    request_header,
    safe_url,
    short_name,
    time_scale_from_environment,
)

__all__ = [
    "BrokerUnavailable",
    "ClockOffset",
    "ResultUnavailable",
    "TaskRecord",
    "WorkerDied",
    "WorkerGroup",
    "check_broker",
    "make_app",
    "measure_clock_offsets",
    "queue_depth",
    "read_records",
    "run_workers",
    "set_recording",
]

MAX_WORKERS = 64
"""More worker processes than this (per call) is a typo, not a lesson."""

MAX_CONCURRENCY = 64

POLLING_INTERVAL = 0.05
"""Seconds between looks at the filesystem broker (kombu's default is 1 s)."""

RESULT_INTERVAL = 0.05
"""Default seconds between looks at the result store in ``AsyncResult.get``."""

CHAPTER_TASKS = ("conctutor.course.queue_tasks",)
"""The modules of the tasks an app runs unless `make_app` is told otherwise: the chapter's. They belong to the
course layer, above this one, so they are named here and imported by name (Celery's ``include``): by `make_app`
in this process and by every worker as it starts."""

CLOCK_OFFSET_VARIABLE = "CONCTUTOR_TEST_CLOCK_OFFSET_NS"
"""Tests only: nanoseconds added to every clock reading a worker records, and
the worker then claims to be another machine. Simulates a worker whose clock
is off."""

SETTINGS_VARIABLE = "CONCTUTOR_CELERY_SETTINGS"
READY_VARIABLE = "CONCTUTOR_READY_FILE"
REDIS_RECORDS_TTL = 24 * 3600
"""Seconds a Redis record list lives after its last record."""

OK, ERROR, INTERRUPTED, RUNNING, QUEUED = "ok", "error", "interrupted", "running", "queued"


# --- clocks ---------------------------------------------------------------


def _read_boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as file:
            return file.read().strip()
    except OSError:
        return ""


_BOOT_ID = _read_boot_id()


def _test_offset_ns() -> int:
    raw = os.environ.get(CLOCK_OFFSET_VARIABLE, "").strip()
    try:
        return int(raw) if raw else 0
    except ValueError:
        return 0


def clock_identity() -> str:
    """Names this machine's monotonic clock: processes that share it compare
    ``perf_counter_ns`` readings directly (on Linux, one boot of one kernel)."""
    identity = f"{socket.gethostname()}/{_BOOT_ID}"
    offset = _test_offset_ns()
    return f"{identity}+{offset}ns" if offset else identity


def _now() -> tuple[int, int]:
    """(perf_counter_ns, time_ns) of this process, with the test offset added."""
    offset = _test_offset_ns()
    return time.perf_counter_ns() + offset, time.time_ns() + offset


# --- the app ----------------------------------------------------------------


class ResultUnavailable(ConnectionError):
    """The result store did not answer: whether the task ended is not known."""


class WorkerDied(RuntimeError):
    """A worker process that a waiting result depended on died: the result will not come."""


WORKER_CHECK_SECONDS = 0.25
"""`QuickResult.get` looks this often whether the workers it depends on are still alive."""


class QuickResult(AsyncResult):
    """`AsyncResult` that looks at the result store every 0.05 s, not 0.5 s, and does not wait in vain.

    ``get(timeout=...)`` ends within about its timeout: a result store that
    stops answering raises `ResultUnavailable` after `make_app`'s `timeout`,
    and a worker started by `run_workers` that died with the task, or with
    nobody left to run it, raises `WorkerDied` within a fraction of a second.
    """

    def get(self, timeout: float | None = None, propagate: bool = True,
            interval: float = RESULT_INTERVAL, **kwargs: Any) -> Any:
        # Celery calls an on_interval callback only once per get(), so the
        # workers are checked between short waits instead.
        from celery.exceptions import TimeoutError as CeleryTimeout

        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, numbers.Real)
                                    or not 0 <= timeout < float("inf")):
            raise ValueError(f"timeout deve ser um número de segundos (0 ou mais), ou None para esperar sem "
                             f"limite; recebido {timeout!r}")
        deadline = None if timeout is None else time.monotonic() + timeout
        started = time.monotonic()
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            # never 0: Celery reads a timeout of 0 as "wait forever"
            wait = WORKER_CHECK_SECONDS if remaining is None else max(0.001, min(WORKER_CHECK_SECONDS, remaining))
            try:
                return super().get(timeout=wait, propagate=propagate, interval=interval, **kwargs)
            except CeleryTimeout as error:
                if remaining is not None and remaining <= WORKER_CHECK_SECONDS:
                    raise CeleryTimeout(
                        f"a tarefa {self._task_name()} [{self.id}] não terminou em {timeout:g} s "
                        "(o timeout de get); ela pode ainda estar na fila ou rodando."
                    ) from error
            except Exception as error:
                if self._finished() or not is_connection_problem(error):
                    raise  # the task's own error, or not the server's
                raise ResultUnavailable(_no_answer_message(
                    self.app, f"o servidor de resultados {safe_url(self.app.conf.result_backend)}",
                    time.monotonic() - started, error,
                ) + " Não sei se a tarefa terminou.") from error
            death = _worker_death(self.app, self.id, self._task_name())
            if death:
                raise WorkerDied(death)

    def _finished(self) -> bool:
        """True once this result came from the store (so an error now is the task's own)."""
        cache = getattr(self, "_cache", None)
        return isinstance(cache, dict) and cache.get("status") in states.READY_STATES

    def _task_name(self) -> str:
        return short_name(getattr(self, "task_name", None) or "") or "?"  # not .name: that asks the store


def _timed_out(error: BaseException | None) -> str:
    """``"connect"`` or ``"read"`` if `error`, or what caused it, is a socket timeout; else ``""``."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, (socket.timeout, TimeoutError)) or type(error).__name__ == "TimeoutError":
            return "connect" if "connect" in str(error).lower() else "read"
        error = error.__cause__ or error.__context__
        seen += 1
    return ""


def _no_answer_message(app: celery.Celery, server: str, seconds: float, error: BaseException) -> str:
    """What happened when `server` (a phrase: "o broker redis://...") failed `app`, in Portuguese."""
    limit = app.conf.get("conctutor_timeout")
    limit_text = f"{limit:g} s" if isinstance(limit, (int, float)) else "o tempo limite"
    reason = str(error).strip().rstrip(".") or type(error).__name__
    kind = _timed_out(error)
    if kind == "read":
        return (f"{server} aceitou a conexão, mas não respondeu em {limit_text} (o timeout de make_app): {reason}. "
                "Ele está travado (parado, sem memória, sobrecarregado) ou não é um servidor Redis?")
    if kind == "connect":
        return (f"{server} não aceitou a conexão em {limit_text} (o timeout de make_app): {reason}. "
                "O endereço está certo? Um firewall pode estar descartando os pacotes.")
    return (f"não consegui falar com {server} (em {seconds:.1f} s): {reason}. Verifique se o servidor está "
            "rodando (por exemplo `redis-server --port 6379 --bind 127.0.0.1`), se o endereço e a porta da "
            "URL estão certos e se um firewall não bloqueia a conexão.")


def _worker_death(app: celery.Celery, task_id: str, name: str) -> str:
    """Why the result of `task_id` will never come from the workers `run_workers` started for `app`, or "".

    Only workers whose main process died while nobody was stopping them
    count. The result will not come if the task's last execution started on
    one of them and its process is gone, or if it has not run and none of
    `app`'s workers is left. A worker that lives on may still run it, and an
    orphaned pool process may still finish it: then the wait goes on.
    """
    groups = [group for group in list(_live_groups) if group.app is app and not group.stopping]
    dead = {group.hostnames[index]: (group, index) for group in groups
            for index, process in enumerate(group.processes) if process.poll() is not None}
    if not dead:
        return ""
    try:
        executions = [record for record in read_records(app) if record.task_id == task_id]
    except Exception:
        executions = []  # the records cannot tell: judge by the workers alone
    last = executions[-1] if executions else None
    task = f"a tarefa {name} [{task_id}]"
    if last is not None and last.hostname in dead and last.status == INTERRUPTED:
        group, index = dead[last.hostname]
        return (f"{group._death(index)} enquanto rodava {task}: o resultado não vai chegar. "
                f"Últimas linhas do log do worker:\n{group._tail(index)}")
    if (last is None or last.status in (QUEUED, INTERRUPTED)) and not any(group.running for group in groups):
        group, index = next(iter(dead.values()))
        return (f"{group._death(index)}, e nenhum worker deste app está vivo para rodar {task}: o resultado "
                "não vai chegar. Inicie outros com run_workers(app). Últimas linhas do log do worker:\n"
                f"{group._tail(index)}")
    return ""


_publishing = threading.local()
"""The app a thread is publishing through right now (`before_task_publish` has no app)."""


class QueueApp(celery.Celery):
    """A Celery app whose results poll fast; `make_app` builds one."""

    def send_task(self, name: str, *args: Any, **kwargs: Any) -> Any:
        previous, _publishing.app = getattr(_publishing, "app", None), self
        try:
            result = super().send_task(name, *args, **kwargs)
        finally:
            _publishing.app = previous
        if getattr(result, "task_name", None) is None:
            result.task_name = name  # Celery leaves it empty; QuickResult's messages name the task
        return result

    @property
    def AsyncResult(self):
        cached = self.__dict__.get("_quick_result")
        if cached is None:
            cached = self.__dict__["_quick_result"] = self.subclass_with_self(QuickResult)
        return cached


REJECTED_FOLDER = "rejeitadas"
"""Where the embedded broker sets aside a file that is not a message (in the run directory)."""

_log = logging.getLogger(__name__)


class _AtomicFilesystemChannel(_filesystem.Channel):
    """kombu's filesystem channel, but a message file appears only once it is complete, and a file
    that is not a message is set aside instead of killing the worker.

    kombu creates the file, then locks and writes it, while a consumer moves
    and reads files without taking the lock: a consumer polling at that moment
    could read an empty message and lose it. Here the message is written under
    another name and renamed into place (atomic on one filesystem).

    kombu's `_get` raises whatever a bad file makes its JSON parser raise, out
    of the worker's loop, and the worker's main process dies of it. Here such
    a file goes to the ``rejected_folder`` transport option (default: a
    ``rejeitadas`` folder in the data folder), a warning says so, and the
    worker goes on with the next message.
    """

    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{round(time.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + ".part"  # not "<queue>.msg": consumers skip it
        try:
            with open(partial, "wb") as file:
                file.write(_filesystem.str_to_bytes(_filesystem.dumps(payload)))
            os.replace(partial, final)
        except OSError as error:
            raise _filesystem.ChannelError(f"Cannot add file {final!r} to directory") from error

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        """The next message of `queue`, taken like kombu takes it (moved out of the data folder first)."""
        wanted = f"{queue}.msg"
        processed = self.processed_folder if self.store_processed else tempfile.gettempdir()
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != wanted:
                continue
            taken = os.path.join(processed, name)
            try:
                shutil.move(os.path.join(self.data_folder_in, name), taken)
            except OSError:
                continue  # another consumer took it first
            try:
                with open(taken, "rb") as file:
                    payload = json_loads(bytes_to_str(file.read()))
                self.Message(payload, channel=self)  # what the consumer builds next: fail here, not there
                if not isinstance(payload.get("headers") or {}, dict):
                    raise TypeError("headers não é um objeto JSON")  # Celery's consumer would die of it
            except Exception as error:
                self._set_aside(taken, queue, error)
                continue
            if not self.store_processed:
                with contextlib.suppress(OSError):
                    os.remove(taken)
            return payload
        raise Empty()

    def _set_aside(self, path: str, queue: str, error: Exception) -> None:
        folder = self.transport_options.get("rejected_folder") or os.path.join(self.data_folder_in, REJECTED_FOLDER)
        target = os.path.join(folder, os.path.basename(path))
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            shutil.move(path, target)
        except OSError:
            target = path  # it stays where it was taken to: out of the queue all the same
        _log.warning("conctutor: mensagem ilegível posta de lado (fila %r): %s. Ela está em %s; o worker continua.",
                     queue, f"{type(error).__name__}: {error}"[:300], target)


class FilesystemTransport(_filesystem.Transport):
    """The embedded broker's transport: kombu's filesystem transport with atomic writes."""

    Channel = _AtomicFilesystemChannel


class _AppInfo(NamedTuple):
    settings: dict
    """The JSON-able configuration a worker process rebuilds the app from."""
    channel: str
    """Where records go: ``dir:<path>`` or ``redis:<key>``."""
    directory: str
    """The private run directory (worker logs; broker and results when embedded)."""
    embedded: bool


_apps: weakref.WeakKeyDictionary[celery.Celery, _AppInfo] = weakref.WeakKeyDictionary()


RUN_DIRECTORY_PREFIX = "conctutor-fila-"
OWNER_FILE = "owner"
"""In each private run directory: ``"pid boot-id"`` of the process that made it."""


def _private_directory() -> str:
    _remove_orphaned_directories()
    directory = tempfile.mkdtemp(prefix=RUN_DIRECTORY_PREFIX)  # mode 0700
    os.chmod(directory, 0o700)
    with open(os.path.join(directory, OWNER_FILE), "w", encoding="ascii") as owner:
        owner.write(f"{os.getpid()} {_BOOT_ID}")
    return directory


def _remove_orphaned_directories() -> None:
    """Remove the run directories of processes that died without cleaning up (a kernel killed by SIGKILL).

    A finished run's directory goes with its app (garbage collection, or the
    interpreter's exit); a killed process leaves it behind: its broker, its
    results and its records. The next `make_app` removes it.
    """
    base = tempfile.gettempdir()
    try:
        names = [name for name in os.listdir(base) if name.startswith(RUN_DIRECTORY_PREFIX)]
    except OSError:
        return
    for name in names:
        path = os.path.join(base, name)
        try:
            with open(os.path.join(path, OWNER_FILE), encoding="ascii") as owner:
                pid_text, _, boot = owner.read().partition(" ")
            pid = int(pid_text)
        except (OSError, ValueError):
            continue  # not ours to judge: no owner written (yet)
        if boot == _BOOT_ID and _pid_alive(pid):
            continue
        shutil.rmtree(path, ignore_errors=True)


def make_app(broker_url: str | None = None, *, result_backend: str | None = None,
             check: bool = True, timeout: float = 3.0, records: bool = True,
             include: Iterable[str] = CHAPTER_TASKS) -> QueueApp:
    """A Celery app for the chapter's tasks (`conctutor.queue_tasks`).

    With no `broker_url`, everything is embedded: kombu's filesystem transport
    and a file result backend in a fresh private directory, removed when the
    app is garbage-collected or the interpreter exits. With
    ``broker_url="redis://host:port/db"`` the same tasks and settings go
    through Redis (results too, unless `result_backend` says otherwise), and
    the app is checked at once (`check`): an unreachable server raises
    `BrokerUnavailable` within about `timeout` seconds. `timeout` also bounds
    every wait for one answer from the server (connecting, reading), in this
    process and in the workers: a server that accepts connections and never
    answers fails in seconds instead of hanging.

    ``records=False`` publishes and runs the same way without writing
    records (to measure what recording costs).

    `include` names the modules of the tasks the app runs (default: the
    chapter's): they are imported here, and by every worker as it starts.

    The app becomes Celery's current and default app, so
    ``queue_tasks.consulta_dados.delay()`` publishes through it.
    """
    if broker_url is not None and (not isinstance(broker_url, str) or "://" not in broker_url):
        raise ValueError(
            "broker_url deve ser uma URL como 'redis://127.0.0.1:6379/0', ou None para a fila "
            f"embutida (sem servidor); recebido {broker_url!r}"
        )
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not 0 < timeout <= 3600:
        raise ValueError(f"timeout deve ser um número de segundos maior que 0 (até 3600), como 3.0; "
                         f"recebido {timeout!r}")
    timeout = float(timeout)
    include = check_module_names(include)
    for module in include:  # its tasks register on the app as it is made: app.tasks["conctutor.grava_log"]
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ImportError(f"make_app não conseguiu importar o módulo de tarefas {module!r} (include): "
                              f"{error}") from error
    directory = _private_directory()
    common: dict[str, Any] = {
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "enable_utc": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_lost_wait": 1.0,
        "worker_prefetch_multiplier": 1,
        "task_publish_retry": True,
        "task_publish_retry_policy": {"max_retries": 2, "interval_start": 0,
                                      "interval_step": 0.2, "interval_max": 0.5},
        "broker_connection_timeout": timeout,
        # A server that accepts connections and never answers (frozen, or not
        # Redis) must not hang anyone: every read waits at most `timeout`.
        "redis_socket_connect_timeout": timeout,
        "redis_socket_timeout": timeout,
        "conctutor_timeout": timeout,
        "broker_connection_retry_on_startup": False,
        "broker_connection_max_retries": 3,
        "worker_redirect_stdouts_level": "INFO",
        "worker_hijack_root_logger": True,
        "result_extended": True,
        "include": include,
    }
    if broker_url is None:
        data = os.path.join(directory, "broker")
        control = os.path.join(directory, "control")
        results = os.path.join(directory, "results")
        records_dir = os.path.join(directory, "records")
        processed = os.path.join(directory, "processed")
        rejected = os.path.join(directory, REJECTED_FOLDER)
        for folder in (data, control, results, records_dir, processed, rejected):
            os.mkdir(folder, 0o700)
        settings: dict[str, Any] = dict(
            common,
            broker_url="filesystem://",
            broker_transport="conctutor.queue.taskqueue:FilesystemTransport",
            broker_transport_options={"data_folder_in": data, "data_folder_out": data,
                                      "control_folder": control, "polling_interval": POLLING_INTERVAL,
                                      # keep read messages in the private directory, not in /tmp
                                      "store_processed": True, "processed_folder": processed,
                                      "rejected_folder": rejected},
            result_backend=result_backend or "file://" + results,
        )
        channel = "dir:" + records_dir
    else:
        settings = dict(
            common,
            broker_url=broker_url,
            broker_transport_options={"socket_connect_timeout": timeout, "socket_timeout": timeout},
            result_backend=result_backend or broker_url,
            result_backend_transport_options={"retry_policy": {
                "max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}},
        )
        channel = f"redis:conctutor:records:{uuid.uuid4().hex}"
    settings["conctutor_channel"] = channel
    app = _app_from_settings(settings, channel if records else "", directory, embedded=broker_url is None)
    weakref.finalize(app, shutil.rmtree, directory, True)
    if broker_url is not None and check:
        check_broker(app, timeout)
    return app


def _app_from_settings(settings: dict, channel: str, directory: str, embedded: bool) -> QueueApp:
    app = QueueApp("conctutor", set_as_current=True, task_cls=QueueTask)
    app.conf.update(settings)
    _apps[app] = _AppInfo(settings, channel, directory, embedded)
    app.set_default()
    app.finalize(auto=True)
    return app


def set_recording(app: celery.Celery, enabled: bool) -> None:
    """Turn `app`'s records on or off for the messages it publishes from now on."""
    info = _info(app)
    if enabled and not info.channel:
        channel = info.settings.get("conctutor_channel", "")
    else:
        channel = info.channel
    _apps[app] = info._replace(channel=channel if enabled else "")


def _info(app: celery.Celery) -> _AppInfo:
    try:
        return _apps[app]
    except KeyError:
        raise TypeError(
            f"esperava um app criado por conctutor.taskqueue.make_app(); recebido {app!r}"
        ) from None


def check_broker(app: celery.Celery, timeout: float = 3.0) -> None:
    """Raise `BrokerUnavailable` (in Portuguese) if `app`'s broker cannot be reached in `timeout` s."""
    url = app.conf.broker_url
    started = time.monotonic()
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2,
                                         interval_max=0.2, timeout=timeout)
    except Exception as error:  # kombu wraps socket errors in several ways
        raise BrokerUnavailable(
            _no_answer_message(app, f"o broker {safe_url(url)}", time.monotonic() - started, error)
            + " Para usar a fila embutida, sem servidor, chame make_app() sem URL."
        ) from error


def check_module_names(modules: Iterable[str] | str, what: str = "include") -> list[str]:
    """`modules` as a list of dotted module names; a `ValueError` in Portuguese for anything else."""
    names = [modules] if isinstance(modules, str) else list(modules)
    for name in names:
        if not isinstance(name, str) or not all(part.isidentifier() for part in name.split(".")):
            raise ValueError(f"{what} deve ser uma lista de nomes de módulos, como ['minhas_tarefas']; "
                             f"recebido {name!r}")
    return names


# --- records: the channel -----------------------------------------------------


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


def _write(channel: str, url: str, prefix: str, record: dict) -> None:
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


# --- records: the signal handlers ---------------------------------------------


def _on_publish(sender: str | None = None, headers: dict | None = None, **_: Any) -> None:
    """Producer side: stamp the message and note its publication."""
    if headers is None:
        return
    app = getattr(_publishing, "app", None) or celery.current_app._get_current_object()
    info = _apps.get(app)
    if info is not None and not info.channel:
        return  # records are off for this app
    channel = info.channel if info else None
    if channel is None:  # a worker publishing a retry: use the channel of the task it runs
        running = celery.current_task
        channel = request_header(running.request, "conctutor_channel") if running else None
    if channel is None:
        return
    perf, wall = _now()
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
    _write(channel, app.conf.broker_url, "producer", {
        "e": "publish", "msg": message, "id": task_id, "task": name, "kind": _declared_kind(app, name),
        "t": perf, "w": wall, "clock": clock_identity(), "pid": os.getpid(),
    })


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
    perf, wall = _now()
    message = request_header(request, "conctutor_msg") or ""
    execution = uuid.uuid4().hex
    _executions[task_id] = (execution, message, channel, time.thread_time_ns())
    delivery = getattr(request, "delivery_info", None) or {}
    _write(channel, task.app.conf.broker_url, "worker", {
        "e": "start", "x": execution, "msg": message, "id": task_id, "task": task.name, "kind": kind_code(task),
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
    perf, wall = _now()
    _write(channel, task.app.conf.broker_url, "worker", {
        "e": "end", "x": execution, "msg": message, "id": task_id, "t": perf, "w": wall,
        "pid": os.getpid(), "status": status, "error": error, "cpu": cpu,
    })


def conctutor_clock(state: Any, **_: Any) -> dict:
    """Worker control command: this machine's clock, for `measure_clock_offsets`."""
    perf, wall = _now()
    return {"time_ns": wall, "perf_ns": perf, "clock": clock_identity()}


# --- records: reading them back -----------------------------------------------


class ClockOffset(NamedTuple):
    """How far a worker machine's wall clock is from ours: worker − producer."""

    hostname: str
    clock: str
    offset_ns: int
    error_ns: int
    """Bound on the error: half the shortest round trip of the samples."""
    rtt_ns: int


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


def _read_lines(channel: str, url: str | None) -> list[dict]:
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


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        import psutil

        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE
    except Exception:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


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
    info = _info(app)
    lines = _read_lines(info.channel, app.conf.broker_url)
    by_clock: dict[str, ClockOffset] = {}
    if offsets is not None:
        values = offsets.values() if isinstance(offsets, Mapping) else offsets
        for offset in values:
            by_clock[offset.clock] = offset
    mine = clock_identity()
    wall_minus_perf = time.time_ns() - time.perf_counter_ns()

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
        else:  # published elsewhere: the worker copied the stamps from the headers
            first = runs[0]
            publish_ns = align(first.get("pclock"), first.get("pub"), first.get("pubw"))[0]
            publish_wall, task_id, task_name, producer_pid = first.get("pubw"), first["id"], first["task"], None
            declared = ""
        if not runs:
            records.append(TaskRecord(
                task_id, short_name(task_name), QUEUED, publish_ns, None, None, None, "", "", 0, False, message,
                task_name, publish_wall, None, None, None, None, "", None, None, producer_pid, None, declared,
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
                gone = run.get("clock") == mine and not _pid_alive(run.get("pid"))
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
                run.get("kind") or declared,
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


def measure_clock_offsets(app: celery.Celery, hostnames: Iterable[str] | None = None, *, samples: int = 7,
                          timeout: float = 2.0) -> dict[str, ClockOffset]:
    """Estimate each running worker's wall-clock offset from ours, NTP-style.

    For each worker, `samples` times: note our time, ask the worker for its
    ``time_ns`` (a control command), note our time again. The worker read its
    clock somewhere inside that round trip, so offset = its time − our
    midpoint, wrong by at most half the round trip; the sample with the
    shortest round trip wins. `hostnames` (for example ``group.hostnames``)
    saves asking every worker first, which waits `timeout` for answers.
    Returns ``{hostname: ClockOffset}``.
    """
    if hostnames is None:
        found = app.control.broadcast("conctutor_clock", reply=True, timeout=timeout)
        hosts = sorted({name for reply in found or [] for name in reply})
    else:
        hosts = list(hostnames)
    result: dict[str, ClockOffset] = {}
    for host in hosts:
        best: ClockOffset | None = None
        for _ in range(samples):
            wall0, perf0 = time.time_ns(), time.perf_counter_ns()
            replies = app.control.broadcast("conctutor_clock", reply=True, destination=[host],
                                            limit=1, timeout=timeout)
            rtt = time.perf_counter_ns() - perf0
            answer = next((reply[host] for reply in replies or [] if host in reply), None)
            if not isinstance(answer, dict) or "time_ns" not in answer:
                continue
            offset = answer["time_ns"] - (wall0 + rtt // 2)
            if best is None or rtt < best.rtt_ns:
                best = ClockOffset(host, answer.get("clock", ""), offset, rtt // 2 + 1, rtt)
        if best is not None:
            result[host] = best
    return result


# --- worker processes -----------------------------------------------------------


_LAUNCHER = "import sys; from conctutor.queue.taskqueue import _worker_main; _worker_main(sys.argv[1:])"


def _check_count(value: object, what: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{what} deve ser um número inteiro entre 1 e {maximum}; recebido {type(value).__name__}: {value!r}"
        )
    if not 1 <= int(value) <= maximum:
        hint = " (zero workers não executariam nada)" if int(value) == 0 else ""
        raise ValueError(f"{what} deve ser um número inteiro entre 1 e {maximum}{hint}; recebido {value!r}")
    return int(value)


_POOL_PRINT = re.compile(r"^\[([^\]]*): INFO/ForkPoolWorker-\d+\] (.*)$")
"""A line a task printed, as the worker logs it: ``[date: INFO/ForkPoolWorker-1] text``."""
_TASK_LOG = re.compile(r"Task [\w.]+\[[0-9a-f-]+\] (?:succeeded|raised|retry|ignored)")
"""Celery's own line about a task, logged from the pool process too."""


class WorkerGroup:
    """The worker processes a `run_workers` block started."""

    def __init__(self, app: celery.Celery, directory: str, stop_timeout: float = 10.0, how: str = "term") -> None:
        self.app = app
        self.directory = directory
        self.stop_timeout = stop_timeout
        self.how = how
        self.processes: list[subprocess.Popen] = []
        self.hostnames: list[str] = []
        self.logs: list[str] = []
        self._lifelines: list[int] = []
        self.stop_seconds: float | None = None
        """How long the last `stop` took."""
        self.stopping = False
        """True once `stop` or `kill` began: a worker that dies from then on was not lost."""
        self._printed: dict[int, int] = {}

    @property
    def pids(self) -> list[int]:
        """The main process of each worker."""
        return [process.pid for process in self.processes]

    def all_pids(self) -> list[int]:
        """The main processes and every process in their groups (the pool children)."""
        import psutil

        found = set()
        for process in self.processes:
            if process.poll() is None:
                found.add(process.pid)
                try:
                    found.update(child.pid for child in psutil.Process(process.pid).children(recursive=True))
                except psutil.Error:
                    pass
        return sorted(found)

    def prints(self) -> list[str]:
        """What the tasks printed since the last call, in time order: ``"w1: Gravando log..."``.

        A worker is a separate program: its tasks' prints go to its log, not
        to the notebook. This picks them out of `output` (Celery logs them
        from the pool processes at INFO level, with the time to the millisecond).
        """
        stamped = []
        for index, (hostname, path) in enumerate(zip(self.hostnames, self.logs)):
            short = hostname.split("-", 1)[0]
            try:
                with open(path, "rb") as file:
                    file.seek(self._printed.get(index, 0))
                    data = file.read()
            except OSError:
                continue
            complete = data[:data.rfind(b"\n") + 1]  # a line still being written waits for the next call
            self._printed[index] = self._printed.get(index, 0) + len(complete)
            for line in complete.decode("utf-8", errors="replace").splitlines():
                match = _POOL_PRINT.match(line)
                if match and not _TASK_LOG.match(match.group(2)):
                    stamped.append((match.group(1), index, f"{short}: {match.group(2)}"))
        return [text for *_, text in sorted(stamped, key=lambda item: item[:2])]

    def output(self) -> str:
        """Everything the workers wrote (their logs and the tasks' prints), worker by worker."""
        parts = []
        for hostname, path in zip(self.hostnames, self.logs):
            try:
                with open(path, encoding="utf-8", errors="replace") as file:
                    parts.append(f"--- {hostname} ---\n{file.read()}")
            except OSError:
                pass
        return "\n".join(parts)

    def _start(self, workers: int, concurrency: int, env: Mapping[str, str] | None,
               extra_args: Iterable[str]) -> None:
        info = _info(self.app)
        token = uuid.uuid4().hex[:6]
        # the folder that holds the conctutor package: as many levels up as this module's name is deep
        package_parent = str(Path(__file__).resolve().parents[__name__.count(".")])
        base_env = dict(os.environ)
        base_env["PYTHONUNBUFFERED"] = "1"
        base_env[SETTINGS_VARIABLE] = json.dumps(
            {"settings": info.settings, "channel": info.channel, "directory": info.directory,
             "embedded": info.embedded})
        base_env.update(env or {})
        # first on the path even when `env` sets one: the workers run this very package
        base_env["PYTHONPATH"] = os.pathsep.join(
            [package_parent] + [p for p in base_env.get("PYTHONPATH", "").split(os.pathsep) if p])
        for index in range(1, workers + 1):
            hostname = f"w{index}-{token}@{socket.gethostname()}"
            log = os.path.join(self.directory, f"worker-{index}-{token}.log")
            ready = os.path.join(self.directory, f"ready-{index}-{token}")
            read_end, write_end = os.pipe()
            command = [
                sys.executable, "-c", _LAUNCHER, str(os.getpid()), str(read_end),
                "--", "worker", "--pool=prefork", f"--concurrency={concurrency}", "-E",
                f"--hostname={hostname}", "--without-mingle", "--without-gossip", "--without-heartbeat",
                "--loglevel=INFO", *extra_args,
            ]
            with open(log, "ab") as output:
                process = subprocess.Popen(
                    command, env=dict(base_env, **{READY_VARIABLE: ready}), stdin=subprocess.DEVNULL,
                    stdout=output, stderr=subprocess.STDOUT, pass_fds=(read_end,), start_new_session=True,
                    cwd=self.directory,
                )
            os.close(read_end)
            self._lifelines.append(write_end)
            self.processes.append(process)
            self.hostnames.append(hostname)
            self.logs.append(log)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = set(range(len(self.processes)))
        while pending:
            for index in sorted(pending):
                ready = os.path.join(self.directory, "ready-" + os.path.basename(self.logs[index])[7:-4])
                if os.path.exists(ready):
                    pending.discard(index)
                elif self.processes[index].poll() is not None:
                    raise RuntimeError(
                        f"o worker {self.hostnames[index]} terminou ao iniciar (código "
                        f"{self.processes[index].returncode}). Últimas linhas do log:\n{self._tail(index)}"
                    )
            if pending and time.monotonic() > deadline:
                raise TimeoutError(
                    f"{len(pending)} worker(s) não ficaram prontos em {timeout:g} s. Verifique o broker "
                    f"({safe_url(self.app.conf.broker_url)}) e o log:\n{self._tail(min(pending))}"
                )
            if pending:
                time.sleep(0.02)

    def _tail(self, index: int, lines: int = 15) -> str:
        try:
            with open(self.logs[index], encoding="utf-8", errors="replace") as file:
                return "\n".join(file.read().splitlines()[-lines:])
        except OSError:
            return "(sem log)"

    def _death(self, index: int) -> str:
        """How worker `index` ended, in Portuguese (it has ended)."""
        code = self.processes[index].returncode
        how = f"código de saída {code}"
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):
                how = f"morto pelo sinal {signal.Signals(-code).name}"
        return f"o worker {self.hostnames[index]} (pid {self.processes[index].pid}) terminou inesperadamente ({how})"

    def kill(self) -> None:
        """SIGKILL every worker's whole process group at once."""
        self.stopping = True
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        for process in self.processes:
            with contextlib.suppress(Exception):
                process.wait(timeout=5)
        self._close_lifelines()
        _live_groups.discard(self)

    def _close_lifelines(self) -> None:
        for fd in self._lifelines:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._lifelines.clear()

    def __enter__(self) -> WorkerGroup:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True while any worker's main process is alive."""
        return any(process.poll() is None for process in self.processes)

    def stop(self, timeout: float | None = None, how: str | None = None) -> float:
        """Stop the workers, then SIGKILL what is left of their groups; returns the seconds it took.

        ``how="term"``: SIGTERM (warm shutdown: finish running tasks, give
        prefetched messages back); ``"quit"``: SIGQUIT (cold shutdown: stop
        now; with ``acks_late``, unfinished messages stay in the queue on
        Redis, but are lost on the embedded broker); ``"kill"``: SIGKILL at once.
        """
        timeout = self.stop_timeout if timeout is None else timeout
        how = how or self.how
        started = time.monotonic()
        self.stopping = True
        try:
            if how == "kill":
                self.kill()
            else:
                number = signal.SIGQUIT if how == "quit" else signal.SIGTERM
                for process in self.processes:
                    if process.poll() is None:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(process.pid, number)
                deadline = started + timeout
                for process in self.processes:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        process.wait(timeout=max(0.0, deadline - time.monotonic()))
                # whatever is left, the main process or an orphaned pool child, dies now
                self.kill()
        except BaseException:
            self.kill()  # interrupted while waiting: no survivors
            raise
        self.stop_seconds = time.monotonic() - started
        return self.stop_seconds


def run_workers(app: celery.Celery, workers: int = 2, concurrency: int = 1, *, include: Iterable[str] = (),
                ready_timeout: float = 60.0, stop_timeout: float = 10.0, stop: str = "term",
                env: Mapping[str, str] | None = None, extra_args: Iterable[str] = ()) -> WorkerGroup:
    """Start `workers` real ``celery worker`` processes for `app`; use the result in a ``with``.

    ::

        with run_workers(app, workers=2, concurrency=1) as group:
            ...                      # publish, read results

    Each worker runs a prefork pool of `concurrency` processes, with task
    events on (``-E``). The call returns once every worker is ready to
    consume. At the end of the ``with`` block, also after an exception or a
    KeyboardInterrupt, the workers are stopped (`WorkerGroup.stop`: `stop`
    is ``"term"``, ``"quit"`` or ``"kill"``; at most `stop_timeout` seconds,
    then SIGKILL of each worker's process group). Without ``with``, call
    ``group.stop()`` yourself (a notebook can keep one group for several
    cells). If this process dies, even by SIGKILL, each worker notices on its
    own within a fraction of a second and kills its own process group.

    `include` names modules of your own tasks (``["minhas_tarefas"]``) that
    the workers import, found like an ``import`` in this process (the
    current directory first): a worker cannot see a task defined in a
    notebook cell.
    """
    if sys.platform == "win32":
        raise OSError(
            "run_workers não funciona no Windows: os workers daqui usam o pool prefork do Celery e grupos de "
            "processos do Unix, que o Windows não tem. Rode este notebook no WSL 2 (um Linux dentro do Windows)."
        )
    workers = _check_count(workers, "workers (o número de processos worker)", MAX_WORKERS)
    modules = check_module_names(include)
    if modules:
        extra_args = [*extra_args, f"--include={','.join(modules)}"]
        env = dict(env or {})
        env.setdefault("PYTHONPATH", os.pathsep.join(
            [os.getcwd(), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]))
    concurrency = _check_count(concurrency, "concurrency (processos por worker)", MAX_CONCURRENCY)
    if stop not in ("term", "quit", "kill"):
        raise ValueError(f"stop deve ser 'term', 'quit' ou 'kill'; recebido {stop!r}")
    info = _info(app)
    check_broker(app)
    group = WorkerGroup(app, info.directory, stop_timeout, stop)
    try:
        group._start(workers, concurrency, env, extra_args)
        _live_groups.add(group)
        group._wait_ready(ready_timeout)
    except BaseException:
        group.kill()
        raise
    return group


_live_groups: weakref.WeakSet[WorkerGroup] = weakref.WeakSet()


@atexit.register
def _kill_live_groups() -> None:
    """At interpreter exit: no worker outlives us (they would notice anyway)."""
    for group in list(_live_groups):
        with contextlib.suppress(Exception):
            group.kill()


# --- the worker process ------------------------------------------------------------


def _watch_parent(parent: int, lifeline: int, directory: str | None = None) -> None:
    """Kill this worker's whole process group as soon as the process that started it is gone.

    The parent holds the write end of `lifeline`: when it dies, even by
    SIGKILL, the kernel closes it and the read returns EOF. The parent's pid
    is checked too, in case a forked copy of the parent still holds the pipe.
    """
    while True:
        try:
            readable, _, _ = select.select([lifeline], [], [], 0.25)
            if readable and not os.read(lifeline, 1):
                break
        except InterruptedError:
            continue
        except OSError:
            break
        if os.getppid() != parent:
            break
    with contextlib.suppress(Exception):
        sys.stderr.write("conctutor: o processo que iniciou este worker terminou; encerrando o grupo.\n")
        sys.stderr.flush()
    if directory and os.path.basename(directory).startswith("conctutor-fila-"):
        # nobody is left to remove the private run directory (broker, results, records)
        shutil.rmtree(directory, ignore_errors=True)
    os.killpg(os.getpgrp(), signal.SIGKILL)


STOP_CHECK_SECONDS = 0.2
"""In a worker on the embedded broker: the longest wait for messages before the
worker looks again whether it was asked to stop."""


def _notice_stops_quickly() -> None:
    """Make a worker on the filesystem transport notice SIGTERM/SIGQUIT within ~0.2 s.

    Celery's loop for transports without an event loop checks its stop flag
    only between waits for messages of up to 2 s, and waits once more after
    seeing it: a stop took 5.5-6.6 s. Capping each wait changes nothing else
    (the transport polls the folder every 0.05 s anyway). Done in worker
    processes only: elsewhere a shorter wait could cut a caller's timeout short.
    """
    from kombu.transport import filesystem

    original = filesystem.Transport.drain_events

    def drain_events(self: Any, connection: Any, timeout: float | None = None) -> Any:
        if timeout is not None:
            timeout = min(timeout, STOP_CHECK_SECONDS)
        return original(self, connection, timeout=timeout)

    filesystem.Transport.drain_events = drain_events  # type: ignore[method-assign]


def _note_lost_executions() -> None:
    """In a worker's main process: note when a pool child died in the middle of a task.

    The child cannot write its own end, so the main process writes a ``lost``
    record when Celery learns the child is gone (up to ``worker_lost_wait``
    after the death), for the message and the child's pid.
    """
    from billiard.exceptions import WorkerLostError
    from celery.worker import request as request_module

    original = request_module.Request.on_failure

    def on_failure(self: Any, exc_info: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            error = getattr(exc_info, "exception", None)
            error = getattr(error, "exc", error)
            if isinstance(error, (WorkerLostError, SystemExit, KeyboardInterrupt)):
                headers = getattr(self._message, "headers", None) or {}
                channel = headers.get("conctutor_channel")
                if channel:
                    perf, wall = _now()
                    _write(channel, self.app.conf.broker_url, "main", {
                        "e": "lost", "msg": headers.get("conctutor_msg", ""), "id": self.id,
                        "pid": self.worker_pid, "t": perf, "w": wall, "error": f"{type(error).__name__}: {error}",
                    })
        except Exception:
            pass
        return original(self, exc_info, *args, **kwargs)

    request_module.Request.on_failure = on_failure


def _worker_main(argv: list[str]) -> None:
    """One worker started by `run_workers`: ``argv`` is ``PARENT_PID FD -- worker ARGS...``."""
    parent, lifeline = int(argv[0]), int(argv[1])
    celery_argv = argv[argv.index("--") + 1:]
    if os.getppid() != parent:  # the parent died before we got here
        os.killpg(os.getpgrp(), signal.SIGKILL)
    config = json.loads(os.environ[SETTINGS_VARIABLE])
    threading.Thread(target=_watch_parent, args=(parent, lifeline, config["directory"]),
                     name="conctutor-watchdog", daemon=True).start()
    _notice_stops_quickly()
    _note_lost_executions()
    app = _app_from_settings(config["settings"], config["channel"], config["directory"], config["embedded"])
    ready = os.environ.get(READY_VARIABLE)

    if ready:
        @signals.worker_ready.connect(weak=False)
        def _ready(**_: Any) -> None:
            with open(ready, "w") as file:
                file.write(str(os.getpid()))

    code: object = 0
    try:
        app.worker_main(celery_argv)
    except SystemExit as exit_:
        code = exit_.code
    # The worker has stopped its pool and given unfinished messages back. Skip
    # the interpreter's exit handlers: billiard's pool finalizer would wait ~1 s
    # more for a helper thread that has nothing left to do.
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))


def _standalone_main(argv: list[str]) -> None:
    """``python -m conctutor.taskqueue --broker redis://host:6379/0 [--concurrency N]``.

    A worker for another machine, started by hand: it consumes the chapter's
    tasks from that broker and records them where each message says.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m conctutor.taskqueue",
                                     description="Um worker Celery para as tarefas do conctutor.")
    parser.add_argument("--broker", required=True, help="URL do broker, por exemplo redis://servidor:6379/0")
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--hostname", default=f"w-{uuid.uuid4().hex[:6]}@{socket.gethostname()}")
    options = parser.parse_args(argv)
    _check_count(options.concurrency, "--concurrency", MAX_CONCURRENCY)
    app = make_app(options.broker)
    app.worker_main(["worker", "--pool=prefork", f"--concurrency={options.concurrency}", "-E",
                     f"--hostname={options.hostname}", "--loglevel=INFO"])


if __name__ == "__main__":
    # Run the real module's code: its signal handlers are the ones connected.
    from conctutor.queue.taskqueue import _standalone_main as _main

    _main(sys.argv[1:])
else:
    signals.before_task_publish.connect(_on_publish, weak=False)
    signals.task_prerun.connect(_on_prerun, weak=False)
    signals.task_failure.connect(_on_failure, weak=False)
    signals.task_postrun.connect(_on_postrun, weak=False)
    reporting.on_body_end = _on_body_end
    control_command()(conctutor_clock)
