"""Two `calcula` in two threads against one alone: about 2x with the GIL, about 1x without.

    python benchmarks/bench_gil.py [PYTHON ...] [--runs 5] [--seconds 1.0]

Each PYTHON (default: this one) must import conctutor, e.g. the matrix's environments:

    python benchmarks/bench_gil.py .nox/tests-3-14-forkserver/bin/python .nox/tests-3-14t-forkserver/bin/python

All interpreters run in this one invocation, one after the other, so that their numbers come
from the same machine at about the same time. For each: the median wall time of one
``calcula(seconds)``, and the ratios to it of two in a ThreadPoolExecutor(2) and of two in a
warmed-up ProcessPoolExecutor(2), each measured right after its own run of one (median and range),
and whether the GIL was on. Two processes show what
the machine's two cores give at best (two virtual cores of one physical core give less than 2x):
without the GIL, threads should come close to it. The share of the cores in use (ours included,
from /proc/stat over the whole run) is printed beside them.

Measured on the 2-core CI machine, 2026-11-26, with the three interpreters in one invocation
(.venv, and the nox environments of 3.14 and 3.14t):

    python             one calcula       two in threads / one     two in processes / one  machine busy
    3.11.7                   0.99s          1.88x (1.55-3.39)          1.05x (0.80-1.72)  62% of the cores
    3.14.7                   0.99s          2.04x (1.93-3.37)          1.02x (0.98-1.63)  65% of the cores
    3.14.7 (sem GIL)         1.03s          1.01x (0.82-1.71)          1.00x (0.90-1.58)  80% of the cores

Before calcula's loop kept its modulus in a local, 3.14t gave 1.3-1.9x for threads: the two
threads contended for the reference count of the constant 1_000_003.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import concurrent.futures, json, statistics, sys, time
from conctutor import calcula

seconds, runs = float(sys.argv[1]), int(sys.argv[2])

def busy():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return sum(fields) - fields[3] - fields[4], sum(fields)

def alone():
    start = time.perf_counter()
    calcula(seconds)
    return time.perf_counter() - start

def two(executor):
    start = time.perf_counter()
    with executor:
        for future in [executor.submit(calcula, seconds) for _ in range(2)]:
            future.result()
    return time.perf_counter() - start

def warm_processes():
    # the processes' start is not what is measured: a pool started and warmed beforehand
    pool = concurrent.futures.ProcessPoolExecutor(2)
    list(pool.map(calcula, [0.01, 0.01]))
    return pool

if __name__ != "__main__":
    raise SystemExit  # a worker process importing this program
calcula(0.1)  # warm: the first call imports and compiles what calcula needs
before = busy()
one, threads, processes = [], [], []
for _ in range(runs):  # interleaved: a virtual machine's speed drifts, even by 2x within a minute
    one.append(alone())
    threads.append(two(concurrent.futures.ThreadPoolExecutor(2)) / one[-1])
    processes.append(two(warm_processes()) / one[-1])
after = busy()
gil = getattr(sys, "_is_gil_enabled", lambda: True)()
print(json.dumps({
    "python": sys.version.split()[0] + ("" if gil else " (sem GIL)"),
    "alone_s": statistics.median(one),
    "threads_ratios": sorted(threads),
    "processes_ratios": sorted(processes),
    "busy_cores": (after[0] - before[0]) / (after[1] - before[1]),
}))
"""


def ratios(values: list[float]) -> str:
    """'1.95x (1.80-2.10)': the median of the runs' ratios, and their range."""
    return f"{statistics.median(values):.2f}x ({values[0]:.2f}-{values[-1]:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pythons", nargs="*", default=[sys.executable])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0)
    options = parser.parse_args()
    print(f"{'python':18} {'one calcula':>11} {'two in threads / one':>26} {'two in processes / one':>26}"
          "  machine busy")
    for python in options.pythons:
        result = subprocess.run([python, "-c", CHILD, str(options.seconds), str(options.runs)],
                                capture_output=True, text=True, timeout=600,
                                env={**os.environ, "CONCTUTOR_TIME_SCALE": "1"})
        if result.returncode != 0:
            print(f"{python}: failed\n{result.stderr}", file=sys.stderr)
            continue
        row = json.loads(result.stdout.strip().splitlines()[-1])
        # busy_cores: the share of all cores' time in use (ours included) over the whole run
        print(f"{row['python']:18} {row['alone_s']:10.2f}s {ratios(row['threads_ratios']):>26} "
              f"{ratios(row['processes_ratios']):>26}  {row['busy_cores']:.0%} of the cores")


if __name__ == "__main__":
    main()
