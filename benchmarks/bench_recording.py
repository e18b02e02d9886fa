"""What recording costs a task: in a thread, and inside a worker process.

    python benchmarks/bench_recording.py

Each figure is the best of several rounds of (time per call recorded) minus
(time per call unrecorded), for `nada()`: a task with an empty body, so what
is left is the recorder (the chapter's tasks add a print and a sleep, whose
cost does not change when recorded). Targets (issue 2): <= 3 us per task in
a thread, <= 15 us of extra time inside a worker process.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from conctutor import record, task  # noqa: E402

CALLS = 50_000
ROUNDS = 7


@task("io")
def nada(segundos: float = 0.0) -> None:
    """A task that does nothing: its cost is the wrapper's and the recorder's."""


def per_call_seconds(calls: int = CALLS) -> float:
    """Time per `nada()` call in this thread."""
    started = time.perf_counter()
    for _ in range(calls):
        nada()
    return (time.perf_counter() - started) / calls


def in_a_thread() -> float:
    result: list[float] = []
    thread = threading.Thread(target=lambda: result.append(per_call_seconds()))
    thread.start()
    thread.join()
    return result[0]


def thread_overhead() -> tuple[float, float]:
    plain = min(in_a_thread() for _ in range(ROUNDS))
    recorded = []
    for _ in range(ROUNDS):
        with record():
            recorded.append(in_a_thread())
    return plain, min(recorded)


def worker_overhead(method: str) -> tuple[float, float]:
    """Time per call measured inside a worker, without and with a recording."""
    context = multiprocessing.get_context(method)
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as executor:
        plain = min(executor.submit(per_call_seconds).result() for _ in range(ROUNDS))
    recorded = []
    with record():
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as executor:
            # the first task that reaches the worker tells it where to report
            executor.submit(nada).result()
            for _ in range(ROUNDS):
                recorded.append(executor.submit(per_call_seconds).result())
    return plain, min(recorded)


def row(label: str, plain: float, recorded: float, target_us: float) -> str:
    extra = (recorded - plain) * 1e6
    verdict = "ok" if extra <= target_us else "ABOVE TARGET"
    return f"{label:<34} {plain * 1e6:8.2f} {recorded * 1e6:10.2f} {extra:8.2f}   <= {target_us:g} us  {verdict}"


def main() -> None:
    os.environ["CONCTUTOR_TIME_SCALE"] = "1"
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, {CALLS} calls x best of {ROUNDS}")
    print(f"{'where the task runs':<34} {'plain us':>8} {'recorded us':>10} {'extra us':>8}")
    print(row("thread", *thread_overhead(), 3))
    for method in ("fork", "spawn", "forkserver"):
        if method in multiprocessing.get_all_start_methods():
            print(row(f"worker process ({method})", *worker_overhead(method), 15))


if __name__ == "__main__":
    main()
