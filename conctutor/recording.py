"""Recording task executions: the `task` wrapper, `record()` and the worker logs.

How a span reaches the timeline, in one line each:

* a `Task` asks the process's current *sink* to `begin` a span, runs its body
  and tells the sink to `end` it;
* in the process that called `record()`, the sink is the `Recording`, which
  keeps spans in a list (threads append to it directly);
* in a worker process, the sink is a `WorkerLog`: one append-only file per
  process, in a private temporary directory of the recording. A task learns
  that directory because it travels *pickled* to the worker (see
  `Task.__reduce__`), or because a forked worker inherited the `Recording`;
* the `Recording` reads those files whenever someone asks for the spans, so
  a worker killed mid-task still leaves the start of its span behind.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import itertools
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from threading import current_thread, main_thread
from time import perf_counter_ns, thread_time_ns
from typing import TYPE_CHECKING, Any

from . import calibration, durations
from .cpu import CpuSampler
from .spans import ERROR, INTERRUPTED, OK, RUNNING, RawSpan, running_intervals

if TYPE_CHECKING:
    from .live import LiveView
    from .timeline import Timeline

_pid = os.getpid()


def _after_fork_in_child() -> None:
    global _pid
    _pid = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

_sink: Recording | WorkerLog | None = None
"""Where tasks running in this process report their spans (None: nowhere)."""

_current = threading.local()
"""The span each thread is running right now (`wait` and `calcula` add to it)."""


# --- the task wrapper --------------------------------------------------------


class Task:
    """A chapter task: a plain function that reports a span when recorded.

    Call it exactly like the function it wraps. ``segundos=`` (keyword or the
    last positional argument) overrides the adjustable default duration;
    either way the time scale applies.
    """

    def __init__(self, body: Callable[..., Any], kind: str) -> None:
        functools.update_wrapper(self, body)
        self.name: str = body.__name__
        self.kind = kind
        parameters = list(inspect.signature(body).parameters.values())
        if not parameters or parameters[-1].name != "segundos":
            raise TypeError(f"a task's last parameter must be 'segundos': {self.name}")
        self._segundos_position = len(parameters) - 1
        durations.register_default(self.name, parameters[-1].default)

    def __call__(self, *args: Any, segundos: object = None) -> Any:
        if len(args) > self._segundos_position:
            segundos, args = args[self._segundos_position], args[: self._segundos_position]
        seconds = durations.effective_seconds(self.name, segundos)
        sink = _sink
        if sink is None:
            return self.__wrapped__(*args, seconds)
        raw = sink.begin(self.name, self.kind, seconds)
        previous, _current.span = getattr(_current, "span", None), raw
        try:
            result = self.__wrapped__(*args, seconds)
        except Exception as error:
            sink.end(raw, ERROR, f"{type(error).__name__}: {error}")
            raise
        except BaseException as stop:  # KeyboardInterrupt, SystemExit
            sink.end(raw, INTERRUPTED, type(stop).__name__)
            raise
        finally:
            _current.span = previous
        sink.end(raw, OK)
        return result

    def __reduce__(self) -> tuple:
        # What travels to a worker process: a reference to this task plus the
        # settings the worker must share with us (durations, time scale,
        # calibration) and where to report its spans.
        recording = _sink if isinstance(_sink, Recording) and _sink.is_open else None
        settings = (
            _pid,
            durations.default_seconds(self.name),
            durations.time_scale(),
            calibration.iterations_per_second() if self.kind == "cpu" else None,
            recording.directory if recording else None,
        )
        return (_task_in_worker, (self.__module__, self.name, settings))

    def __repr__(self) -> str:
        return f"<conctutor task {self.name}>"

    def __get__(self, instance: object, owner: type | None = None) -> Task:
        return self  # stays a plain function when stored on a class


def task(kind: str = "io") -> Callable[[Callable[..., Any]], Task]:
    """Decorator: make a function whose last parameter is ``segundos`` a `Task`."""
    if kind not in ("io", "cpu"):
        raise ValueError(f"kind must be 'io' or 'cpu', not {kind!r}")
    return lambda body: Task(body, kind)


def _task_in_worker(module: str, name: str, settings: tuple) -> Task:
    """Unpickle a task: adopt the sender's settings when we are another process."""
    global _sink
    sender_pid, default_seconds, scale, rate, directory = settings
    found = getattr(importlib.import_module(module), name)
    if sender_pid != _pid:
        durations.adopt(name, default_seconds, scale)
        if rate is not None:
            calibration.adopt(rate)
        if directory is None:
            _sink = None
        elif not (isinstance(_sink, WorkerLog) and _sink.directory == directory):
            if isinstance(_sink, WorkerLog):
                _sink.close()
            _sink = WorkerLog(directory)
    return found


