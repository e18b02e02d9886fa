"""The chapter's tasks, and a CPU-bound one.

They live in a module (not in a notebook cell) because worker processes
started with *spawn* or *forkserver* import the functions they run by name:
a function defined in a notebook cell cannot be found there.

``consulta_dados``, ``processa_dados`` and ``grava_log`` print and wait exactly
like the chapter's versions (``time.sleep`` simulates the I/O); ``calcula``
computes. Each takes ``segundos=`` to override its default duration.
"""

from __future__ import annotations

import time

from . import calibration
from .recording import current_span, task, wait


@task("io")
def consulta_dados(segundos: float = 2.0) -> str:
    """Simulate querying data: print, wait `segundos`, return ``"dados"``."""
    print("Consultando dados...")
    wait(segundos)
    return "dados"


@task("io")
def processa_dados(dados: str, segundos: float = 2.0) -> None:
    """Simulate processing `dados`: print and wait `segundos`."""
    print("Processando dados...")
    wait(segundos)


@task("io")
def grava_log(segundos: float = 2.0) -> None:
    """Simulate writing a log: print and wait `segundos`."""
    print("Gravando log...")
    wait(segundos)


CHECK_EVERY_SECONDS = 50e-6
"""How often `calcula` looks at the clock to notice it was paused."""


@task("cpu")
def calcula(segundos: float = 2.0) -> int:
    """Compute for about `segundos` of one core's time (a fixed amount of work).

    The amount is calibrated once per machine, so two `calcula` sharing one
    core (threads under the GIL) take about twice as long, and two on two
    cores (processes) about as long as one.
    """
    rate = calibration.iterations_per_second()
    total = round(segundos * rate)
    chunk = max(1, round(rate * CHECK_EVERY_SECONDS))
    raw = current_span()
    if raw is None:
        return calibration.spin(total)
    # Look at the clock after each chunk: a gap much longer than a chunk takes
    # means this thread was not running (waiting for the GIL or for a core).
    expected_ns = round(chunk / rate * 1e9)
    pause_ns = 3 * expected_ns + 200_000
    running: list[tuple[int, int]] = []
    result = 1
    slice_start = last = raw.start_ns
    done = 0
    while done < total:
        step = min(chunk, total - done)
        result = calibration.spin(step, result)
        done += step
        now = time.perf_counter_ns()
        if now - last > pause_ns:
            running.append((slice_start, last))
            slice_start = now - expected_ns
        last = now
    running.append((slice_start, last))
    raw.running = running
    return result
