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

from . import calibration
from .recorder import chapter_task, current_span, wait


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


@chapter_task("io")
def grava_log(segundos: float = 2.0) -> None:
    """Simula a gravação de um log: imprime e espera `segundos`."""
    print("Gravando log...", flush=True)
    wait(segundos)


CHECK_EVERY_SECONDS = 50e-6
"""How often `calcula` looks at the clock to notice it was paused."""


@chapter_task("cpu")
def calcula(segundos: float = 2.0) -> int:
    """Calcula por cerca de `segundos` do tempo de um núcleo (uma quantidade fixa de trabalho).

    A quantidade é calibrada uma vez por máquina: duas `calcula` dividindo um
    núcleo (threads, por causa do GIL) levam cerca do dobro do tempo; duas em
    dois núcleos (processos), cerca do mesmo tempo de uma.
    """
    rate = calibration.iterations_per_second()
    total = round(segundos * rate)
    chunk = max(1, round(rate * CHECK_EVERY_SECONDS))
    span = current_span()
    if span is None:
        return calibration.spin(total)
    sink, seq = span
    # Look at the clock after each chunk: a gap much longer than a chunk takes
    # means this thread was not running (waiting for the GIL or for a core).
    expected_ns = round(chunk / rate * 1e9)
    pause_ns = 3 * expected_ns + 200_000
    result = 1
    slice_start = last = time.perf_counter_ns()
    done = 0
    while done < total:
        step = min(chunk, total - done)
        result = calibration.spin(step, result)
        done += step
        now = time.perf_counter_ns()
        if now - last > pause_ns:
            sink.run(seq, slice_start, last)
            slice_start = now - expected_ns
        last = now
    sink.run(seq, slice_start, last)
    return result
