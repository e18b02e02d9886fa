"""Two `calcula` in two threads against one alone: about 2x with the GIL, about 1x without.

    python benchmarks/bench_gil.py [PYTHON ...] [--runs 5] [--seconds 1.0]

Each PYTHON (default: this one) must import conctutor, e.g. the matrix's environments:

    python benchmarks/bench_gil.py .nox/tests-3-14-forkserver/bin/python .nox/tests-3-14t-forkserver/bin/python

All interpreters run in this one invocation, one after the other, so that their numbers come
from the same machine at about the same time. For each: the median wall time of one
``calcula(seconds)`` and of two in a ThreadPoolExecutor(2), their ratio, and whether the GIL was
on. The ratio needs two free cores to reach 1x without the GIL; the other programs' CPU use is
printed beside it (from /proc/stat, for the whole run).
"""

from __future__ import annotations

import argparse
import json
import os
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

def two_threads():
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(calcula, seconds) for _ in range(2)]:
            future.result()
    return time.perf_counter() - start

calcula(0.1)  # calibrates (cached per machine and interpreter)
before = busy()
one = [alone() for _ in range(runs)]
two = [two_threads() for _ in range(runs)]
after = busy()
gil = getattr(sys, "_is_gil_enabled", lambda: True)()
print(json.dumps({
    "python": sys.version.split()[0] + ("" if gil else " (sem GIL)"),
    "alone_s": statistics.median(one),
    "threads_s": statistics.median(two),
    "busy_cores": (after[0] - before[0]) / (after[1] - before[1]),
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pythons", nargs="*", default=[sys.executable])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0)
    options = parser.parse_args()
    print(f"{'python':24} {'one calcula':>12} {'two, threads':>13} {'ratio':>6}  machine busy")
    for python in options.pythons:
        result = subprocess.run([python, "-c", CHILD, str(options.seconds), str(options.runs)],
                                capture_output=True, text=True, timeout=600,
                                env={**os.environ, "CONCTUTOR_TIME_SCALE": "1"})
        if result.returncode != 0:
            print(f"{python}: failed\n{result.stderr}", file=sys.stderr)
            continue
        row = json.loads(result.stdout.strip().splitlines()[-1])
        ratio = row["threads_s"] / row["alone_s"]
        # busy_cores: the share of all cores' time in use (ours included) over the whole run
        print(f"{row['python']:24} {row['alone_s']:11.2f}s {row['threads_s']:12.2f}s {ratio:5.2f}x  "
              f"{row['busy_cores']:.0%} of the cores")


if __name__ == "__main__":
    main()
