"""What notebook 05's race microscope costs and how sure its instants are (conctutor.course.microscope).

    python3.14 benchmarks/bench_microscope.py        # with the GIL
    python3.14t benchmarks/bench_microscope.py       # without it

Needs Python 3.12+ (sys.monitoring) and conctutor importable. Prints JSON:

* ``cost``: 2 threads × 20 000 ``contador += 1``, the fastest of 5 runs, plain and watched, and their ratio;
* ``python_callback_lost`` (with the GIL): the sums lost when every instruction calls a *Python* callback
  instead of the microscope's C one (2 threads × 100 000): why the microscope logs from C;
* ``runs``: 5 recorded runs of 4 threads × 5 000, as the notebook makes them. With the GIL: the switches
  seen, the instruction before each, the sums lost, and the window in which each switch happened (from the
  losing thread's last time written to the next time written), median and largest, in ms. Without it: the
  writes marked, the sums lost, and the sums those writes erased, as a share of the lost.
"""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
from collections import Counter
from typing import Any

from conctutor import record
from conctutor.course import microscope


def in_threads(function: Any, times: int, threads: int) -> float:
    workers = [threading.Thread(target=function, args=(times,)) for _ in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - start


def cost() -> dict[str, float]:
    plain = min(in_threads(microscope.soma, 20_000, 2) for _ in range(5))
    watched = min(in_threads(microscope.Microscope(microscope.soma).run, 20_000, 2) for _ in range(5))
    return {"plain_ms": round(plain * 1e3, 2), "watched_ms": round(watched * 1e3, 1),
            "ratio": round(watched / plain, 1)}


def python_callback_lost(times: int = 100_000) -> int:
    """The sums lost when a Python function is called before every instruction of `soma`."""
    mon: Any = sys.__dict__["monitoring"]
    tool = 4
    mon.use_tool_id(tool, "bench")
    mon.register_callback(tool, mon.events.INSTRUCTION, lambda code, offset: None)
    mon.set_local_events(tool, microscope.soma.__code__, mon.events.INSTRUCTION)
    try:
        microscope.contador = 0
        in_threads(microscope.soma, times, 2)
        return 2 * times - microscope.contador
    finally:
        mon.set_local_events(tool, microscope.soma.__code__, 0)
        mon.register_callback(tool, mon.events.INSTRUCTION, None)
        mon.free_tool_id(tool)


def one_run(threads: int = 4, times: int = 5_000) -> dict[str, Any]:
    microscope.contador = 0
    lupa = microscope.Microscope(microscope.soma)
    with record():
        in_threads(lupa.run, times, threads)
    lost = threads * times - microscope.contador
    if lupa.gil:
        switches = lupa.switches()
        windows = [(s.resumed_ns - s.last_ns) / 1e6 for s in switches] or [0.0]
        return {"switches": len(switches), "after": dict(Counter(s.opname for s in switches)), "lost": lost,
                "window_ms_median": round(statistics.median(windows), 3), "window_ms_max": round(max(windows), 3)}
    overwrites = lupa.overwrites()
    erased = sum(o.erased for o in overwrites)
    return {"writes_marked": len(overwrites), "lost": lost, "erased": erased,
            "erased_over_lost": round(erased / lost, 2) if lost else None}


def main() -> None:
    if not microscope.AVAILABLE:
        raise SystemExit(f"o microscópio precisa do Python 3.12+ (sys.monitoring); este é o {sys.version.split()[0]}")
    result: dict[str, Any] = {"python": sys.version.split()[0], "gil": microscope.Microscope(microscope.soma).gil,
                              "cost": cost()}
    if result["gil"]:
        result["python_callback_lost"] = python_callback_lost()
    result["runs"] = [one_run() for _ in range(5)]
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
