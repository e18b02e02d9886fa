"""A Celery app for the chapter's tasks: the embedded broker (no server) or Redis, and results that do not wait
in vain.

* `make_app()` builds a Celery app that needs no server: kombu's filesystem
  transport (`FilesystemTransport`, with atomic writes) in a private per-run
  directory (mode 0700) and a file result backend. ``make_app("redis://host:6379/0")``
  is the same app on a real Redis server: only the configuration changes.
* Its results (`QuickResult`) look at the store every 0.05 s, fail in
  Portuguese when the store stops answering (`ResultUnavailable`), and stop
  waiting when the worker that ran the task died (`WorkerDied`, which
  `conctutor.queue.workers` judges).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import numbers
import os
import shutil
import socket
import tempfile
import time
import uuid
import weakref
from collections.abc import Callable, Iterable
from queue import Empty
from typing import Any, NamedTuple

import celery
from celery import states
from celery.result import AsyncResult
from kombu.transport import filesystem as _filesystem
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads as json_loads

from .channel import channel_of, publishing_through, use_channel
from .clock import BOOT_ID
from .reporting import BrokerUnavailable, QueueTask, is_connection_problem, safe_url, short_name

POLLING_INTERVAL = 0.05
"""Seconds between looks at the filesystem broker (kombu's default is 1 s)."""

RESULT_INTERVAL = 0.05
"""Default seconds between looks at the result store in ``AsyncResult.get``."""

CHAPTER_TASKS = ("conctutor.course.queue_tasks",)
"""The modules of the tasks an app runs unless `make_app` is told otherwise: the chapter's. They belong to the
course layer, above this one, so they are named here and imported by name (Celery's ``include``): by `make_app`
in this process and by every worker as it starts."""


class ResultUnavailable(ConnectionError):
    """The result store did not answer: whether the task ended is not known."""


class WorkerDied(RuntimeError):
    """A worker process that a waiting result depended on died: the result will not come."""


WORKER_CHECK_SECONDS = 0.25
"""`QuickResult.get` looks this often whether the workers it depends on are still alive."""

worker_death: Callable[[celery.Celery, str, str], str] | None = None
"""Set by `conctutor.queue.workers`: ``worker_death(app, task_id, task_name)`` says why the result will
never come from the workers it started for `app` ("" while it still may)."""


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
            death = worker_death(self.app, self.id, self._task_name()) if worker_death else ""
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


class QueueApp(celery.Celery):
    """A Celery app whose results poll fast; `make_app` builds one."""

    def send_task(self, name: str, *args: Any, **kwargs: Any) -> Any:
        with publishing_through(self):
            result = super().send_task(name, *args, **kwargs)
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


class AppInfo(NamedTuple):
    """What `make_app` knows of an app it made."""

    settings: dict
    """The JSON-able configuration a worker process rebuilds the app from."""
    directory: str
    """The private run directory (worker logs; broker and results when embedded)."""
    embedded: bool


_apps: weakref.WeakKeyDictionary[celery.Celery, AppInfo] = weakref.WeakKeyDictionary()


def pid_alive(pid: int | None) -> bool:
    """Whether a process of this machine with this pid lives (a zombie does not)."""
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


RUN_DIRECTORY_PREFIX = "conctutor-fila-"
OWNER_FILE = "owner"
"""In each private run directory: ``"pid boot-id"`` of the process that made it."""


def _private_directory() -> str:
    _remove_orphaned_directories()
    directory = tempfile.mkdtemp(prefix=RUN_DIRECTORY_PREFIX)  # mode 0700
    os.chmod(directory, 0o700)
    with open(os.path.join(directory, OWNER_FILE), "w", encoding="ascii") as owner:
        owner.write(f"{os.getpid()} {BOOT_ID}")
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
        if boot == BOOT_ID and pid_alive(pid):
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
            broker_transport="conctutor.queue.app:FilesystemTransport",
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
    settings["conctutor_channel"] = channel  # where records go while they are on (`set_recording`)
    app = app_from_settings(settings, channel if records else "", directory, embedded=broker_url is None)
    weakref.finalize(app, shutil.rmtree, directory, True)
    if broker_url is not None and check:
        check_broker(app, timeout)
    return app


def app_from_settings(settings: dict, channel: str, directory: str, embedded: bool) -> QueueApp:
    """The app `make_app` made, from its settings: in `make_app`, and again in each worker process."""
    app = QueueApp("conctutor", set_as_current=True, task_cls=QueueTask)
    app.conf.update(settings)
    _apps[app] = AppInfo(settings, directory, embedded)
    use_channel(app, channel)
    app.set_default()
    app.finalize(auto=True)
    return app


def set_recording(app: celery.Celery, enabled: bool) -> None:
    """Turn `app`'s records on or off for the messages it publishes from now on."""
    info = app_info(app)
    use_channel(app, (channel_of(app) or info.settings.get("conctutor_channel", "")) if enabled else "")


def app_info(app: celery.Celery) -> AppInfo:
    """What `make_app` knows of `app`; a `TypeError` in Portuguese for an app it did not make."""
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
