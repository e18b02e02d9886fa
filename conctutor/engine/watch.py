"""Watching a number while a recording runs: the items in a queue, say.

    fila = queue.Queue()
    with record(watch={"itens na fila": fila.qsize}) as timeline:
        ...
    timeline.plot()      # a strip under the lanes: the number over time

A `Watcher` is a daemon thread that calls each function every `interval`
seconds and keeps the value each time it changes. Polling is cheap and
works with anything that can say a number (``queue.Queue.qsize``,
``multiprocessing.Queue.qsize``, ``len(lista)``, the depth of a Celery
queue), at the price of missing changes shorter than the interval.
"""

from __future__ import annotations

import math
import numbers
import threading
from collections.abc import Callable, Mapping
from time import perf_counter_ns

from . import validate
from .model import Series

MIN_INTERVAL, MAX_INTERVAL = 0.001, 10.0
MAX_SERIES = 8


def check_watch(watch: object) -> dict[str, Callable[[], float]]:
    """`watch` as a dict of name → function, each tried once; a clear error otherwise."""
    if watch is None:
        return {}
    if not isinstance(watch, Mapping):
        raise TypeError(
            "watch deve ser um dicionário de nome → função sem argumentos que devolve um número, "
            f"como {{'itens na fila': fila.qsize}}; recebido {type(watch).__name__}"
        )
    if len(watch) > MAX_SERIES:
        raise ValueError(f"watch aceita até {MAX_SERIES} números observados; recebeu {len(watch)}")
    checked: dict[str, Callable[[], float]] = {}
    for name, function in watch.items():
        if not isinstance(name, str) or not name.strip():
            raise TypeError(f"watch: cada nome deve ser um texto não vazio; recebido {name!r}")
        if not callable(function):
            raise TypeError(
                f"watch[{name!r}] deve ser uma função sem argumentos (como fila.qsize, sem parênteses); "
                f"recebido {type(function).__name__}: {function!r}"
            )
        if getattr(function, "__self__", None) is not None and getattr(function, "__name__", "") in _TAKERS:
            raise TypeError(
                f"watch[{name!r}]: {function.__name__} espera ou retira itens; observar precisa de uma função que "
                "só conte, como fila.qsize (sem parênteses) ou lambda: len(lista)"
            )
        _first_reading(name, function)
        checked[name] = function
    return checked


_TAKERS = frozenset({"get", "get_nowait", "put", "put_nowait", "join", "wait", "acquire", "recv", "accept", "pop",
                     "popleft", "popitem"})
"""Methods that wait or take an item: calling them to watch would hang the block or change the program."""


FIRST_READING_LIMIT = 1.0
"""Seconds a watched function may take the first time it is called, before the block starts."""
STOP_LIMIT = 1.0
"""Seconds the end of a block waits for a reading in progress."""


def _first_reading(name: str, function: Callable[[], object]) -> float:
    """`read_value`, in a thread of its own, for at most `FIRST_READING_LIMIT` seconds: a function that
    waits for something (``fila.get`` where ``fila.qsize`` was meant) must not hang ``record()``."""
    outcome: list[BaseException | float] = []

    def read() -> None:
        try:
            outcome.append(read_value(name, function))
        except BaseException as error:
            outcome.append(error)

    reader = threading.Thread(target=read, name="conctutor-watch-first", daemon=True)
    reader.start()
    reader.join(FIRST_READING_LIMIT)
    if not outcome:
        raise ValueError(
            f"watch[{name!r}]: a função não devolveu um número em {FIRST_READING_LIMIT:g} s: ela parece "
            "esperar alguma coisa, e observar não pode esperar (para o tamanho de uma fila, use fila.qsize)"
        )
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def read_value(name: str, function: Callable[[], object]) -> float:
    """Call `function` once: its value as a float, or a clear error saying what went wrong."""
    try:
        value = function()
    except NotImplementedError:
        raise ValueError(
            f"watch[{name!r}]: esta função não funciona neste sistema (no macOS, "
            "multiprocessing.Queue.qsize não existe); observe outro número"
        ) from None
    except Exception as error:
        raise ValueError(f"watch[{name!r}]: a função falhou ao ser chamada: {type(error).__name__}: {error}") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise TypeError(f"watch[{name!r}] deve devolver um número finito; devolveu {value!r}")
    return float(value)


def check_interval(interval: object) -> float:
    return validate.number(interval, "watch_interval", MIN_INTERVAL, MAX_INTERVAL, unit="segundos")


class Watcher:
    """A daemon thread reading each watched number every `interval` seconds, keeping the changes."""

    def __init__(self, functions: Mapping[str, Callable[[], float]], interval: float) -> None:
        self._functions = dict(functions)
        self._interval = interval
        self._samples: dict[str, list[tuple[int, float]]] = {name: [] for name in self._functions}
        self._failed: dict[str, str] = {}
        self._stop = threading.Event()
        self.stopped_ns: int | None = None
        """When `stop` was called (``perf_counter_ns``), or None while it watches."""
        self._thread = threading.Thread(target=self._run, name="conctutor-watch", daemon=True)

    def start(self) -> None:
        self._read_all()
        self._thread.start()

    def _read_all(self) -> None:
        now = perf_counter_ns()
        for name, function in self._functions.items():
            if name in self._failed:
                continue
            try:
                value = read_value(name, function)
            except (TypeError, ValueError) as error:  # e.g. the queue was closed: stop watching it
                self._failed[name] = str(error)
                continue
            samples = self._samples[name]
            # keep changes only, but always the last reading, so the strip reaches the end
            if len(samples) >= 2 and samples[-1][1] == value and samples[-2][1] == value:
                samples[-1] = (now, value)
            else:
                samples.append((now, value))

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._read_all()

    def stop(self) -> None:
        if self.stopped_ns is not None:
            return
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(STOP_LIMIT)
        if not self._thread.is_alive():  # else a function waits for something: its last value stays
            self._read_all()
        self.stopped_ns = perf_counter_ns()

    def series(self, origin_ns: int, stop_ns: int) -> tuple[Series, ...]:
        """The readings between `origin_ns` and `stop_ns`, in seconds from `origin_ns`.

        The last reading before `origin_ns` is kept at 0, and the first one
        after `stop_ns` at its end (the readings of `stop` come just after a
        block ends), so each series covers the whole window.
        """
        out = []
        end = (stop_ns - origin_ns) / 1e9
        for name, samples in self._samples.items():
            readings = list(samples)
            before = [value for t, value in readings if t < origin_ns]
            after = [value for t, value in readings if t > stop_ns]
            kept = [((t - origin_ns) / 1e9, value) for t, value in readings if origin_ns <= t <= stop_ns]
            if before and (not kept or kept[0][0] > 0):
                kept.insert(0, (0.0, before[-1]))
            if after and (not kept or kept[-1][1] != after[0]):
                kept.append((end, after[0]))
            out.append(Series(name, tuple(t for t, _ in kept), tuple(v for _, v in kept)))
        return tuple(out)
