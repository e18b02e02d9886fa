"""Recorded calls: the `task` decorator, and how a call finds the recording it belongs to.

    @task                      # any function, any signature
    def baixa(url): ...

    @task(kind="cpu")          # tells the ideal time that it computes
    def fib(n): ...

    @task
    async def busca(): ...     # coroutines too: one lane per asyncio task

A call looks for its recording (a `Collector`) in this order:

1. the context of the code that called it (``record()`` sets a context
   variable; asyncio tasks and ``asyncio.to_thread`` copy it);
2. the thread: a thread started, or a pool job submitted, from inside a
   ``record()`` block belongs to that block (see `install_hooks`);
3. in a worker process, the recording it was invited to or inherited.

A thread of the recording process that no block started (another notebook
thread, say) belongs to no recording.

Outside any recording a call costs a context-variable read more than the
plain function. Inside one, it reports a BEGIN and an END event to its
thread's sink (`conctutor.events`).

Worker processes learn about the recording from an *invitation*, plain data
(the spool directory, the recording's pid, its `Settings` as data, quietness):

* a job submitted to a process pool inside a ``record()`` block carries the
  invitation taken when it was submitted, in the submitting thread, so a pool
  made before the block records too (`install_hooks`);
* a recorded function that travels pickled carries the invitation of the
  thread that pickles it (`Task.__reduce__`);
* a process started inside a block under *spawn* or *forkserver* receives it
  with the data multiprocessing sends every new process; a *forked* process
  inherits the recording.

The worker also adopts the sender's `Settings` (durations, time scale).
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import functools
import importlib
import inspect
import itertools
import marshal
import os
import sys
import threading
import time
import types
import weakref
from collections.abc import Callable, Generator, Mapping
from time import perf_counter_ns
from typing import Any, NamedTuple

from . import events, settings
from .events import (
    ERROR_CODE,
    INTERRUPTED_CODE,
    NO_SECONDS,
    OK_CODE,
    STATE_CODE,
    FileSink,
    MemorySink,
    Sink,
    describe,
)
from .model import Kind, State

_pid = os.getpid()

# --- collectors: where one recording's calls go, in this process -------------------------


class Collector:
    """One recording, as the calls in this process see it.

    In the process that called ``record()`` (its *owner*), each thread gets a
    `MemorySink`; in any other process (a worker), a `FileSink` in the
    recording's private directory.
    """

    def __init__(self, directory: str, owner_pid: int, overrides: Mapping[str, float] | None = None,
                 quiet: bool = False) -> None:
        self.directory = directory
        self.owner_pid = owner_pid
        self.overrides = dict(overrides or {})
        self.quiet = quiet
        self.is_open = True
        self.memory_sinks: list[MemorySink] = []
        self.home_tasks: set[Any] = set()
        """The asyncio tasks that entered a ``record()`` block of this recording (a notebook cell runs
        in one): what they run shows in their thread's own lane; only the tasks they start get lanes."""
        self._local = threading.local()
        self._sink_ids = itertools.count(1)
        self._lock = threading.Lock()

    def sink(self) -> events.MemorySink | events.FileSink:
        try:
            sink: events.MemorySink | events.FileSink = self._local.sink
            return sink
        except AttributeError:
            return self._new_sink()

    def _new_sink(self) -> events.MemorySink | events.FileSink:
        sink: events.MemorySink | events.FileSink
        if _pid == self.owner_pid:
            sink = MemorySink(_pid)
            with self._lock:
                self.memory_sinks.append(sink)
        else:
            with self._lock:
                sink_id = next(self._sink_ids)
            try:
                sink = FileSink(self.directory, _pid, sink_id)
            except OSError:  # the recording is over (its directory is gone): record nowhere
                sink = _NOWHERE
        self._local.sink = sink
        self.on_new_sink(sink)
        return sink

    def on_new_sink(self, sink: events.MemorySink | events.FileSink) -> None:
        """Called in the thread of each new sink: the recording's sampler starts watching this thread."""
        if sink is _NOWHERE:
            return
        from . import sampling  # only once a thread records: plain calls never need it

        try:
            sampling.register_thread(self.directory, _pid, threading.get_native_id())
        except OSError:
            pass  # the recording is over: nothing to watch

    def invitation(self) -> Invitation:
        """What a worker process needs to report here (see `Invitation`)."""
        durations, scale_text = settings.current(self.overrides).to_data()
        return (self.directory, self.owner_pid, durations, scale_text, self.quiet)

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

Invitation = tuple[str, int, dict[str, float], str, bool]
"""What a worker process needs to report to a recording, in plain types only (a new process reads it
before it can import anything): the spool directory, the recording process's pid, the durations and
the time scale's text (`settings.Settings.to_data`), and whether the recording is quiet (a spawned
worker does not inherit the quiet stdout)."""

