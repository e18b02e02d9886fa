"""What recording costs, side by side with VizTracer and with the machine's floors, in one run.

    python benchmarks/bench_recording.py [--quick]

Every figure is the best of several rounds, so a moment of load elsewhere on
the machine does not decide it; the floors (a clock read, a system call, a
bare-bones wrapper) are measured in the same run, because on a shared
machine they move too. Targets (issue 7):

* a recorded call: <= 2.0 us in a thread, <= 2.5 us in a worker process;
* a decorated call outside record(): <= 0.3 us over the plain function;
* save, load and Perfetto export of 100k spans: <= 0.5 s each;
* <= 400 B per span (a task with one wait) after the block;
* a worker's first task: <= 5 ms slower than a plain function's.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gc
import json
import mmap
import multiprocessing
import os
import statistics
import struct
import sys
import tempfile
import threading
import time
import tracemalloc
from time import perf_counter_ns, thread_time_ns

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from conctutor import Timeline, record, task

ROUNDS = 7


def plain() -> None:
    """An empty body: what is left of a call's cost is the wrapper's and the recorder's."""


nada = task(plain)


@task(kind="io")
def espera_um_pouco() -> None:
    """A task with one wait (as the chapter's tasks have)."""


def per_call(function, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - started) / calls


def best(function, calls: int) -> float:
    return min(per_call(function, calls) for _ in range(ROUNDS))


def in_a_thread(function, calls: int) -> float:
    result: list[float] = []
    thread = threading.Thread(target=lambda: result.append(best(function, calls)))
    thread.start()
    thread.join()
    return result[0]


# --- floors -----------------------------------------------------------------------------


def floors(calls: int) -> dict[str, float]:
    fd = os.open(os.devnull, os.O_WRONLY)
    line = b"x" * 40
    handle, path = tempfile.mkstemp()
    os.ftruncate(handle, 64 << 20)
    mm = mmap.mmap(handle, 64 << 20)
    os.close(handle)
    os.unlink(path)
    layout = struct.Struct("<BIqqB")
    position = [0]

    def bare() -> None:  # two clock pairs and two stores into an mmap'd file
        pos = position[0]
        layout.pack_into(mm, pos, 4, 1, perf_counter_ns(), thread_time_ns(), 4)
        plain()
        layout.pack_into(mm, pos + 22, 7, 1, perf_counter_ns(), thread_time_ns(), 7)
        position[0] = (pos + 44) % (60 << 20)

    def with_write() -> None:
        os.write(fd, line)
        plain()
        os.write(fd, line)

    result = {
        "perf_counter_ns": best(perf_counter_ns, calls),
        "thread_time_ns": best(thread_time_ns, calls),
        "os.write": best(lambda: os.write(fd, line), calls) - best(lambda: None, calls),
        "bare wrapper (mmap)": best(bare, calls) - best(plain, calls),
        "bare wrapper (os.write)": best(with_write, calls) - best(plain, calls),
    }
    os.close(fd)
    mm.close()
    return result


# --- per call -----------------------------------------------------------------------------


def viztracer_per_call(calls: int) -> float | None:
    try:
        from viztracer import VizTracer
    except ImportError:
        return None
    tracer = VizTracer(verbose=0, tracer_entries=4_000_000)
    rounds = []
    for _ in range(ROUNDS):
        tracer.start()
        rounds.append(per_call(plain, calls))
        tracer.stop()
        tracer.clear()
    threading.setprofile(None)  # VizTracer leaves its hook for new threads behind
    sys.setprofile(None)
    return min(rounds)


def recorded_in_thread(calls: int) -> float:
    rounds = []
    for _ in range(ROUNDS):
        with record():
            rounds.append(in_a_thread(lambda: [nada() for _ in range(calls)] and None, 1) / calls)
    return min(rounds)


def worker_per_call(method: str, calls: int) -> tuple[float, float]:
    context = multiprocessing.get_context(method)
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        plain_cost = min(pool.submit(best_plain, calls).result() for _ in range(3))
    with record(), concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        pool.submit(nada).result()  # the worker learns where to report
        recorded = min(pool.submit(best_recorded, calls).result() for _ in range(3))
    return plain_cost, recorded


def best_plain(calls: int) -> float:
    return best(plain, calls)


def best_recorded(calls: int) -> float:
    return best(nada, calls)


# --- first task in a fresh worker ------------------------------------------------------------