def current_span() -> RawSpan | None:
    """The span the calling thread is running, if it is being recorded."""
    return getattr(_current, "span", None)


def wait(seconds: float) -> None:
    """Sleep like `time.sleep`, and note on the current span that it was waiting."""
    raw = getattr(_current, "span", None)
    if raw is None:
        time.sleep(seconds)
        return
    started = time.perf_counter_ns()
    # Note the wait before sleeping (with its planned end), so a live reading of
    # the timeline sees the task waiting now, not running; then the real end.
    planned = (started, started + round(seconds * 1e9))
    raw.waits.append(planned)
    sink = _sink
    if sink is not None:
        sink.note_wait(raw, planned)
    try:
        time.sleep(seconds)
    finally:
        raw.waits[-1] = (started, time.perf_counter_ns())


# This and `_finish` run twice per recorded task: keep them lean.
def _new_raw(seq: int, name: str, kind: str, seconds: float) -> RawSpan:
    thread = current_thread()
    return RawSpan(
        seq, name, kind, perf_counter_ns(), None, _pid, thread.ident or 0, thread.name,
        thread is main_thread(), RUNNING, thread_time_ns(), seconds, None, [], "", "",
    )


def _finish(raw: RawSpan, status: str, error: str) -> None:
    raw.cpu_ns = thread_time_ns() - raw.cpu_ns
    raw.error = error
    raw.status = status
    raw.end_ns = perf_counter_ns()


# --- worker processes: one append-only log file per process ------------------


_log_sequence = itertools.count()
"""Numbers the spans a process logs. One counter for the whole process, so two
logs it may hold on the same file (inherited by fork, then sent by pickle)
never reuse a number."""


def _clean(text: str) -> str:
    return text.replace("\t", " ").replace("\n", " ")


class WorkerLog:
    """The sink of a worker process: appends one line per span start and end.

    Each line is written with a single `os.write` to a file opened in append
    mode, so it is in the operating system's hands at once: killing the
    worker a moment later loses nothing.
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._open()

    def _open(self) -> None:
        self.pid = _pid
        try:
            self._fd: int | None = os.open(
                os.path.join(self.directory, f"{_pid}.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
            )
        except OSError:
            self._fd = None  # the recording is over: run without reporting

    def begin(self, name: str, kind: str, seconds: float) -> RawSpan:
        if self.pid != _pid:  # we were inherited by a forked child: it gets its own file
            self.close()
            self._open()
        raw = _new_raw(next(_log_sequence), name, kind, seconds)
        self._write(
            f"B\t{raw.seq}\t{raw.start_ns}\t{raw.thread_id}\t{int(raw.main_thread)}\t{name}\t{kind}"
            f"\t{seconds!r}\t{_clean(raw.thread_name)}\n"
        )
        return raw

    def note_wait(self, raw: RawSpan, wait: tuple[int, int]) -> None:
        """Tell the recording process that this span starts waiting (see `wait`)."""
        self._write(f"W\t{raw.seq}\t{wait[0]}\t{wait[1]}\n")

    def end(self, raw: RawSpan, status: str, error: str = "") -> None:
        _finish(raw, status, error)
        running = running_intervals(raw, raw.end_ns)
        flat = ",".join(f"{a},{b}" for a, b in running)
        self._write(f"E\t{raw.seq}\t{raw.end_ns}\t{status}\t{raw.cpu_ns}\t{flat}\t{_clean(error)}\n")

    def _write(self, line: str) -> None:
        if self._fd is not None:
            try:
                os.write(self._fd, line.encode())
            except OSError:
                self._fd = None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _LogReader:
    """Reads one worker's log incrementally; keeps the spans seen so far."""

    def __init__(self, path: str, pid: int) -> None:
        self.path, self.pid = path, pid
        self.offset = 0
        self.partial = b""
        self.spans: dict[int, RawSpan] = {}

    def poll(self) -> None:
        try:
            with open(self.path, "rb") as log:
                log.seek(self.offset)
                data = log.read()
        except OSError:
            return
        self.offset += len(data)
        *lines, self.partial = (self.partial + data).split(b"\n")
        for line in lines:
            self._parse(line.decode().split("\t"))

    def _parse(self, fields: list[str]) -> None:
        if fields[0] == "B":
            _, seq, start, tid, main, name, kind, seconds, thread_name = fields
            self.spans[int(seq)] = RawSpan(
                int(seq), name, kind, int(start), None, self.pid, int(tid), thread_name, main == "1",
                RUNNING, 0, float(seconds), None, [], "", "",
            )
        elif fields[0] == "W":
            raw = self.spans.get(int(fields[1]))
            if raw is not None and raw.running is None:
                raw.waits.append((int(fields[2]), int(fields[3])))
        elif fields[0] == "E":
            _, seq, end, status, cpu, flat, error = fields
            raw = self.spans[int(seq)]
            numbers = [int(n) for n in flat.split(",")] if flat else []
            raw.running = list(zip(numbers[::2], numbers[1::2]))
            raw.end_ns, raw.status, raw.cpu_ns, raw.error = int(end), status, int(cpu), error


