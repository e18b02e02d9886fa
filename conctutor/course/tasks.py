"""The chapter's tasks, and a CPU-bound one.

They live in a module (not in a notebook cell) because worker processes
started with *spawn* or *forkserver* import the functions they run by name:
a function defined in a notebook cell cannot be found there.

``consulta_dados``, ``processa_dados`` and ``grava_log`` print and wait exactly
like the chapter's versions (``time.sleep`` simulates the I/O); ``calcula``
computes. Each takes ``segundos=`` to override its default duration.

Their prints are flushed at once. A worker started with *spawn* or
*forkserver* writes to the file its parent's stdout was, which is a pipe in
Jupyter: unflushed, its lines would wait in a buffer until the worker exits,
and reach the notebook all together instead of when each task starts.
"""

from __future__ import annotations

import time

from ..engine.recorder import chapter_task, current_span, wait
from ..render.colours import keep_colours
from .chapter import TASKS

keep_colours(TASKS)  # the chapter's tasks keep their colours in every figure, whatever else a run holds


@chapter_task("io")
def consulta_dados(segundos: float = 2.0) -> str:
    """Simula uma consulta: imprime, espera `segundos` (E/S simulada) e devolve ``"dados"``."""
    print("Consultando dados...", flush=True)
    wait(segundos)
    return "dados"


@chapter_task("io")
def processa_dados(dados: str, segundos: float = 2.0) -> None:
    """Simula o processamento de `dados`: imprime e espera `segundos`."""
    print("Processando dados...", flush=True)
    wait(segundos)


processa_dados.needs = ("consulta_dados",)  # type: ignore[attr-defined]  # the data it processes: the ideal time waits


@chapter_task("io")
def grava_log(segundos: float = 2.0) -> None:
    """Simula a gravação de um log: imprime e espera `segundos`."""
    print("Gravando log...", flush=True)
    wait(segundos)


CHUNK_CPU_NS = 250_000
"""What one round of `calcula`'s loop aims to cost, in CPU time: the thread's CPU clock is read once per round
(a system call, 0.2-1 us), so reading it costs well under 1 % of the work, and `calcula` ends at most this
late."""
PAUSE_NS = 200_000
"""A round whose wall time exceeds its CPU time by more than this was held back (waiting for the GIL or a core)."""
FIRST_ROUND = 1000
"""Iterations of the first round, before the loop knows how fast this interpreter runs right now."""
_FINE_THREAD_CLOCK = time.get_clock_info("thread_time").resolution <= 1e-6
"""Whether the thread's CPU clock can date a round (Windows counts it in 15.6 ms steps)."""


def _spin(iterations: int, x: int) -> int:
    """Integer arithmetic in a pure-Python loop, every iteration the same cost."""
    # A local, not the constant in the loop: without the GIL, threads running this same code
    # contended for the shared constant (its reference count, as in python/cpython#118527), and
    # two threads took 1.3x one's time instead of 1x on 3.14t.
    modulus = 1_000_003
    for _ in range(iterations):
        x = (x * 31 + 7) % modulus
    return x


@chapter_task("cpu")
def calcula(segundos: float = 2.0) -> int:
    """Calcula (contas em Python puro) até esta thread ter usado `segundos` de CPU.

    Como ``time.sleep`` simula a espera por E/S, `calcula` simula trabalho de
    CPU com duração conhecida, a mesma em qualquer máquina e a qualquer
    momento: duas `calcula` em threads, revezando o GIL, levam cerca do dobro
    de uma; em processos, ou sem o GIL, cerca do mesmo tempo de uma.
    """
    budget_ns = round(segundos * 1e9)
    span = current_span()
    sink, seq = span if span is not None else (None, 0)
    iterations = FIRST_ROUND
    x = 1
    cpu_start = time.thread_time_ns()
    used = 0
    fastest = float("inf")  # wall ns per iteration of the quickest round: an undisturbed round's cost
    slice_start = last = time.perf_counter_ns()
    while used < budget_ns:
        x = _spin(iterations, x)
        now = time.perf_counter_ns()
        cpu = time.thread_time_ns() - cpu_start
        spent, used = cpu - used, cpu
        wall = now - last
        fastest = min(fastest, wall / iterations)
        # Held back for part of the round: it stopped running where the round began (at most
        # one round early) and ran again for the round's own cost before its end.
        own = spent if _FINE_THREAD_CLOCK else fastest * iterations
        if wall - own > PAUSE_NS:
            if sink is not None:
                sink.run(seq, slice_start, last)
            slice_start = now - round(own)
        last = now
        cost = spent / iterations if _FINE_THREAD_CLOCK and spent > 0 else fastest
        left = budget_ns - used
        iterations = max(1, min(round(CHUNK_CPU_NS / cost), round(left / cost) + 1)) if cost > 0 else iterations
    if sink is not None:
        sink.run(seq, slice_start, last)
    return x
