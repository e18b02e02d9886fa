"""Does drawing grow with the pixels, not with the tasks? And what does an empty ``record()`` cost?

    python benchmarks/bench_scale.py            # everything, about 1.5 minutes on a 2-core VM
    python benchmarks/bench_scale.py --quick    # without the 100 000 tasks and the 50 000-lane run

Every figure is measured in a fresh process, on a run recorded for real just before (each asyncio task is a
recorded ``await asyncio.sleep(0.05)``, each thread a recorded ``time.sleep(0.05)``):

- figure: ``timeline.plot()`` and its PNG (``savefig``), seconds; memory: how much the process's peak RSS
  grew while drawing (``ru_maxrss``), MB;
- VizTracer: the same program traced by VizTracer instead, the time to stop and write its trace file,
  and the file's size (conctutor's own saved run beside it);
- the live view: one frame (snapshot, scene, SVG) while 1 000 asyncio tasks wait, as frames per second;
- ``conctutor show`` of a saved run with 50 000 lanes (a real run of 50 000 asyncio tasks), the whole command;
- ``record()`` entered and left around an empty block: the median of 50, after 3 warm-up blocks, in a script
  and in a Jupyter kernel.

The targets (issue 24) are printed beside the measurements.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WAIT = 0.05

RECORD = """
import asyncio, json, sys, threading, time
import conctutor

kind, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
WAIT = float(sys.argv[4]) if len(sys.argv) > 4 else 0.05

@conctutor.task("io")
async def espera(numero):
    await asyncio.sleep(WAIT)

@conctutor.task("io")
def dorme(numero):
    time.sleep(WAIT)

def program():
    if kind == "tasks":
        async def main():
            await asyncio.gather(*(espera(numero) for numero in range(n)))
        asyncio.run(main())
    else:
        threads = [threading.Thread(target=dorme, args=(numero,)) for numero in range(n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

if len(sys.argv) > 5:  # the same program under VizTracer, without conctutor
    from viztracer import VizTracer
    tracer = VizTracer(output_file=path, verbose=0, max_stack_depth=-1, tracer_entries=4_000_000)
    tracer.start()
    program()
    started = time.perf_counter()
    tracer.stop()
    tracer.save()
    print(json.dumps({"save_s": time.perf_counter() - started}))
else:
    with conctutor.record(quiet=True) as timeline:
        program()
    started = time.perf_counter()
    timeline.save(path)
    print(json.dumps({"save_s": time.perf_counter() - started, "spans": len(timeline.snapshot())}))
"""

DRAW = """
import io, json, resource, sys, time
import matplotlib
matplotlib.use("Agg")
import conctutor
timeline = conctutor.Timeline.load(sys.argv[1])
small = conctutor.Timeline.load(sys.argv[2])
small.plot().savefig(io.BytesIO(), format="png")  # fonts, caches: what any second figure finds ready
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
figure = timeline.plot()
figure.savefig(io.BytesIO(), format="png")
seconds = time.perf_counter() - started
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"seconds": seconds, "mb": grown / 1024, "rows": len(figure.axes[0].get_yticks())}))
"""

LIVE = """
import asyncio, json, statistics, threading, time
import conctutor
from conctutor.render.live import LiveView

class Discard:
    def show(self, svg, snapshot):
        self.size = len(svg)
    def finish(self, figure):
        pass

@conctutor.task("io")
async def espera(numero):
    await asyncio.sleep(3.0)

def loop():
    async def main():
        await asyncio.gather(*(espera(numero) for numero in range(1000)))
    asyncio.run(main())

target = Discard()
view = LiveView(target)
with conctutor.record(quiet=True) as timeline:
    worker = threading.Thread(target=loop)
    worker.start()
    time.sleep(0.5)  # the thousand tasks have started and wait
    for _ in range(20):
        view.frame(timeline)
    worker.join()
costs = [frame.cost for frame in view.frames]
print(json.dumps({"frame_s": statistics.median(costs), "running": view.frames[-1].running, "svg": target.size}))
"""

ENTER_EXIT = """
import json, statistics, time
import conctutor
for _ in range(3):
    with conctutor.record(quiet=True):
        pass
costs = []
for _ in range(50):
    started = time.perf_counter()
    with conctutor.record(quiet=True):
        pass
    costs.append(time.perf_counter() - started)