_current: contextvars.ContextVar[Collector | None] = contextvars.ContextVar("conctutor_recording", default=None)
_open: list[Collector] = []
"""The recordings open in this process (in a worker: the one it adopted last)."""
_open_lock = threading.Lock()


def current_collector() -> Collector | None:
    """The recording a call made here and now belongs to, if any (see the module's docstring)."""
    collector = _current.get()
    if collector is not None:
        return collector if collector.is_open else None
    if not _open:
        return None
    collector = getattr(threading.current_thread(), "_conctutor_collector", None)
    if collector is not None and collector.is_open:
        return collector
    # In a worker process: the recording it was invited to (or inherited, forked).
    # In the recording process itself, a thread that no block started belongs to none.
    candidates = _open
    if len(candidates) == 1 and candidates[0].owner_pid != _pid:
        return candidates[0]
    return None


def enter(collector: Collector) -> contextvars.Token[Collector | None]:
    """Make `collector` the recording of this context and count it as open."""
    install_hooks()
    with _open_lock:
        _open.append(collector)
    return _current.set(collector)


def leave(collector: Collector, token: contextvars.Token[Collector | None]) -> None:
    """Undo `enter`."""
    collector.is_open = False
    with _open_lock:
        if collector in _open:
            _open.remove(collector)
    try:
        _current.reset(token)
    except ValueError:  # left in another context than it was entered (a notebook cell's manual __exit__)
        _current.set(None)


# --- quiet recordings: what their code prints is dropped -----------------------------------


class _QuietStream:
    """``sys.stdout`` while a quiet recording is open: drops what its recorded code prints.

    Other code (another thread's recording, the notebook itself) prints as usual.
    """

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        collector = current_collector()
        if collector is not None and collector.quiet:
            return len(text)
        written: int = self.stream.write(text)
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


_quiet_count = 0
_quiet_lock = threading.Lock()


def quiet_begin() -> None:
    """A quiet recording opens here: from now on `sys.stdout` asks whose code prints."""
    global _quiet_count
    with _quiet_lock:
        _quiet_count += 1
        if sys.stdout is not None and not isinstance(sys.stdout, _QuietStream):
            sys.stdout = _QuietStream(sys.stdout)


def quiet_end() -> None:
    """Undo `quiet_begin`; the last quiet recording to end puts the plain `sys.stdout` back."""
    global _quiet_count
    with _quiet_lock:
        _quiet_count -= 1
        if _quiet_count == 0 and isinstance(sys.stdout, _QuietStream):
            sys.stdout = sys.stdout.stream


# --- the task wrappers ------------------------------------------------------------------

_task_ids = itertools.count(1)


def _check_kind(kind: object) -> Kind:
    if kind is None:
        return Kind.MEASURED
    if isinstance(kind, Kind):
        return kind
    if kind in ("io", "cpu"):
        return Kind(kind)
    raise ValueError(
        f"kind deve ser 'io' (a tarefa espera) ou 'cpu' (a tarefa calcula), ou ficar de fora "
        f"(o tempo ideal usa então o tempo de CPU medido); recebido {kind!r}"
    )


class _Nesting(threading.local):
    depth = 0
    """Recorded calls running in this thread, one inside the other."""
    extra = 0
    """How much this thread raised the recursion limit (see `_deeper`)."""


_nesting = _Nesting()
NESTING_FREE = 16
"""Recorded calls nested up to this depth cost nothing more; deeper ones raise the recursion limit."""
FRAMES_PER_CALL = 3
"""Recursion levels a call of a `RecursiveTask` uses besides the function's own (its two ``__call__``, and
on 3.10 and 3.11 the C call into them): recursion under ``@task`` then reaches about as deep as without it."""
_limit_lock = threading.Lock()


def _deeper(nesting: _Nesting) -> None:
    """One more recorded call deep in this thread: make room for its frames in the recursion limit."""
    with _limit_lock:
        sys.setrecursionlimit(sys.getrecursionlimit() + FRAMES_PER_CALL)
    nesting.extra += FRAMES_PER_CALL


def _shallower(nesting: _Nesting) -> None:
    """Back at the depth where `_deeper` began: give the room back, all at once (lowering it deep
    inside a recursion could put the limit under the depth already used)."""
    extra, nesting.extra = nesting.extra, 0
    with _limit_lock:
        try:
            sys.setrecursionlimit(max(sys.getrecursionlimit() - extra, 50))
        except RecursionError:
            pass


