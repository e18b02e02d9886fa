"""Where a recorded call's events go: the recording (a `Collector`) it belongs to, and the lane.

A call looks for its recording in this order:

1. the context of the code that called it (``record()`` sets `context_collector`;
   asyncio tasks and ``asyncio.to_thread`` copy it);
2. the thread: a thread started, or a pool job submitted, from inside a
   ``record()`` block belongs to that block (`conctutor.engine.hooks`);
3. in a worker process, the recording it was invited to or inherited
   (`conctutor.engine.invitation`); so too in a subinterpreter of the recording
   process, which reports through files like a worker
   (`conctutor.engine.subinterpreters`).

A thread of the recording process that no block started (another notebook
thread, say) belongs to no recording.
"""

from __future__ import annotations

import contextvars
import itertools
import os
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

from . import sinks
from .sinks import FileSink, MemorySink, Sink
from .subinterpreters import ID_BASE, IN_SUBINTERPRETER, own_gil_address

_pid = os.getpid()


class Collector:
    """One recording, as the calls in this process see it.

    In the process that called ``record()`` (its *owner*), each thread gets a
    `MemorySink`; in any other process (a worker), and in a subinterpreter of
    the owner, whose memory the recording cannot read, a `FileSink` in the
    recording's private directory.
    """

    def __init__(self, directory: str, owner_pid: int, durations: Mapping[str, float] | None = None,
                 quiet: bool = False) -> None:
        self.directory = directory
        self.owner_pid = owner_pid
        self.durations = dict(durations or {})
        self.quiet = quiet
        self.is_open = True
        self.memory_sinks: list[MemorySink] = []
        self.home_tasks: set[Any] = set()
        """The asyncio tasks that entered a ``record()`` block of this recording (a notebook cell runs
        in one): what they run shows in their thread's own lane; only the tasks they start get lanes."""
        self._local = threading.local()
        self._sink_ids = itertools.count(1)
        self._lock = threading.Lock()

    def sink(self) -> MemorySink | FileSink:
        try:
            sink: MemorySink | FileSink = self._local.sink
            return sink
        except AttributeError:
            return self._new_sink()

    def _new_sink(self) -> MemorySink | FileSink:
        sink: MemorySink | FileSink
        if _pid == self.owner_pid and not IN_SUBINTERPRETER:
            sink = MemorySink(_pid)
            with self._lock:
                self.memory_sinks.append(sink)
        else:
            with self._lock:
                sink_id = ID_BASE + next(self._sink_ids)
            try:
                sink = FileSink(self.directory, _pid, sink_id)
            except OSError:  # the recording is over (its directory is gone): record nowhere
                sink = _NOWHERE
        self._local.sink = sink
        self.on_new_sink(sink)
        return sink

    def on_new_sink(self, sink: MemorySink | FileSink) -> None:
        """Called in the thread of each new sink: the recording's sampler starts watching this thread."""
        if sink is _NOWHERE:
            return
        from . import sampling  # only once a thread records: plain calls never need it

        try:
            sampling.register_thread(self.directory, _pid, threading.get_native_id(), own_gil_address())
        except OSError:
            pass  # the recording is over: nothing to watch

    def after_fork_in_child(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self.memory_sinks = []


class _Nowhere:
    """A sink that keeps nothing (a worker whose recording has ended)."""

    pid = 0
    lane = 0

    def begin(self, task: Any, lane: int = 0, seconds: float = 0.0) -> int:
        return 0

    def end(self, seq: int, status_code: int, error: str) -> None:
        pass

    def wait(self, seq: int, start_ns: int, end_ns: int, state_code: int) -> None:
        pass

    def run(self, seq: int, start_ns: int, end_ns: int) -> None:
        pass

    def lane_for(self, task_name: str) -> int:
        return 0


_NOWHERE: Any = _Nowhere()

context_collector: contextvars.ContextVar[Collector | None] = contextvars.ContextVar("conctutor_recording",
                                                                                     default=None)
"""The recording of the running code's context (set by `enter`)."""
open_collectors: list[Collector] = []
"""The recordings open in this process (in a worker: the one it adopted last)."""
_open_lock = threading.Lock()


def current_collector() -> Collector | None:
    """The recording a call made here and now belongs to, if any (see the module's docstring)."""
    collector = context_collector.get()
    if collector is not None:
        return collector if collector.is_open else None
    if not open_collectors:
        return None
    collector = getattr(threading.current_thread(), "_conctutor_collector", None)
    if collector is not None and collector.is_open:
        return collector
    # In a worker process or a subinterpreter: the recording it was invited to (or inherited, forked).
    # In the recording process itself, a thread that no block started belongs to none.
    candidates = open_collectors
    if len(candidates) == 1 and (candidates[0].owner_pid != _pid or IN_SUBINTERPRETER):
        return candidates[0]
    return None


def enter(collector: Collector) -> contextvars.Token[Collector | None]:
    """Make `collector` the recording of this context and count it as open (`record()` installs the hooks
    that let new threads, pools and processes follow it, `conctutor.engine.hooks`, first)."""
    with _open_lock:
        open_collectors.append(collector)
    return context_collector.set(collector)


def leave(collector: Collector, token: contextvars.Token[Collector | None]) -> None:
    """Undo `enter`."""
    collector.is_open = False
    with _open_lock:
        if collector in open_collectors:
            open_collectors.remove(collector)
    try:
        context_collector.reset(token)
    except ValueError:  # left in another context than it was entered (a notebook cell's manual __exit__)
        context_collector.set(None)


def run_in(collector: Collector, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call `fn` with `collector` as the recording of its context (a job sent to a thread pool)."""
    token = context_collector.set(collector)
    try:
        return fn(*args, **kwargs)
    finally:
        context_collector.reset(token)


# --- worker processes: the one recording they report to --------------------------------------------


def owns_an_open_recording() -> bool:
    """Whether this process is the one that recorded (not a worker reporting to another)."""
    return bool(open_collectors) and open_collectors[0].owner_pid == _pid and not IN_SUBINTERPRETER


def report_only_to(collector: Collector | None) -> None:
    """In a worker process: from now on, report to `collector` alone (None: to no recording)."""
    with _open_lock:
        open_collectors[:] = [] if collector is None else [collector]


def _after_fork_in_child() -> None:
    global _pid, _open_lock
    _pid = os.getpid()
    _open_lock = threading.Lock()
    sinks.after_fork_in_child()
    for collector in open_collectors:
        collector.after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# --- asyncio tasks: a lane each -------------------------------------------------------------------


def call_lane(collector: Collector, sink: Sink) -> int:
    """The lane of a call made here: its asyncio task's where an event loop runs in this thread, else 0
    (the thread's own)."""
    aio = sys.modules.get("asyncio")
    return asyncio_lane(collector, sink) if aio is not None and aio._get_running_loop() else 0


def asyncio_lane(collector: Collector, sink: Sink) -> int:
    """The lane of the asyncio task running now in this thread, where an event loop runs.

    A plain function called from a coroutine then shows in that task's lane,
    where it holds the loop. The task that entered the ``record()`` block (in
    a notebook, the cell's own) keeps the thread's lane (0).
    """
    current = sys.modules["asyncio"].current_task()
    if current is None or current in collector.home_tasks:
        return 0
    return sink.lane_for(current.get_name())


def current_asyncio_task() -> Any:
    """The asyncio task running in this thread, or None."""
    asyncio = sys.modules.get("asyncio")  # a coroutine is running: asyncio is surely imported
    try:
        return asyncio.current_task() if asyncio is not None else None
    except RuntimeError:  # no running loop
        return None


def coroutine_lane(collector: Collector, sink: Sink) -> int:
    """The lane of a recorded coroutine or async generator: its asyncio task's, unless that task entered
    the ``record()`` block (then the thread's)."""
    current = current_asyncio_task()
    if current is not None and current not in collector.home_tasks:
        return sink.lane_for(current.get_name())
    return sink.lane
