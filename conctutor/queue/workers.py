"""Real ``celery worker`` processes for an app of `make_app`, that never outlive their block or their parent.

* `run_workers()` starts real ``celery worker`` processes (prefork pool, ``-E``)
  and stops them when its block ends, also when the block raises, on
  KeyboardInterrupt, and when the process that started them dies, even by
  SIGKILL: each worker watches its parent on its own (a pipe and the parent's
  pid) and kills its whole process group when the parent is gone.
* `WorkerGroup` is what it started: pids, logs, what the tasks printed, stop.
* A result waiting on a worker that died stops waiting (`worker_death`, which
  `conctutor.queue.app.QuickResult` asks).
* `_worker_main` is each worker process, `_standalone_main` a worker started by
  hand on another machine (``python -m conctutor.taskqueue --broker redis://...``).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import celery
from celery import signals

from ..engine import validate
from . import app as app_module
from .app import app_from_settings, app_info, check_broker, check_module_names, make_app
from .channel import INTERRUPTED, QUEUED, channel_of, write_record
from .clock import now
from .records import read_records
from .reporting import safe_url

MAX_WORKERS = 64
"""More worker processes than this (per call) is a typo, not a lesson."""

MAX_CONCURRENCY = 64

SETTINGS_VARIABLE = "CONCTUTOR_CELERY_SETTINGS"
READY_VARIABLE = "CONCTUTOR_READY_FILE"

_LAUNCHER = "import sys; from conctutor.queue.workers import _worker_main; _worker_main(sys.argv[1:])"


def _check_count(value: object, what: str, maximum: int) -> int:
    return int(validate.number(value, what, 1, maximum, whole=True, note="zero workers não executariam nada"))


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
        info = app_info(self.app)
        token = uuid.uuid4().hex[:6]
        # the folder that holds the conctutor package: as many levels up as this module's name is deep
        package_parent = str(Path(__file__).resolve().parents[__name__.count(".")])
        base_env = dict(os.environ)
        base_env["PYTHONUNBUFFERED"] = "1"
        base_env[SETTINGS_VARIABLE] = json.dumps(
            {"settings": info.settings, "channel": channel_of(self.app), "directory": info.directory,
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
    info = app_info(app)
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
                    perf, wall = now()
                    write_record(channel, self.app.conf.broker_url, "main", {
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
    app = app_from_settings(config["settings"], config["channel"], config["directory"], config["embedded"])
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


def worker_death(app: celery.Celery, task_id: str, name: str) -> str:
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


app_module.worker_death = worker_death