class Task:
    """A function that reports a span each time it runs inside ``record()``.

    Call it exactly like the function it wraps: the same arguments, the same
    result, the same exceptions.
    """

    def __init__(self, body: Callable[..., Any], kind: Kind) -> None:
        functools.update_wrapper(self, body)
        self.__wrapped__ = body
        self.name: str = getattr(body, "__name__", type(body).__name__)
        self.kind = kind
        self.task_id = next(_task_ids)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        collector = _current.get()
        if collector is None:
            if not _open:
                return self.__wrapped__(*args, **kwargs)
            collector = current_collector()
            if collector is None:
                return self.__wrapped__(*args, **kwargs)
        elif not collector.is_open:
            return self.__wrapped__(*args, **kwargs)
        try:
            sink = collector._local.sink
        except AttributeError:
            sink = collector._new_sink()
        aio = _modules.get("asyncio")  # inline: this runs on every recorded call
        seq = sink.begin(self, _asyncio_lane(collector, sink, aio) if aio is not None and aio._get_running_loop()
                         else 0)
        try:
            result = self.__wrapped__(*args, **kwargs)
        except Exception as error:
            sink.end(seq, ERROR_CODE, describe(error))
            raise
        except BaseException as stop:  # KeyboardInterrupt, SystemExit, a cancelled thread
            sink.end(seq, INTERRUPTED_CODE, type(stop).__name__)
            raise
        sink.end(seq, OK_CODE, "")
        return result

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return types.MethodType(self, instance)

    def __reduce__(self) -> tuple:
        # What travels to a worker process: where to find this task, and the recording (with its
        # settings) the worker must report to, as the pickling thread knows it. A process pool pickles
        # in a thread of its own, started with the pool: its jobs carry the invitation taken at submit
        # (`_Invited`), which the worker accepts last.
        qualname = getattr(self, "__qualname__", self.name)
        found_by_name = (self.__module__, qualname, self.kind.value, _invitation_here())
        if self.__module__ == "__main__":  # a subinterpreter's __main__ is not the script's: send the code too
            return (_task_in_worker, (*found_by_name, _portable_body(self.__wrapped__)))
        return (_task_in_worker, found_by_name)

    def __repr__(self) -> str:
        return f"<conctutor task {getattr(self, '__qualname__', self.name)}>"


class RecursiveTask(Task):
    """A `Task` whose function calls itself: deep recursion gets room for the wrapper's frames.

    Only such functions pay for counting how deep the calls go (about 0.1-0.2 us a call).
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        nesting = _nesting
        depth = nesting.depth = nesting.depth + 1
        if depth > NESTING_FREE:
            _deeper(nesting)
        try:
            return Task.__call__(self, *args, **kwargs)
        finally:
            nesting.depth = depth - 1
            if depth == NESTING_FREE + 1:
                _shallower(nesting)


def _calls_itself(function: Callable[..., Any]) -> bool:
    """Whether `function`'s code names itself (a recursive function calls itself by its name)."""
    code = getattr(function, "__code__", None)
    return code is not None and getattr(function, "__name__", None) in code.co_names


class ChapterTask(Task):
    """One of the chapter's tasks: its last parameter, ``segundos``, is an adjustable, scaled duration.

    ``segundos`` given or not, the body receives the duration to use: the
    explicit value or the adjustable default (`set_durations`), times
    ``CONCTUTOR_TIME_SCALE``. Wrong arguments fail as they would without
    the wrapper, before anything runs.
    """

    def __init__(self, body: Callable[..., Any], kind: Kind) -> None:
        super().__init__(body, kind)
        self.signature = inspect.signature(body)
        parameters = list(self.signature.parameters.values())
        if not parameters or parameters[-1].name != "segundos":
            raise TypeError(f"o último parâmetro de uma tarefa do capítulo deve ser 'segundos': {self.name}")
        self._segundos_position = len(parameters) - 1
        settings.register_default(self.name, parameters[-1].default)

    def _prepare(self, args: tuple, kwargs: dict[str, Any]) -> tuple[tuple, float, Collector | None]:
        """The arguments without ``segundos``, the duration to use, and the recording.

        Arguments the function would refuse make it raise its own TypeError
        here, before anything is recorded.
        """
        position = self._segundos_position
        if len(args) > position:
            if len(args) > position + 1 or "segundos" in kwargs:
                self.__wrapped__(*args, **kwargs)  # raises the function's own TypeError
            segundos, args = args[position], args[:position]
        else:
            segundos = kwargs.pop("segundos", None)
        try:
            self.signature.bind(*args, segundos=0, **kwargs)
        except TypeError:
            self.__wrapped__(*args, **kwargs)  # raises the function's own TypeError
            raise
        collector = current_collector()
        return args, settings.effective_seconds(self.name, segundos, collector.overrides if collector else None), \
            collector

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        args, seconds, collector = self._prepare(args, kwargs)
        if collector is None:
            return self.__wrapped__(*args, segundos=seconds, **kwargs)
        sink = collector.sink()
        aio = _modules.get("asyncio")
        seq = sink.begin(self, _asyncio_lane(collector, sink, aio) if aio is not None and aio._get_running_loop()
                         else 0, seconds)
        local = _running
        previous = getattr(local, "span", None)
        local.span = (sink, seq)
        try:
            result = self.__wrapped__(*args, segundos=seconds, **kwargs)
        except Exception as error:
            sink.end(seq, ERROR_CODE, describe(error))
            raise
        except BaseException as stop:
            sink.end(seq, INTERRUPTED_CODE, type(stop).__name__)
            raise
        finally:
            local.span = previous
        sink.end(seq, OK_CODE, "")
        return result

