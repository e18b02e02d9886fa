"""O microscópio da corrida: instrução por instrução, onde cada thread perdeu a vez (Python 3.12+).

    lupa = Microscope(soma)                    # soma(vezes): um laço com contador += 1
    with record() as linha:
        em_duas_threads(lupa.run, 10_000)      # cada thread roda uma cópia observada de soma
    linha.plot(marks=lupa.marks(linha))        # as trocas de thread, medidas, nas faixas
    for texto in lupa.summary():
        print(texto)

How the instants are measured (`sys.monitoring`, PEP 669):

* With the GIL, each call of `Microscope.run` runs a copy of the function's code of
  its own (``code.replace``), so a callback tells the threads apart by the code object
  it receives, without asking which thread it runs on. Every instruction of each copy
  is written to a buffer by
  ``functools.partial(print, file=buffer)``: a callback written in C. A callback
  written in Python would itself be a place where the GIL can change hands (every
  Python function checks for a pending switch when it starts), and the race would
  appear *because* we looked: on 3.14, 2 threads × 100 000 ``contador += 1`` lost
  about a quarter of the sums with a Python callback on every instruction, and none
  with this one. The loop's jumps (the JUMP event) also write the time, from Python:
  a jump back is where the interpreter checks for a switch anyway, so that adds no
  new place. A switch is where the buffer passes from one copy's instructions to
  another's. The thread that lost the GIL lost it after its last instruction there;
  the instant is its last time written, at most one turn of its loop earlier.
* Without the GIL (free-threaded builds) there is no switch to add: a Python callback
  writes, for each read and each write of the watched global, the thread's run, the
  time and the value the global has. There the function itself is instrumented, once,
  before the first thread runs it: (un)instrumenting code stops every running thread.
  A write whose thread read a value that another thread changed before the write puts
  back an old count: the sums in between are lost, at that instruction.
"""

from __future__ import annotations

import dis
import functools
import gc
import io
import json
import re
import sys
import threading
import types
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from platform import python_version
from time import perf_counter_ns
from typing import Any

from ..engine.decorators import task
from ..engine.python_build import gil_enabled
from ..render.marks import Mark

AVAILABLE = sys.version_info >= (3, 12)
"""`sys.monitoring` exists from Python 3.12."""

LOST_GIL = "perdeu o GIL"
"""The marks' words where a thread lost the GIL (with the GIL)."""
OVERWROTE = "escreveu por cima de outra thread"
"""The marks' words where a write put back an old count (without the GIL)."""

_TOKEN = re.compile(r'<code object _copia_(\d+) at 0x[0-9a-fA-F]+, file "[^"]*", line \d+>(\d+)|\|(\d+):(\d+)')
"""An instruction (the copy, the offset) as `print` writes it, or a time (the copy, perf_counter ns)."""


@dataclass(frozen=True)
class Switch:
    """One thread losing the GIL: after which instruction, and when (perf_counter ns)."""

    copy: int
    offset: int
    opname: str
    last_ns: int
    """The thread's last time written before the switch."""
    resumed_ns: int
    """The other thread's first time written after it: the switch happened in between."""


@dataclass(frozen=True)
class Overwrite:
    """One write, without the GIL, of a count another thread had changed since this one read it."""

    copy: int
    read_ns: int
    write_ns: int
    erased: int
    """How many sums the other threads made between the read and the write (put back by this write)."""


@dataclass(frozen=True)
class _Run:
    copy: int
    thread_id: int
    start_ns: int
    end_ns: int


def _monitoring() -> Any:
    """`sys.monitoring` (3.12+), loosely typed: the project's types are checked against older stubs."""
    return sys.__dict__["monitoring"]


def _free_tool_id() -> int:
    for tool in (3, 4):  # 0-2 and 5 are the debugger's, coverage's, the profiler's and the optimizer's
        if _monitoring().get_tool(tool) is None:
            return tool
    raise RuntimeError("o sys.monitoring não tem um identificador livre (3 ou 4) para o microscópio")


