"""Recorded coroutines and generators: one span from the first step to the end, each suspension a wait.

A coroutine suspended in ``await`` waits (for a thread's work: blocked on another
task); a generator suspended at ``yield`` waits while its consumer runs.
"""

from __future__ import annotations

import contextvars
from collections.abc import Generator
from time import perf_counter_ns
from typing import Any

from .events import ERROR_CODE, INTERRUPTED_CODE, NO_SECONDS, OK_CODE, STATE_CODE, TaskInfo, describe
from .hooks import hook_asyncio, thread_futures
from .model import State
from .routing import call_lane, coroutine_lane, current_collector

_AWAITING = STATE_CODE[State.WAITING]
_AWAITING_A_THREAD = STATE_CODE[State.BLOCKED]

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


async def recorded_coroutine(task: TaskInfo, coroutine: Any, seconds: float = NO_SECONDS) -> Any:
    """Await `coroutine` as a span of `task`, on the lane of its asyncio task."""
    collector = current_collector()
    if collector is None:
        return await coroutine
    hook_asyncio()
    sink = collector.sink()
    seq = sink.begin(task, coroutine_lane(collector, sink), seconds)
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
            state = _AWAITING_A_THREAD if yielded is not None and yielded in thread_futures else _AWAITING
            try:
                value, error = (yield yielded), None
            except BaseException as thrown:
                value, error = None, thrown
            sink.wait(seq, suspended, perf_counter_ns(), state)


def recorded_generator(task: TaskInfo, generator: Generator[Any, Any, Any]) -> Generator[Any, Any, Any]:
    """Iterate `generator` as a span of `task`."""
    collector = current_collector()
    if collector is None:
        return (yield from generator)
    sink = collector.sink()
    seq = sink.begin(task, call_lane(collector, sink))
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


async def recorded_async_generator(task: TaskInfo, generator: Any) -> Any:
    """Iterate the async `generator` as a span of `task`, on the lane of the asyncio task iterating it."""
    collector = current_collector()
    if collector is None:
        async for item in generator:
            yield item
        return
    sink = collector.sink()
    seq = sink.begin(task, coroutine_lane(collector, sink))
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