_running = threading.local()
"""``span``: the (sink, seq) of the chapter task this thread runs now, for `wait` and ``calcula``."""


def current_span() -> tuple[Any, int] | None:
    """(sink, seq) of the chapter task the calling thread is running, if it is recorded."""
    return getattr(_running, "span", None)


def wait(seconds: float, state: State = State.IO) -> None:
    """Sleep like `time.sleep`, and note on the current chapter task that it waited (and why)."""
    span = getattr(_running, "span", None)
    if span is None:
        time.sleep(seconds)
        return
    sink, seq = span
    started = perf_counter_ns()
    code = STATE_CODE[state]
    # Note the wait before sleeping, with its planned end, so a live reading sees
    # the task waiting now; then its real end.
    sink.wait(seq, started, started + round(seconds * 1e9), code)
    try:
        time.sleep(seconds)
    finally:
        sink.wait(seq, started, perf_counter_ns(), code)


class AsyncTask(Task):
    """A coroutine function whose every call is recorded, on a lane of its own asyncio task.

    The span runs from the first step of the coroutine to its end; the time
    it spends suspended in ``await`` is drawn as waiting.
    """

    def __init__(self, body: Callable[..., Any], kind: Kind) -> None:
        super().__init__(body, kind)
        self._mark(self)

    @staticmethod
    def _mark(wrapper: Task) -> None:
        """Make ``inspect``/``asyncio.iscoroutinefunction`` see a coroutine function."""
        if hasattr(inspect, "markcoroutinefunction"):  # 3.12+
            inspect.markcoroutinefunction(wrapper)
        else:
            import asyncio.coroutines

            wrapper._is_coroutine = getattr(asyncio.coroutines, "_is_coroutine", None)  # type: ignore[attr-defined]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        coroutine = self.__wrapped__(*args, **kwargs)  # wrong arguments fail here, as without us
        if _current.get() is None and not _open:
            return coroutine
        return _recorded(self, coroutine)


