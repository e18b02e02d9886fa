"""Per-core CPU utilisation, sampled with psutil while a recording runs."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psutil


@dataclass
class CpuUsage:
    """Per-core busy percentage over time.

    ``percent[i][core]`` is how busy ``core`` was between ``times[i-1]`` and
    ``times[i]`` (seconds from the start of the recording; the first interval
    starts at ``start``).
    """

    times: list[float] = field(default_factory=list)
    percent: list[list[float]] = field(default_factory=list)
    start: float = 0.0

    @property
    def cores(self) -> int:
        return len(self.percent[0]) if self.percent else 0

    def since(self, offset: float, until: float | None = None) -> CpuUsage:
        """The samples after ``offset`` seconds, re-based so ``offset`` is zero."""
        kept: list[tuple[float, list[float]]] = []
        for t, p in zip(self.times, self.percent):
            if t <= offset:
                continue
            if until is not None and t > until:
                # the sample that covers the end of the window: keep it, clipped,
                # so the strip reaches the end instead of stopping one interval short
                kept.append((until, p))
                break
            kept.append((t, p))
        return CpuUsage([t - offset for t, _ in kept], [p for _, p in kept], max(self.start - offset, 0.0))


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
            [(t - origin_ns) / 1e9 for t, _ in samples],
            [p for _, p in samples],
            (self.start_ns - origin_ns) / 1e9,
        )
