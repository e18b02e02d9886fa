"""The `task` decorator and the wrappers it makes: plain, recursive, chapter, async and generator tasks.

    @task                      # any function, any signature
    def baixa(url): ...

    @task(kind="cpu")          # tells the ideal time that it computes
    def fib(n): ...

    @task
    async def busca(): ...     # coroutines too: one lane per asyncio task

Outside any recording a call costs a context-variable read more than the
plain function. Inside one, it reports a BEGIN and an END event to its
thread's sink (`conctutor.engine.sinks`), in the recording that
`conctutor.engine.routing` finds for it. A task pickled to a worker process
travels by name, with the invitation to its recording (`Task.__reduce__`).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import itertools
import marshal
import sys
import threading
import time
import types
from collections.abc import Callable
from time import perf_counter_ns
from typing import Any

from . import settings
from .events import ERROR_CODE, INTERRUPTED_CODE, OK_CODE, STATE_CODE, describe
from .invitation import Invitation, accept_invitation, invitation_here
from .model import Kind, State
from .routing import Collector, asyncio_lane, call_lane, context_collector, current_collector, open_collectors
from .subinterpreters import ID_BASE
from .suspensions import recorded_async_generator, recorded_coroutine, recorded_generator

_modules = sys.modules
_collector_of_context = context_collector.get
"""Bound once: a method call on an imported name compiles to an attribute load that builds the bound
method at every call (CPython 3.11+), and this runs on every call of a task."""

_task_ids = itertools.count(ID_BASE + 1)


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
        collector = _collector_of_context()
        if collector is None:
            if not open_collectors:
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
        aio = _modules.get("asyncio")  # `call_lane` inline: this runs on every recorded call
        seq = sink.begin(self, asyncio_lane(collector, sink) if aio is not None and aio._get_running_loop() else 0)
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
        found_by_name = (self.__module__, qualname, self.kind.value, invitation_here())
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
        return args, settings.effective_seconds(self.name, segundos, collector.durations if collector else None), \
            collector

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        args, seconds, collector = self._prepare(args, kwargs)
        if collector is None:
            return self.__wrapped__(*args, segundos=seconds, **kwargs)
        sink = collector.sink()
        seq = sink.begin(self, call_lane(collector, sink), seconds)
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
        if _collector_of_context() is None and not open_collectors:
            return coroutine
        return recorded_coroutine(self, coroutine)


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
        return recorded_coroutine(self, coroutine, seconds)


class GeneratorTask(Task):
    """A generator function whose every generator is recorded: the span lasts from its first step to
    its end, and the time it spends suspended at a ``yield`` (its consumer runs) is drawn as waiting."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        generator = self.__wrapped__(*args, **kwargs)  # wrong arguments fail here, as without us
        if _collector_of_context() is None and not open_collectors:
            return generator
        return recorded_generator(self, generator)


class AsyncGeneratorTask(Task):
    """An ``async def`` with ``yield``: like `GeneratorTask`, on the lane of the asyncio task iterating it."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        generator = self.__wrapped__(*args, **kwargs)
        if _collector_of_context() is None and not open_collectors:
            return generator
        return recorded_async_generator(self, generator)


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


# --- a task unpickled in a worker process ----------------------------------------------------------

_wrapped_in_worker: dict[Any, Task] = {}
_rebuilt_in_worker: dict[bytes, Callable[..., Any]] = {}

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

