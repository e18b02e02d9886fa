"""Per-core CPU utilisation, sampled with psutil while a recording runs."""

from __future__ import annotations

import threading
import time
from typing import Any

import psutil

from .model import CpuUsage


def _busy_and_total(times: Any) -> tuple[float, float]:
    total = sum(times)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


class CpuSampler:
    """A daemon thread that samples every core each ``interval`` seconds.

    It keeps its own previous reading (instead of `psutil.cpu_percent`'s
    module-wide one) so it never disturbs other code that uses psutil.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.start_ns = 0
        self.samples: list[tuple[int, list[float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="conctutor-cpu-sampler", daemon=True)
        self._previous: list[tuple[float, float]] = []
        self._lock = threading.Lock()  # `sample_now` may run beside the thread

    def start(self, start_ns: int) -> None:
        self.start_ns = start_ns
        self._previous = [_busy_and_total(t) for t in psutil.cpu_times(percpu=True)]
        self._thread.start()

    def _sample(self) -> None:
        with self._lock:
            now = time.perf_counter_ns()
            current = [_busy_and_total(t) for t in psutil.cpu_times(percpu=True)]
            percents = []
            for (busy0, total0), (busy1, total1) in zip(self._previous, current):
                elapsed = total1 - total0
                percents.append(min(100.0, max(0.0, 100.0 * (busy1 - busy0) / elapsed)) if elapsed > 0 else 0.0)
            self._previous = current
            self.samples.append((now, percents))

    def sample_now(self) -> None:
        """Sample now if the last sample is older than half an interval
        (shorter reads are mostly noise: the kernel's counters tick every 10 ms).

        A nested ``record()`` block that ends while the sampler keeps running
        needs a sample that covers its end, or its CPU strip stops short.
        """
        last = self.samples[-1][0] if self.samples else self.start_ns
        if time.perf_counter_ns() - last > self.interval * 0.5e9:
            self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.sample_now()

    def usage(self, origin_ns: int) -> CpuUsage:
        samples = list(self.samples)
        return CpuUsage(
            tuple((t - origin_ns) / 1e9 for t, _ in samples),
            tuple(tuple(p) for _, p in samples),
            (self.start_ns - origin_ns) / 1e9,
        )