print(json.dumps({"median_ms": statistics.median(costs) * 1e3, "min_ms": min(costs) * 1e3}))
"""


def run_json(code: str, *args: str, timeout: float = 600) -> dict:
    """Run `code` in a fresh Python, return the JSON it printed last."""
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode:
        raise RuntimeError(f"failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def in_kernel(code: str) -> dict:
    """Run `code` in a fresh Jupyter kernel (ipykernel), return the JSON it printed."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", cwd=str(ROOT))
    try:
        printed: list[str] = []
        reply = client.execute_interactive(code, timeout=300,
                                           output_hook=lambda msg: printed.append(msg["content"].get("text", "")))
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"the kernel said: {reply['content']}")
        return json.loads("".join(printed).strip().splitlines()[-1])
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def main(quick: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:  # VizTracer's traces weigh up to 0.7 GB
        measure(Path(folder), quick)


def measure(folder: Path, quick: bool) -> None:
    rows: list[tuple[str, str, str]] = []
    cases = [("tasks", 100), ("tasks", 1_000), ("tasks", 10_000), ("threads", 1_000)]
    if not quick:
        cases.append(("tasks", 100_000))
    small = folder / "tasks-100.json"
    figures = {}
    for kind, n in cases:
        path = folder / f"{kind}-{n}.json"
        saved = run_json(RECORD, kind, str(n), str(path), str(WAIT))
        drawn = run_json(DRAW, str(path), str(small if small.exists() else path))
        traced_path = folder / f"{kind}-{n}.viztracer.json"
        traced = run_json(RECORD, kind, str(n), str(traced_path), str(WAIT), "viztracer")
        figures[(kind, n)] = drawn
        name = f"{n:,} {'asyncio tasks' if kind == 'tasks' else 'threads'}".replace(",", " ")
        print(f"{name:>20}: figure {drawn['seconds']:.2f} s, +{drawn['mb']:.0f} MB, {drawn['rows']} rows labelled; "
              f"conctutor saves {saved['spans']} spans in {saved['save_s']:.2f} s ({path.stat().st_size / 1e6:.1f} MB);"
              f" VizTracer writes its trace in {traced['save_s']:.2f} s ({traced_path.stat().st_size / 1e6:.1f} MB)",
              flush=True)
    base = figures[("tasks", 100)]
    ten_k = figures[("tasks", 10_000)]
    rows.append(("drawing 10 000 tasks / 100", f"{ten_k['seconds'] / base['seconds']:.2f}×", "≤ 3×"))
    rows.append(("memory added drawing 10 000 tasks", f"{ten_k['mb']:.0f} MB", "≤ 60 MB"))
    if ("tasks", 100_000) in figures:
        hundred_k = figures[("tasks", 100_000)]
        rows.append(("drawing 100 000 tasks / 100", f"{hundred_k['seconds'] / base['seconds']:.2f}×", "< 10×"))

    live = run_json(LIVE)
    rows.append((f"live frames, {live['running']} tasks waiting", f"{1 / live['frame_s']:.0f} frames/s "
                 f"({live['frame_s'] * 1e3:.0f} ms, {live['svg'] / 1e3:.0f} kB)", "≥ 10 frames/s"))

    if not quick:
        path = folder / "tasks-50000.json"
        run_json(RECORD, "tasks", "50000", str(path), str(WAIT))
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "conctutor", "show", str(path), "-o", str(folder / "show.png")],
                       check=True, capture_output=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        rows.append(("conctutor show, 50 000 lanes", f"{time.perf_counter() - started:.2f} s", "< 5 s"))

    script = run_json(ENTER_EXIT)
    rows.append(("record() enter + exit, script", f"{script['median_ms']:.1f} ms (min {script['min_ms']:.1f})",
                 "< 6 ms"))
    try:
        kernel = in_kernel(ENTER_EXIT)
        rows.append(("record() enter + exit, kernel", f"{kernel['median_ms']:.1f} ms (min {kernel['min_ms']:.1f})",
                     "< 6 ms"))
    except Exception as error:  # no jupyter_client here: say so rather than fail the rest
        rows.append(("record() enter + exit, kernel", f"not measured ({error})", "< 6 ms"))

    print()
    width = max(len(row[0]) for row in rows)
    print(f"{'':{width}}  {'measured':32} target")
    for what, measured, target in rows:
        print(f"{what:{width}}  {measured:32} {target}")


if __name__ == "__main__":
    main("--quick" in sys.argv[1:])
