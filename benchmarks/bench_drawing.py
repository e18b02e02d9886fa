"""How fast is `plot_timeline`? Real recordings of ~1k, 10k and 100k spans.

    python benchmarks/bench_drawing.py

Each timeline is a real run: 64 threads (or fewer) calling ``grava_log(segundos=0)``
many times, plus a few ``calcula`` slices, recorded with ``record()``. The
time measured is ``plot_timeline(...)`` plus ``fig.canvas.draw()`` (Agg), best
of a few tries.

Targets: 1k spans < 0.2 s, 10k < 1 s, 100k < 5 s.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
import time

os.environ.setdefault("CONCTUTOR_TIME_SCALE", "0.02")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import matplotlib

matplotlib.use("Agg")

import conctutor
from conctutor.drawing import plot_timeline

TARGETS = {1_000: 0.2, 10_000: 1.0, 100_000: 5.0}


def _worker(calls: int) -> None:
    for _ in range(calls):
        conctutor.grava_log(segundos=0)


def real_timeline(spans: int, threads: int) -> conctutor.Timeline:
    """Record a real run with about `spans` spans over `threads` lanes."""
    with contextlib.redirect_stdout(io.StringIO()), conctutor.record() as timeline:
        workers = [threading.Thread(target=_worker, args=(spans // threads,)) for _ in range(threads)]
        workers.append(threading.Thread(target=conctutor.calcula, args=(1.0,)))  # GIL slices too
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    return timeline


def best_time(timeline: conctutor.Timeline, theme: str, tries: int) -> float:
    best = float("inf")
    for _ in range(tries):
        started = time.perf_counter()
        fig = plot_timeline(timeline, title="benchmark", theme=theme)
        fig.canvas.draw()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    print(f"Python {sys.version.split()[0]}, matplotlib {matplotlib.__version__}, {os.cpu_count()} CPUs")
    print(f"{'spans':>8} {'lanes':>6} {'tema':>9} {'melhor (s)':>11} {'meta (s)':>9}  ok?")
    for size, threads in ((1_000, 8), (10_000, 64), (100_000, 64)):
        timeline = real_timeline(size, threads)
        spans = len(timeline.spans)
        for theme in ("padrao", "projetor"):
            seconds = best_time(timeline, theme, tries=5 if size <= 10_000 else 3)
            target = TARGETS[size]
            verdict = "sim" if seconds < target else "NÃO"
            print(f"{spans:>8} {len(timeline.workers):>6} {theme:>9} {seconds:>11.3f} {target:>9.1f}  {verdict}")


if __name__ == "__main__":
    main()