def first_task(method: str, recorded: bool) -> float:
    context = multiprocessing.get_context(method)
    samples = []
    for _ in range(5):
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
            pool.submit(int).result()  # the worker is up
            if recorded:
                with record():
                    started = time.perf_counter()
                    pool.submit(nada).result()
                    samples.append(time.perf_counter() - started)
            else:
                started = time.perf_counter()
                pool.submit(plain).result()
                samples.append(time.perf_counter() - started)
    return statistics.median(samples)


# --- 100k spans ------------------------------------------------------------------------------


def best_of(rounds: int, action) -> float:
    """The shortest of `rounds` timed runs of `action()`, in seconds."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def hundred_thousand(spans: int) -> dict[str, float]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    with record() as live:
        for _ in range(spans):
            espera_um_pouco()
    timeline = live.final
    del live
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert timeline is not None and len(timeline) == spans
    directory = tempfile.mkdtemp()
    path, trace = os.path.join(directory, "run.json"), os.path.join(directory, "trace.json")
    save = best_of(3, lambda: timeline.save(path))
    load = best_of(3, lambda: Timeline.load(path))
    perfetto = best_of(3, lambda: timeline.to_perfetto(trace))
    size = os.path.getsize(path)
    return {"bytes per span": (after - before) / spans, "save s": save, "load s": load, "perfetto s": perfetto,
            "file MB": size / 1e6}


def viztracer_save(spans: int) -> dict[str, float] | None:
    try:
        from viztracer import VizTracer
    except ImportError:
        return None
    directory = tempfile.mkdtemp()
    tracer = VizTracer(verbose=0, tracer_entries=spans * 2 + 10)
    tracer.start()
    for _ in range(spans):
        plain()
    tracer.stop()
    threading.setprofile(None)
    started = time.perf_counter()
    tracer.save(os.path.join(directory, "viz.json"))
    save = time.perf_counter() - started
    started = time.perf_counter()
    with open(os.path.join(directory, "viz.json"), encoding="utf-8") as source:
        json.load(source)
    load = time.perf_counter() - started
    size_mb = os.path.getsize(os.path.join(directory, "viz.json")) / 1e6
    return {"save s": save, "load s (json.load)": load, "file MB": size_mb}


def row(label: str, value: float, unit: str = "us", target: float | None = None, scale: float = 1e6) -> str:
    verdict = ""
    if target is not None:
        verdict = "ok" if value * scale <= target else "ABOVE TARGET"
        verdict = f"<= {target:g} {unit}  {verdict}"
    return f"  {label:<44} {value * scale:10.3f} {unit:<3} {verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls (for a smoke test)")
    arguments = parser.parse_args()
    calls = 5_000 if arguments.quick else 50_000
    spans = 10_000 if arguments.quick else 100_000
    os.environ["CONCTUTOR_TIME_SCALE"] = "1"
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, {calls} calls, best of {ROUNDS}")

    print("floors (this run):")
    for name, value in floors(calls).items():
        print(row(name, value))

    base = best(plain, calls)
    decorated = best(nada, calls)
    print("a call, extra over the plain function:")
    print(row("decorated, outside record()", decorated - base, target=0.3))
    print(row("recorded, in a thread", recorded_in_thread(calls) - in_a_thread(plain, calls), target=2.0))
    viz = viztracer_per_call(calls)
    if viz is not None:
        print(row("VizTracer, same call (wall time only)", viz - base))
    for method in ("fork", "spawn", "forkserver"):
        if method in multiprocessing.get_all_start_methods():
            plain_cost, recorded = worker_per_call(method, calls)
            print(row(f"recorded, in a worker ({method})", recorded - plain_cost, target=2.5))

    print("a worker's first task, recorded minus plain (median of 5):")
    for method in ("spawn", "forkserver"):
        if method in multiprocessing.get_all_start_methods():
            extra = first_task(method, True) - first_task(method, False)
            print(row(f"{method}", extra, "ms", 5.0, 1e3))

    print(f"{spans} spans (a task with one wait each):")
    for name, value in hundred_thousand(spans).items():
        target = {"bytes per span": 400.0, "save s": 0.5, "load s": 0.5, "perfetto s": 0.5}.get(name)
        unit = "B" if name == "bytes per span" else ("MB" if name == "file MB" else "s")
        print(row(name, value, unit, target, 1.0))
    saved = viztracer_save(spans)
    if saved is not None:
        for name, value in saved.items():
            print(row(f"VizTracer {name}", value, "MB" if "MB" in name else "s", None, 1.0))


if __name__ == "__main__":
    main()