# --- the recording -------------------------------------------------------------


class Recording:
    """Everything recorded between entering and leaving the outermost `record()`."""

    def __init__(self, cpu_interval: float) -> None:
        self.owner_pid = _pid
        self.directory = tempfile.mkdtemp(prefix="conctutor-")  # mode 0700: private
        self.start_ns = time.perf_counter_ns()
        self.end_ns: int | None = None
        self._spans: list[RawSpan] = []
        self._seq = itertools.count()
        self._readers: dict[str, _LogReader] = {}
        self._child_log: WorkerLog | None = None
        self._read_lock = threading.Lock()
        self.cpu = CpuSampler(cpu_interval)
        self.cpu.start(self.start_ns)

    @property
    def is_open(self) -> bool:
        return self.end_ns is None

    def begin(self, name: str, kind: str, seconds: float) -> RawSpan:
        if _pid != self.owner_pid:  # a forked child inherited us: log to a file
            return self._log_of_this_child().begin(name, kind, seconds)
        raw = _new_raw(next(self._seq), name, kind, seconds)
        self._spans.append(raw)
        return raw

    def end(self, raw: RawSpan, status: str, error: str = "") -> None:
        if raw.pid != self.owner_pid:
            self._log_of_this_child().end(raw, status, error)
        else:
            _finish(raw, status, error)

    def note_wait(self, raw: RawSpan, wait: tuple[int, int]) -> None:
        if raw.pid != self.owner_pid:  # in a forked child; here `raw.waits` is read directly
            self._log_of_this_child().note_wait(raw, wait)

    def _log_of_this_child(self) -> WorkerLog:
        if self._child_log is None:
            self._child_log = WorkerLog(self.directory)
        return self._child_log

    def raw_spans(self) -> list[RawSpan]:
        """All spans so far: this process's and every worker's."""
        with self._read_lock:
            if self.is_open:
                self._read_worker_logs()
            spans = list(self._spans)
            for reader in self._readers.values():
                spans.extend(reader.spans.values())
        return spans

    def _read_worker_logs(self) -> None:
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        for name in names:
            if name.endswith(".log") and name not in self._readers:
                self._readers[name] = _LogReader(os.path.join(self.directory, name), int(name[:-4]))
        for reader in self._readers.values():
            reader.poll()

    def close(self) -> None:
        """Stop sampling, read the workers' last words and remove the directory."""
        self.end_ns = time.perf_counter_ns()
        self.cpu.stop()
        with self._read_lock:
            self._read_worker_logs()
            shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.contextmanager
def record(cpu_interval: float = 0.05, live: bool | LiveView = False) -> Iterator[Timeline]:
    """Record every task that runs inside the block; yields a `Timeline`.

    Spans come from this thread, other threads and worker processes (fork,
    spawn, forkserver). `timeline.spans` can be read while the block runs.

    Nested ``record()`` blocks share one recording: the inner timeline holds
    the spans that started inside the inner block, the outer one holds all.
    Consecutive blocks are independent recordings.

    ``cpu_interval`` is the time between per-core CPU samples, in seconds.

    ``live=True`` draws the timeline in the notebook while the block runs and
    leaves the final figure there (see `conctutor.live`).
    """
    from .timeline import Timeline

    global _sink
    if not (isinstance(cpu_interval, (int, float)) and 0.005 <= cpu_interval <= 10):
        raise ValueError(f"cpu_interval deve estar entre 0.005 e 10 segundos; recebido {cpu_interval!r}")
    view = None
    if live:
        from .live import open_view

        view = open_view() if live is True else live
    previous = _sink
    nested = isinstance(previous, Recording) and previous.is_open and previous.owner_pid == _pid
    recording = previous if nested else Recording(cpu_interval)
    _sink = recording
    timeline = Timeline.live(recording)
    if view is not None:
        view.start(timeline)
    try:
        yield timeline
    finally:
        end_ns = time.perf_counter_ns()
        if view is not None:
            view.stop()  # before the recording closes: the drawing thread reads it
        if not nested:
            recording.close()
            _sink = previous
        else:
            recording.cpu.sample_now()  # so this block's CPU strip reaches its end
        timeline.freeze(end_ns)
        if view is not None:
            view.finish(timeline)