class AsyncChapterTask(ChapterTask):
    """A coroutine version of a chapter task (`conctutor.aio`): ``segundos`` as in `ChapterTask`."""

    def __init__(self, body: Callable[..., Any], kind: Kind) -> None:
        super().__init__(body, kind)
        AsyncTask._mark(self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        args, seconds, collector = self._prepare(args, kwargs)
        coroutine = self.__wrapped__(*args, segundos=seconds, **kwargs)
        if collector is None:
            return coroutine
        return _recorded(self, coroutine, seconds)


_async_span: contextvars.ContextVar[tuple[Any, int] | None] = contextvars.ContextVar("conctutor_async_span",
                                                                                    default=None)
"""The (sink, seq) of the coroutine chapter task running in this asyncio task (see `await_wait`)."""


async def await_wait(seconds: float) -> None:
    """``await asyncio.sleep(seconds)``, noted on the current coroutine chapter task as waiting for I/O."""
    import asyncio

    span = _async_span.get()
    if span is None:
        await asyncio.sleep(seconds)
        return
    sink, seq = span
    started = perf_counter_ns()
    code = STATE_CODE[State.IO]
    sink.wait(seq, started, started + round(seconds * 1e9), code)
    try:
        await asyncio.sleep(seconds)
    finally:
        sink.wait(seq, started, perf_counter_ns(), code)


async def _recorded(task: Task, coroutine: Any, seconds: float = NO_SECONDS) -> Any:
    collector = current_collector()
    if collector is None:
        return await coroutine
    if not _asyncio_hooked:
        _hook_asyncio()
    sink = collector.sink()
    current = _current_asyncio_task()
    lane = sink.lane_for(current.get_name()) if current is not None and current not in collector.home_tasks \
        else sink.lane
    seq = sink.begin(task, lane, seconds)
    token = _async_span.set((sink, seq))
    try:
        result = await _Watched(coroutine, sink, seq)
    except Exception as error:
        sink.end(seq, ERROR_CODE, describe(error))
        raise
    except BaseException as stop:  # asyncio.CancelledError is one
        sink.end(seq, INTERRUPTED_CODE, type(stop).__name__)
        raise
    finally:
        _async_span.reset(token)
    sink.end(seq, OK_CODE, "")
    return result


_modules = sys.modules


def _asyncio_lane(collector: Collector, sink: Sink, asyncio: Any) -> int:
    """The lane of the asyncio task running now in this thread (a loop runs here), or 0 (the thread's own).

    A plain function called from a coroutine then shows in that task's lane,
    where it holds the loop. The task that entered the ``record()`` block (in
    a notebook, the cell's own) keeps the thread's lane.
    """
    current = asyncio.current_task()
    if current is None or current in collector.home_tasks:
        return 0
    return sink.lane_for(current.get_name())


def _current_asyncio_task() -> Any:
    asyncio = sys.modules.get("asyncio")  # a coroutine is running: asyncio is surely imported
    try:
        return asyncio.current_task() if asyncio is not None else None
    except RuntimeError:  # no running loop
        return None


_AWAITING = STATE_CODE[State.WAITING]
_AWAITING_A_THREAD = STATE_CODE[State.BLOCKED]
_thread_futures: weakref.WeakSet[Any] = weakref.WeakSet()
"""The asyncio futures of work sent to a thread (`_hook_asyncio`): a coroutine awaiting one is blocked
on another task, though its loop's thread may sit waiting for I/O meanwhile."""


class _Watched:
    """Awaits a coroutine step by step, noting each suspension as a wait of its span."""

    def __init__(self, coroutine: Any, sink: Any, seq: int) -> None:
        self.coroutine = coroutine
        self.sink = sink
        self.seq = seq

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine, sink, seq = self.coroutine, self.sink, self.seq
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                yielded = coroutine.send(value) if error is None else coroutine.throw(error)
            except StopIteration as done:
                return done.value
            suspended = perf_counter_ns()
            # awaiting a thread (asyncio.to_thread, run_in_executor) is waiting for another task
            state = _AWAITING_A_THREAD if yielded is not None and yielded in _thread_futures else _AWAITING
            try:
                value, error = (yield yielded), None
            except BaseException as thrown:
                value, error = None, thrown
            sink.wait(seq, suspended, perf_counter_ns(), state)


class GeneratorTask(Task):
    """A generator function whose every generator is recorded: the span lasts from its first step to
    its end, and the time it spends suspended at a ``yield`` (its consumer runs) is drawn as waiting."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        generator = self.__wrapped__(*args, **kwargs)  # wrong arguments fail here, as without us
        if _current.get() is None and not _open:
            return generator
        return _recorded_generator(self, generator)


class AsyncGeneratorTask(Task):
    """An ``async def`` with ``yield``: like `GeneratorTask`, on the lane of the asyncio task iterating it."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        generator = self.__wrapped__(*args, **kwargs)
        if _current.get() is None and not _open:
            return generator
        return _recorded_async_generator(self, generator)


def _recorded_generator(task: Task, generator: Generator[Any, Any, Any]) -> Generator[Any, Any, Any]:
    collector = current_collector()
    if collector is None:
        return (yield from generator)
    sink = collector.sink()
    aio = _modules.get("asyncio")
    seq = sink.begin(task, _asyncio_lane(collector, sink, aio) if aio is not None and aio._get_running_loop() else 0)
    value: Any = None
    error: BaseException | None = None
    try:
        while True:
            try:
                yielded = generator.send(value) if error is None else generator.throw(error)
            except StopIteration as done:
                sink.end(seq, OK_CODE, "")
                return done.value
            suspended = perf_counter_ns()
            try:
                value, error = (yield yielded), None
            except GeneratorExit:
                generator.close()
                raise
            except BaseException as thrown:
                value, error = None, thrown
            finally:
                sink.wait(seq, suspended, perf_counter_ns(), _AWAITING)
    except Exception as failure:
        sink.end(seq, ERROR_CODE, describe(failure))
        raise
    except BaseException as stop:  # GeneratorExit: closed before its end
        sink.end(seq, INTERRUPTED_CODE, type(stop).__name__)
        raise


async def _recorded_async_generator(task: Task, generator: Any) -> Any:
    collector = current_collector()
    if collector is None:
        async for item in generator:
            yield item
        return
    sink = collector.sink()
    current = _current_asyncio_task()
    lane = sink.lane_for(current.get_name()) if current is not None and current not in collector.home_tasks \
        else sink.lane
    seq = sink.begin(task, lane)
    value: Any = None
    error: BaseException | None = None
    try:
        while True:
            step = generator.asend(value) if error is None else generator.athrow(error)
            try:
                yielded = await _Watched(step, sink, seq)
            except StopAsyncIteration:
                sink.end(seq, OK_CODE, "")
                return
            suspended = perf_counter_ns()
            try:
                value, error = (yield yielded), None
            except GeneratorExit:
                await generator.aclose()
                raise
            except BaseException as thrown:
                value, error = None, thrown
            finally:
                sink.wait(seq, suspended, perf_counter_ns(), _AWAITING)
    except Exception as failure:
        sink.end(seq, ERROR_CODE, describe(failure))
        raise
    except BaseException as stop:
        sink.end(seq, INTERRUPTED_CODE, type(stop).__name__)
        raise


def task(function: Callable[..., Any] | str | None = None, /, *, kind: str | Kind | None = None) -> Any:
    """Record every call of `function` inside ``record()``: ``@task``, or ``@task(kind="cpu")``.

    `kind` is ``"io"`` for a function that mostly waits, ``"cpu"`` for one
    that computes; left out, the ideal time counts the function by the CPU
    time it was measured to use. Works on any function, method or ``async
    def``, whatever its parameters.
    """
    if isinstance(function, str):  # @task("cpu")
        function, kind = None, function
    checked = _check_kind(kind)
    if function is None:
        return lambda body: task(body, kind=checked)
    if isinstance(function, Task):
        return function
    if isinstance(function, (staticmethod, classmethod)):  # @task above @staticmethod: wrap what it holds
        return type(function)(task(function.__func__, kind=checked))
    if not callable(function):
        raise TypeError(
            f"@task decora uma função (def ou async def); recebido {type(function).__name__}: {function!r}"
        )
    if inspect.iscoroutinefunction(function):
        return AsyncTask(function, checked)
    if inspect.isasyncgenfunction(function):
        return AsyncGeneratorTask(function, checked)
    if inspect.isgeneratorfunction(function):
        return GeneratorTask(function, checked)
    if _calls_itself(function):
        return RecursiveTask(function, checked)
    return Task(function, checked)


def chapter_task(kind: str) -> Callable[[Callable[..., Any]], ChapterTask]:
    """The decorator of the package's own tasks (adjustable, scaled ``segundos``; ``async def`` too)."""

    def decorate(body: Callable[..., Any]) -> ChapterTask:
        if inspect.iscoroutinefunction(body):
            return AsyncChapterTask(body, Kind(kind))
        return ChapterTask(body, Kind(kind))

    return decorate


# --- worker processes ----------------------------------------------------------------------------

_adopted: dict[str, Collector] = {}


_wrapped_in_worker: dict[Any, Task] = {}
_rebuilt_in_worker: dict[bytes, Callable[..., Any]] = {}


def _invitation_here() -> Invitation | None:
    """The invitation to the recording that a call made here and now belongs to, if any."""
    collector = current_collector()
    return collector.invitation() if collector is not None and collector.directory else None


_PLAIN_DEFAULTS = (int, float, str, bytes, bool, type(None))


def _portable_body(function: Callable[..., Any]) -> tuple | None:
    """A function of a script's ``__main__`` as data (its compiled code and plain defaults), for an
    interpreter where ``__main__`` is another module: what `concurrent.interpreters` does for a plain
    function that uses no globals. None for a closure, or defaults that are not plain values."""
    code = getattr(function, "__code__", None)
    defaults = getattr(function, "__defaults__", None) or ()
    keyword_defaults = getattr(function, "__kwdefaults__", None) or {}
    if code is None or code.co_freevars or not all(
            isinstance(value, _PLAIN_DEFAULTS) for value in (*defaults, *keyword_defaults.values())):
        return None
    return marshal.dumps(code), defaults, keyword_defaults


def _rebuilt(body: tuple) -> Callable[..., Any]:
    code, defaults, keyword_defaults = body
    function = types.FunctionType(marshal.loads(code), vars(importlib.import_module("__main__")), None,
                                  tuple(defaults) or None)
    function.__kwdefaults__ = dict(keyword_defaults) or None
    return function


def _task_in_worker(module: str, qualname: str, kind: str, invitation: Invitation | None,
                    body: tuple | None = None) -> Any:
    """Unpickle a task: find it by name, and report to the sender's recording if we are another process.

    Under its name there may be the plain function (``gravada = task(f)`` keeps
    ``f`` under its own name): it is wrapped here the same way. A task of a
    script's ``__main__`` that is not there (another interpreter of the same
    process) is rebuilt from its `body`, as a plain function would be.
    """
    found: Any = importlib.import_module(module)
    try:
        for part in qualname.split("."):
            found = getattr(found, part)
    except AttributeError:
        if body is None:
            raise
        found = _rebuilt_in_worker.get(body[0])
        if found is None:
            found = _rebuilt_in_worker[body[0]] = _rebuilt(body)
    accept_invitation(invitation)
    if isinstance(found, Task):
        return found
    wrapped = _wrapped_in_worker.get(found)
    if wrapped is None:
        wrapped = _wrapped_in_worker[found] = task(found, kind=None if kind == Kind.MEASURED.value else kind)
    return wrapped


def _checked_invitation(invitation: object) -> Invitation | None:
    """`invitation` if it is well formed, else None: a worker never fails because of what it was sent."""
    if not isinstance(invitation, tuple) or len(invitation) != 5:
        return None
    directory, owner_pid, durations, scale_text, quiet = invitation
    if not (isinstance(directory, str) and directory and isinstance(owner_pid, int) and isinstance(durations, dict)
            and isinstance(scale_text, str) and isinstance(quiet, bool)):
        return None
    return directory, owner_pid, durations, scale_text, quiet


def accept_invitation(invitation: object) -> None:
    """In a worker process: report to this recording (None: to none) with its settings. Never raises."""
    checked = _checked_invitation(invitation)
    if checked is None:
        if _pid != _owner_of_open():
            with _open_lock:
                _open.clear()
            settings.adopt(None)
            sampling = sys.modules.get("conctutor.engine.sampling")  # loaded if this worker let a sidecar watch it
            if sampling is not None:
                sampling.revoke_sampler()
        return
    directory, owner_pid, durations, scale_text, quiet = checked
    if owner_pid == _pid:
        return  # pickled and unpickled in the recording process itself (or one of its subinterpreters)
    travelling = settings.Settings.from_data((durations, scale_text))
    settings.adopt(travelling)
    collector = _adopted.get(directory)
    if collector is None:
        collector = _adopted[directory] = Collector(directory, owner_pid, travelling.durations)
    collector.overrides = dict(travelling.durations)
    collector.quiet = quiet
    if quiet and not isinstance(sys.stdout, _QuietStream):
        quiet_begin()  # for good: a later job of a recording that is not quiet prints as usual
    with _open_lock:
        _open[:] = [collector]  # a worker runs one job at a time: the last one sent decides


def _owner_of_open() -> int:
    return _open[0].owner_pid if _open else -1


def _after_fork_in_child() -> None:
    global _pid
    _pid = os.getpid()
    global _open_lock
    _open_lock = threading.Lock()
    events.after_fork_in_child()
    for collector in list(_open) + list(_adopted.values()):
        collector.after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _Invited:
    """A job for a process pool, with the invitation taken when it was submitted.

    The pool pickles its jobs in a thread of its own, started with the pool, which
    belongs to no recording; the submitting thread knows the recording. The worker
    accepts the invitation just before it runs the job.
    """

    def __init__(self, invitation: Invitation | None, function: Callable[..., Any]) -> None:
        self.invitation = invitation
        self.function = function

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        accept_invitation(self.invitation)
        return self.function(*args, **kwargs)


# --- hooks: threads, pools and new processes follow the recording that started them ---------------


class _Hook(NamedTuple):
    owner: Any
    attribute: str
    original: Any


_hooks: list[_Hook] = []


def install_hooks() -> None:
    """Let new threads, pool jobs and spawn/forkserver processes follow their recording.

    Installed at the first ``record()``, undone by `uninstall_hooks`:

    * `threading.Thread.start` notes the starting code's recording on the new thread;
    * `ThreadPoolExecutor.submit` runs the job in the submitter's recording (not an
      ``InterpreterPoolExecutor``'s: its jobs cross to another interpreter as they are);
    * `ProcessPoolExecutor.submit` and `multiprocessing.pool.Pool`'s ways to send work
      take the invitation in the submitting thread (`_Invited`);
    * multiprocessing's preparation data carries the invitation that a new process
      accepts once conctutor is imported there (`_Invitation`).

    Each hook costs a context-variable read when no recording is open.
    """
    if _hooks:
        return
    import concurrent.futures.process
    import multiprocessing.pool
    import multiprocessing.spawn

    def patch(owner: Any, attribute: str, replacement: Any) -> None:
        _hooks.append(_Hook(owner, attribute, owner.__dict__[attribute]))
        setattr(owner, attribute, replacement)

    original_start = threading.Thread.start

    def start(self: threading.Thread) -> None:
        collector = current_collector() if (_open or _current.get() is not None) else None
        if collector is not None:
            self._conctutor_collector = collector  # type: ignore[attr-defined]
        original_start(self)

    patch(threading.Thread, "start", start)

    thread_submit = concurrent.futures.ThreadPoolExecutor.submit

    def submit_to_threads(self: concurrent.futures.ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any,
                          **kwargs: Any) -> concurrent.futures.Future[Any]:
        collector = current_collector() if (_open or _current.get() is not None) else None
        if collector is not None and not _is_interpreter_pool(self):
            fn = functools.partial(_run_in, collector, fn)
        return thread_submit(self, fn, *args, **kwargs)

    patch(concurrent.futures.ThreadPoolExecutor, "submit", submit_to_threads)

    process_submit = concurrent.futures.ProcessPoolExecutor.submit

    def submit_to_processes(self: concurrent.futures.ProcessPoolExecutor, fn: Callable[..., Any], /, *args: Any,
                            **kwargs: Any) -> concurrent.futures.Future[Any]:
        return process_submit(self, _invited(fn), *args, **kwargs)

    patch(concurrent.futures.ProcessPoolExecutor, "submit", submit_to_processes)

    for name in ("apply_async", "_map_async", "imap", "imap_unordered"):
        method = multiprocessing.pool.Pool.__dict__.get(name)
        if method is not None:
            patch(multiprocessing.pool.Pool, name, _pool_method(method))

    original_preparation = multiprocessing.spawn.get_preparation_data

    def get_preparation_data(name: str) -> dict[str, Any]:
        data = original_preparation(name)
        invitation = _invitation_here()
        if invitation is not None:
            data["conctutor"] = _Invitation(invitation)
        return data

    patch(multiprocessing.spawn, "get_preparation_data", get_preparation_data)


def uninstall_hooks() -> None:
    """Put back everything `install_hooks` and `_hook_asyncio` replaced (the next ``record()`` installs
    them again)."""
    global _asyncio_hooked
    while _hooks:
        owner, attribute, original = _hooks.pop()
        setattr(owner, attribute, original)
    _asyncio_hooked = False


_asyncio_hooked = False


def _hook_asyncio() -> None:
    """Note the futures of work an event loop sends to a thread (``asyncio.to_thread`` and
    ``loop.run_in_executor``), once asyncio runs a recorded coroutine."""
    global _asyncio_hooked
    import asyncio.base_events

    _asyncio_hooked = True
    loop_class = asyncio.base_events.BaseEventLoop
    original = loop_class.__dict__["run_in_executor"]

    def run_in_executor(self: Any, executor: Any, func: Callable[..., Any], *args: Any) -> Any:
        future = original(self, executor, func, *args)
        _thread_futures.add(future)
        return future

    _hooks.append(_Hook(loop_class, "run_in_executor", original))
    setattr(loop_class, "run_in_executor", run_in_executor)  # noqa: B010  (typed stubs refuse the plain assignment)


def _is_interpreter_pool(executor: object) -> bool:
    module = sys.modules.get("concurrent.futures.interpreter")
    pool = getattr(module, "InterpreterPoolExecutor", None)
    return pool is not None and isinstance(executor, pool)


def _invited(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` with the invitation of the recording that submits it, if any."""
    if not (_open or _current.get() is not None):
        return fn
    invitation = _invitation_here()
    return fn if invitation is None else _Invited(invitation, fn)


def _pool_method(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def send(self: Any, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return method(self, _invited(func), *args, **kwargs)

    return send


def _run_in(collector: Collector, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    token = _current.set(collector)
    try:
        return fn(*args, **kwargs)
    finally:
        _current.reset(token)


_ACCEPT = """
import sys
recorder = sys.modules.get("conctutor.engine.recorder")
if recorder is None:
    sys._conctutor_invitation = invitation
else:
    try:
        recorder.accept_invitation(invitation)
    except Exception:
        pass
"""


class _Invitation:
    """Unpickled in a new spawn/forkserver process, before the job it will run: report here.

    It unpickles through ``exec`` of a short piece of code that imports nothing: the
    child has not set its ``sys.path`` yet (multiprocessing does that after reading
    this data). Where conctutor is loaded already (a forkserver that preloaded it), it
    accepts at once; elsewhere it leaves the invitation in ``sys`` for
    `_accept_left_invitation`, when this module is first imported.
    """

    def __init__(self, invitation: Invitation) -> None:
        self.invitation = invitation

    def __reduce__(self) -> tuple:
        return (exec, (_ACCEPT, {"invitation": self.invitation}))


def _accept_left_invitation() -> None:
    invitation = sys.__dict__.pop("_conctutor_invitation", None)
    if invitation is not None:
        accept_invitation(invitation)


_accept_left_invitation()
