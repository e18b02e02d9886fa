"""Two pure-Python loops in threads, in subinterpreters and in processes, each against one alone.

    python benchmarks/bench_interpreters.py [PYTHON ...] [--runs 5] [--steps 10000000]

The script each PYTHON runs is `conctutor.comparison.WAYS_SCRIPT` (notebook 09's closing
comparison), standard library only: any CPython runs it, with or without conctutor (with no
interpreters below 3.14). Each PYTHON (default: this one) is run in turn in this one invocation,
so that their numbers come from the same machine at about the same time. For each, in rounds (one
alone, then two in a
ThreadPoolExecutor(2), two in an InterpreterPoolExecutor(2), two in a ProcessPoolExecutor(2),
each pool warmed up first): the median time of one loop alone, and for each way the median
ratio of two to one alone measured just before, with its range. With the GIL, two
threads take about twice one; interpreters (each with its own GIL) and processes about once;
on a free-threaded build, threads about once too. What ``/proc/stat`` says the whole machine
did during the rounds is printed beside them: a busy neighbour moves every ratio.

Measured on the 2-core machine, 2026-12-06 (numbers in the closing note of issue 22).
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from conctutor.comparison import VERSION_CHECK, run_ways_in_pythons


def busy_cores() -> tuple[int, int]:
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pythons", nargs="*", default=[sys.executable])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10_000_000)
    args = parser.parse_args()
    print(f"{'python':18} {'one loop':>9} {'threads / one':>20} {'interpreters / one':>20} "
          f"{'processes / one':>20}  machine busy")
    for python in args.pythons:
        version = subprocess.run([python, "-c", VERSION_CHECK], capture_output=True, text=True,
                                 check=True).stdout.split()
        label = version[0] + ("" if version[1] == "1" else " (sem GIL)")
        before = busy_cores()
        (run,) = run_ways_in_pythons(args.steps, args.runs, {label: (python, version[0], version[1] == "0")})
        after = busy_cores()
        cells = []
        for way in ("threads", "interpretadores", "processos"):
            ratio = run.ratios.get(way)
            cells.append(f"{ratio[0]:.2f}x ({ratio[1]:.2f}-{ratio[2]:.2f})" if ratio else "-")
        share = (after[0] - before[0]) / max(1, after[1] - before[1])
        print(f"{label:18} {run.alone:8.2f}s {cells[0]:>20} {cells[1]:>20} {cells[2]:>20}  "
              f"{share:.0%} of the cores")


if __name__ == "__main__":
    main()
