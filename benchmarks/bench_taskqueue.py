"""What a task queue costs per message: the embedded broker, Redis and a ProcessPoolExecutor.

    python benchmarks/bench_taskqueue.py [--messages 30] [--runs 5]

For each way of running the same trivial task (``grava_log(segundos=0)``):

* round trip: publish one message, wait for its result; median of N, one at a time;
* publish → start: from the records (the producer's clock to the worker's);
* a 20-message burst on 2 workers, with and without records (median and spread of runs);
* start-up (until every worker is ready) and stop (SIGTERM until every process is gone).

Redis runs only if ``redis-server`` is installed; the benchmark starts its own
on 127.0.0.1 with a free port and no persistence, and stops it.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import statistics
import sys
import time

os.environ.setdefault("CONCTUTOR_TIME_SCALE", "1")

import conctutor
from conctutor.queue.local_redis import local_redis, redis_installed
from conctutor.taskqueue import make_app, read_records, run_workers, set_recording


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:8.2f}"


def spread(values: list[float]) -> str:
    return f"{ms(statistics.median(values))} ({ms(min(values)).strip()}–{ms(max(values)).strip()})"


def bench_celery(url: str | None, messages: int, runs: int) -> dict[str, str]:
    app = make_app(url)
    grava_log = app.tasks["conctutor.grava_log"]
    started = time.perf_counter()
    with run_workers(app, workers=2, concurrency=1) as group:
        startup = time.perf_counter() - started
        for _ in range(3):  # warm up: imports, connections
            grava_log.delay(segundos=0).get(timeout=30)
        since = time.perf_counter_ns()
        trips = []
        for _ in range(messages):
            begin = time.perf_counter()
            grava_log.delay(segundos=0).get(timeout=30)
            trips.append(time.perf_counter() - begin)
        waits = [(r.start_ns - r.publish_ns) / 1e9 for r in read_records(app) if r.publish_ns >= since]
        bursts: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(runs):
            for recorded in (True, False):
                set_recording(app, recorded)
                begin = time.perf_counter()
                results = [grava_log.delay(segundos=0) for _ in range(20)]
                for result in results:
                    result.get(timeout=60)
                bursts[recorded].append(time.perf_counter() - begin)
    stop = group.stop_seconds or 0.0
    return {
        "round trip": ms(statistics.median(trips)),
        "publish→start": ms(statistics.median(waits)),
        "20 msgs, recorded": spread(bursts[True]),
        "20 msgs, not recorded": spread(bursts[False]),
        "start-up": ms(startup),
        "stop": ms(stop),
    }


def _quiet() -> None:
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the chapter's prints, in a benchmark


def bench_pool(messages: int, runs: int) -> dict[str, str]:
    started = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(2, initializer=_quiet) as executor:
        executor.submit(conctutor.grava_log, 0).result()
        startup = time.perf_counter() - started
        for _ in range(3):
            executor.submit(conctutor.grava_log, 0).result()
        trips = []
        for _ in range(messages):
            begin = time.perf_counter()
            executor.submit(conctutor.grava_log, 0).result()
            trips.append(time.perf_counter() - begin)
        bursts = []
        for _ in range(runs):
            begin = time.perf_counter()
            futures = [executor.submit(conctutor.grava_log, 0) for _ in range(20)]
            for future in futures:
                future.result()
            bursts.append(time.perf_counter() - begin)
        stopping = time.perf_counter()
    return {
        "round trip": ms(statistics.median(trips)),
        "publish→start": "       –",
        "20 msgs, recorded": "       –",
        "20 msgs, not recorded": spread(bursts),
        "start-up": ms(startup),
        "stop": ms(time.perf_counter() - stopping),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=30, help="round trips to time (median)")
    parser.add_argument("--runs", type=int, default=5, help="20-message bursts per variant")
    options = parser.parse_args()
    columns = {"embedded (filesystem)": bench_celery(None, options.messages, options.runs)}
    if redis_installed():
        with local_redis() as redis:
            columns["Redis"] = bench_celery(redis.url, options.messages, options.runs)
    else:
        columns["Redis"] = {}
    columns["ProcessPoolExecutor"] = bench_pool(options.messages, options.runs)
    print(f"\nms per message (median of {options.messages}; bursts: median (min–max) of {options.runs}); "
          f"2 workers × concurrency 1, grava_log(segundos=0), {os.cpu_count()} CPUs\n")
    rows = ["round trip", "publish→start", "20 msgs, recorded", "20 msgs, not recorded", "start-up", "stop"]
    names = list(columns)
    print(f"{'':24}" + "".join(f"{name:>28}" for name in names))
    for row in rows:
        print(f"{row:24}" + "".join(f"{columns[name].get(row, 'n/d'):>28}" for name in names))


if __name__ == "__main__":
    main()