class Microscope:
    """Observa as instruções de `function` em cada thread que a roda por `run` (Python 3.12+).

    `variable`: o nome da variável global cujas leituras e escritas importam (sem GIL); por padrão,
    a única que `function` escreve com ``global``.
    """

    def __init__(self, function: Callable[..., Any], variable: str | None = None) -> None:
        if not AVAILABLE:
            raise RuntimeError(f"o microscópio usa o sys.monitoring, que existe a partir do Python 3.12; "
                               f"este é o {sys.version.split()[0]}")
        code = getattr(function, "__code__", None)
        if not isinstance(code, types.CodeType):
            raise TypeError(f"Microscope observa uma função escrita em Python (def); recebido {function!r}")
        stored = sorted({i.argval for i in dis.get_instructions(code) if i.opname == "STORE_GLOBAL"})
        if variable is None and len(stored) != 1:
            raise ValueError(f"diga qual variável global observar, com variable='nome'; {function.__name__} "
                             f"escreve {len(stored)} com global: {stored}")
        self.function = function
        self.variable = variable if variable is not None else stored[0]
        self.gil = gil_enabled()
        self._opnames = {i.offset: i.opname for i in dis.get_instructions(code)}
        self._reads = {i.offset for i in dis.get_instructions(code)
                       if i.opname == "LOAD_GLOBAL" and i.argval == self.variable}
        self._writes = {i.offset for i in dis.get_instructions(code)
                        if i.opname == "STORE_GLOBAL" and i.argval == self.variable}
        self._lock = threading.Lock()
        self._runs: list[_Run] = []
        self._active = 0
        self._tool = -1
        self._buffer = io.StringIO()  # with the GIL: the instructions, in the order they ran
        # without it: (offset, ns, value) for each copy, in a list of its own (one shared by the threads
        # would be a lock they wait for)
        self._accesses: dict[int, list[tuple[int, int, Any]]] = {}
        self._copies: dict[types.CodeType, int] = {}  # with the GIL: each run's copy of the code
        self._thread_runs: dict[int, int] = {}  # the run each thread is in now
        self._collecting = False  # whether the garbage collector was on before (without the GIL)

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            return self._run_copy(args, kwargs)

        self.run = task(run)
        """Chame no lugar de `function` (numa thread): roda uma cópia observada e gravada dela."""

    # --- watching --------------------------------------------------------------------------

    def _run_copy(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        mon = _monitoring()
        original: Any = self.function
        with self._lock:
            number = len(self._runs) + self._active
            self._accesses[number] = []
            self._thread_runs[threading.get_ident()] = number
            if self._active == 0:
                self._start()
            self._active += 1
            if self.gil:
                # a copy of its own: the callback in C tells the threads apart by the code it gets
                code = original.__code__.replace(co_name=f"_copia_{number}")
                self._copies[code] = number
                mon.set_local_events(self._tool, code, mon.events.INSTRUCTION | mon.events.JUMP)
            elif self._active == 1:
                # without the GIL, (un)instrumenting stops every thread: done once, while no other runs it
                code = original.__code__
                mon.set_local_events(self._tool, code, mon.events.INSTRUCTION)
        body = types.FunctionType(original.__code__ if not self.gil else code, original.__globals__,
                                  original.__name__, original.__defaults__, original.__closure__)
        start = perf_counter_ns()
        try:
            return body(*args, **kwargs)
        finally:
            end = perf_counter_ns()
            with self._lock:
                self._runs.append(_Run(number, threading.get_ident(), start, end))
                self._active -= 1
                if self.gil:
                    mon.set_local_events(self._tool, code, 0)
                elif self._active == 0:
                    mon.set_local_events(self._tool, original.__code__, 0)
                if self._active == 0:
                    self._stop()

    def _start(self) -> None:
        mon = _monitoring()
        self._tool = _free_tool_id()
        mon.use_tool_id(self._tool, "conctutor microscope")
        if self.gil:
            write = self._buffer.write
            copies = self._copies

            def on_jump(code: types.CodeType, offset: int, destination: int) -> None:
                write(f"|{copies[code]}:{perf_counter_ns()}")

            # a callback in C: it adds no place where the GIL can change hands
            mon.register_callback(self._tool, mon.events.INSTRUCTION,
                                  functools.partial(print, sep="", end="", file=self._buffer))
            mon.register_callback(self._tool, mon.events.JUMP, on_jump)
        else:
            logs, watched, runs = self._accesses, self._reads | self._writes, self._thread_runs
            namespace, name, ident = getattr(self.function, "__globals__", {}), self.variable, threading.get_ident

            # (returning sys.monitoring.DISABLE for the other instructions would re-instrument the code,
            # which a free-threaded build does with every thread stopped)
            def on_instruction(code: types.CodeType, offset: int) -> None:
                run = runs.get(ident(), -1)  # -1: a thread that calls the function itself, not through run
                if offset in watched and run in logs:
                    logs[run].append((offset, perf_counter_ns(), namespace.get(name)))

            mon.register_callback(self._tool, mon.events.INSTRUCTION, on_instruction)
            # the log's tuples would start collections, which a free-threaded build makes with every
            # thread stopped: the threads showed "bloqueada" while one collected
            self._collecting = gc.isenabled()
            gc.disable()

    def _stop(self) -> None:
        mon = _monitoring()
        if self._collecting:
            gc.enable()
        mon.register_callback(self._tool, mon.events.INSTRUCTION, None)
        if self.gil:
            mon.register_callback(self._tool, mon.events.JUMP, None)
        mon.free_tool_id(self._tool)

    # --- what was seen ---------------------------------------------------------------------

    def switches(self) -> list[Switch]:
        """With the GIL: each time a thread lost it (and ran again later), in order."""
        tokens = [(int(a), int(b), True) if a else (int(c), int(d), False)
                  for a, b, c, d in _TOKEN.findall(self._buffer.getvalue())]
        last_instruction = {copy: i for i, (copy, _, is_instruction) in enumerate(tokens) if is_instruction}
        found: list[Switch] = []
        last_ns: dict[int, int] = {}
        current, offset = -1, -1
        waiting: list[tuple[int, int, int]] = []  # switches seen, until the next time written
        for i, (copy, value, is_instruction) in enumerate(tokens):
            if not is_instruction:
                last_ns[copy] = value
                found.extend(Switch(lost, at, self._opnames.get(at, "?"), before, value)
                             for lost, at, before in waiting)
                waiting.clear()
                continue
            if current not in (-1, copy) and last_instruction[current] > i:  # it runs again later
                waiting.append((current, offset, last_ns.get(current, 0)))
            current, offset = copy, value
        return found

    def overwrites(self) -> list[Overwrite]:
        """Without the GIL: each write that put back a count other threads had already changed."""
        found = []
        for copy, log in self._accesses.items():
            read: tuple[int, Any] | None = None
            for offset, ns, value in log:
                if offset in self._reads:
                    read = (ns, value)
                elif offset in self._writes and read is not None:
                    (read_ns, read_value), read = read, None
                    # a count that went back (another thread put back an older one) erases nothing more
                    if isinstance(value, int) and isinstance(read_value, int) and value > read_value:
                        found.append(Overwrite(copy, read_ns, ns, value - read_value))
        found.sort(key=lambda o: o.write_ns)
        return found

    def marks(self, timeline: Any) -> list[Mark]:
        """The instants seen, in `timeline`'s seconds, on the lanes of the threads that ran `run`.

        Each thread's clock is put on the timeline's by its span: the span starts when the copy
        does (within the microseconds the recording takes to note it)."""
        offsets: dict[int, float] = {}
        spans = [s for s in timeline.spans if s.name == self.function.__name__]
        for run in self._runs:
            mine = [s for s in spans if s.thread_id == run.thread_id]
            if mine:
                span = min(mine, key=lambda s: abs(s.end - s.start - (run.end_ns - run.start_ns) / 1e9))
                offsets[run.copy] = span.start - run.start_ns / 1e9
        thread_of = {run.copy: run.thread_id for run in self._runs}
        if self.gil:
            instants = [(s.copy, s.last_ns, LOST_GIL) for s in self.switches()]
        else:
            instants = [(o.copy, o.write_ns, OVERWROTE) for o in self.overwrites()]
        return [Mark(max(ns / 1e9 + offsets[copy], 0.0), thread_of[copy], label)
                for copy, ns, label in instants if copy in offsets]

    def summary(self) -> list[str]:
        """What was seen, in the lines a notebook prints."""
        if self.gil:
            switches = self.switches()
            lines = [f"trocas de thread vistas: {len(switches)} trocas"]
            where = Counter(s.opname for s in switches)
            if where:
                opname, count = where.most_common(1)[0]
                lines.append(f"última instrução antes da troca: {opname} em {count / len(switches):.0%} das "
                             f"trocas → {_share_words(count / len(switches))}")
            return lines
        return [f"escritas por cima de outra thread: {len(self.overwrites())} escritas"]

    def seen(self, timeline: Any, expected: int, final: int) -> Seen:
        """O que o microscópio viu em `timeline`, para imprimir e desenhar: `expected` somas feitas,
        e o contador terminou em `final`."""
        run = timeline.snapshot() if hasattr(timeline, "snapshot") else timeline
        build = "com GIL" if self.gil else "sem GIL"
        lost = (expected - final) / expected if expected else 0.0
        lines = (f"Python {python_version()}, {build}: {len(self._runs)} threads · somas perdidas: {lost:.0%}",
                 *self.summary())
        return Seen(run, tuple(self.marks(run)), lines, python_version(), self.gil)

def _share_words(share: float) -> str:
    if share >= 0.999:
        return "todas"
    if share >= 0.9:
        return "quase todas"
    return "nem todas: veja quais são as outras em lupa.switches()"



# --- the notebook's run, kept for the Pythons that cannot make it -----------------------------

contador = 0
"""The counter `soma` updates (notebook 05's program, as the image makers run it)."""


def soma(vezes: int) -> None:
    """Soma 1 ao contador global, `vezes` vezes, sem trava (o programa da seção 2 do notebook 05)."""
    global contador
    for _ in range(vezes):
        contador += 1


@dataclass(frozen=True)
class Seen:
    """A race watched under the microscope: the run, the instants on its lanes, and what was printed."""

    timeline: Any
    marks: tuple[Mark, ...]
    lines: tuple[str, ...]
    python: str
    gil: bool

    def plot(self, **options: Any) -> Any:
        """The run's figure with its instants; the title says which Python made it."""
        build = "com GIL" if self.gil else "sem GIL"
        options.setdefault("title", f"A corrida ao microscópio: Python {self.python}, {build}")
        options.setdefault("ideal", False)
        options.setdefault("cpu", False)  # a run of hundredths of a second: one or two CPU samples, noise
        return self.timeline.plot(marks=self.marks, **options)


def watch_race(threads: int = 4, iterations: int = 5_000) -> Seen:
    """Run `soma` in `threads` threads under the microscope, recorded (what `python -m conctutor.imgs` keeps)."""
    from ..engine.recording import record

    global contador
    contador = 0
    lupa = Microscope(soma)
    workers = [threading.Thread(target=lupa.run, args=(iterations,)) for _ in range(threads)]
    with record() as timeline:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    return lupa.seen(timeline, threads * iterations, contador)


def save_seen(seen: Seen, path: str) -> None:
    """Keep `seen` as JSON: the run (`Timeline.to_dict`), its instants and its lines."""
    data = {"python": seen.python, "gil": seen.gil, "lines": list(seen.lines),
            "marks": [list(mark) for mark in seen.marks], "run": seen.timeline.to_dict()}
    with open(path, "w", encoding="utf-8") as file:
        json.dump(data, file)


def load_seen(path: str) -> Seen:
    """A race kept by `save_seen` (made by a Python 3.12+), to draw and print on any Python."""
    from ..engine.timeline import Timeline

    with open(path, encoding="utf-8") as file:
        data = json.load(file)
    return Seen(Timeline.from_dict(data["run"], path), tuple(Mark(float(t), int(i), str(w)) for t, i, w in
                                                             data["marks"]),
                tuple(data["lines"]), str(data["python"]), bool(data["gil"]))
