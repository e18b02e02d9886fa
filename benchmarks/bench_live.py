"""Does the live timeline slow the recorded program down? How many refreshes per second?

Runs the chapter's thread program and process program (I/O-bound sleeps) in a
real Jupyter kernel, with ``record(live=True)`` and with ``record()``,
alternating, several times each, and compares the median ``timeline.makespan``.
The frames really travel to this script (acting as the front-end) over the
kernel's IOPub channel, as they would to JupyterLab.

Target: live on stays within max(2 %, 20 ms) of live off; at least 10
refreshes per second.

    .venv/bin/python benchmarks/bench_live.py            # 2-second tasks, 5 repetitions
    .venv/bin/python benchmarks/bench_live.py --reps 3 --scale 0.5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from queue import Empty

from jupyter_client.manager import start_new_kernel

SETUP = """
import concurrent.futures, json, statistics
from conctutor import consulta_dados, processa_dados, grava_log, record
from conctutor.live import open_view

def threads():
    with concurrent.futures.ThreadPoolExecutor() as executor:
        future = executor.submit(consulta_dados)
        dados = future.result()
        executor.submit(processa_dados, dados)
        executor.submit(grava_log)

def processes():
    with concurrent.futures.ProcessPoolExecutor() as executor:
        future = executor.submit(consulta_dados)
        dados = future.result()
        executor.submit(processa_dados, dados)
        executor.submit(grava_log)

def bench(program, live):
    view = open_view() if live else None
    with record(live=view or False) as timeline:
        program()
    result = {"makespan": timeline.makespan, "frames": 0, "rate": 0.0, "cost": 0.0, "max_cost": 0.0}
    if view is not None:
        costs = [f.cost for f in view.frames]
        result.update(frames=len(costs), rate=view.refresh_rate,
                      cost=statistics.median(costs) if costs else 0.0, max_cost=max(costs, default=0.0))
    print("BENCH " + json.dumps(result))
"""


def execute(client, code: str, timeout: float = 300) -> tuple[list[str], list[float]]:
    """Run `code`; return its printed lines and the arrival times of live frames."""
    msg_id = client.execute(code)
    lines: list[str] = []
    frames: list[float] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            msg = client.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        except Empty:
            raise TimeoutError(f"no answer from the kernel in {timeout} s") from None
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            lines.extend(content["text"].splitlines())
        elif kind == "update_display_data" and "image/svg+xml" in content["data"]:
            frames.append(time.perf_counter())
        elif kind == "error":
            raise RuntimeError("\n".join(content["traceback"]))
        elif kind == "status" and content["execution_state"] == "idle":
            return lines, frames


def run_once(client, program: str, live: bool) -> dict:
    lines, frames = execute(client, f"bench({program}, {live})")
    result = json.loads(next(line for line in lines if line.startswith("BENCH "))[6:])
    result["received"] = len(frames)
    result["received_rate"] = (len(frames) - 1) / (frames[-1] - frames[0]) if len(frames) > 1 else 0.0
    return result


def _runs(results: list[dict]) -> str:
    return ", ".join(f"{r['makespan']:.3f}" for r in results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=5, help="repetitions of each program with live on and off")
    parser.add_argument("--scale", type=float, default=1.0, help="CONCTUTOR_TIME_SCALE (1.0: the chapter's 2 s)")
    args = parser.parse_args()

    env = dict(os.environ, CONCTUTOR_TIME_SCALE=str(args.scale))
    env.pop("CONCTUTOR_LIVE", None)
    manager, client = start_new_kernel(kernel_name="python3", env=env)
    failed = False
    try:
        execute(client, SETUP)
        print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, time scale {args.scale}, "
              f"{args.reps} repetitions, live on/off alternating")
        for program in ("threads", "processes"):
            run_once(client, program, False)  # warm-up: imports, first pool
            run_once(client, program, True)
            off, on = [], []
            for rep in range(args.reps):
                order = (False, True) if rep % 2 == 0 else (True, False)
                for live in order:
                    (on if live else off).append(run_once(client, program, live))
            m_off = statistics.median(r["makespan"] for r in off)
            m_on = statistics.median(r["makespan"] for r in on)
            diff = m_on - m_off
            allowed = max(0.02 * m_off, 0.020)
            ok = abs(diff) <= allowed
            failed |= not ok
            print(f"\n{program}:")
            print(f"  makespan live off: median {m_off:.4f} s  (runs: {_runs(off)})")
            print(f"  makespan live on:  median {m_on:.4f} s  (runs: {_runs(on)})")
            print(f"  difference: {diff * 1000:+.1f} ms ({100 * diff / m_off:+.2f} %), allowed ±{allowed * 1000:.0f} ms"
                  f"  -> {'OK' if ok else 'OVER'}")
            print(f"  refreshes/s sent by the kernel: median {statistics.median(r['rate'] for r in on):.1f}"
                  f"  (frames per run: {statistics.median(r['frames'] for r in on):.0f})")
            received = statistics.median(r["received_rate"] for r in on)
            print(f"  refreshes/s received by the client: median {received:.1f}")
            print(f"  frame cost in the kernel: median {1000 * statistics.median(r['cost'] for r in on):.2f} ms,"
                  f" worst {1000 * max(r['max_cost'] for r in on):.2f} ms")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
