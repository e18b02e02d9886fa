"""The `Timeline`: the spans and CPU samples of one recording, and what follows from them."""

from __future__ import annotations

import bisect
import os
import platform
import time
from typing import TYPE_CHECKING, Any

from .cpu import CpuUsage
from .spans import INTERRUPTED, RUNNING, RawSpan, Span, lane_key, lane_labels, running_intervals

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .recording import Recording

DEPENDS_ON: dict[str, tuple[str, ...]] = {"processa_dados": ("consulta_dados",)}
"""Data dependencies between the chapter's tasks: ``processa_dados`` needs the
``dados`` that ``consulta_dados`` returns. Used for the ideal time."""


def available_cores() -> int:
    """The cores this process may run on (what a process pool could use)."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13+
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class Timeline:
    """What happened inside one ``record()`` block.

    ``spans`` are the task executions, ``cpu`` the per-core utilisation,
    ``makespan`` the block's wall time in seconds. While the block is running
    these are read live from the recording; afterwards they are fixed.
    """

    def __init__(
        self,
        spans: list[Span] | None = None,
        cpu: CpuUsage | None = None,
        makespan: float = 0.0,
        cores: int | None = None,
        python: str | None = None,
    ) -> None:
        self._spans = list(spans or [])
        self._cpu = cpu or CpuUsage()
        self._makespan = makespan
        self.cores = cores or available_cores()
        self.python = python or f"{platform.python_implementation()} {platform.python_version()}"
        self._recording: Recording | None = None
        self._start_ns = 0

    @classmethod
    def live(cls, recording: Recording) -> Timeline:
        timeline = cls()
        timeline._recording = recording
        timeline._start_ns = time.perf_counter_ns()
        return timeline

    @property
    def is_live(self) -> bool:
        return self._recording is not None

    def freeze(self, end_ns: int) -> None:
        """Fix the contents at the end of the block (spans still open become interrupted)."""
        if self._recording is None:
            return
        self._spans = self._snapshot(end_ns, INTERRUPTED)
        self._cpu = self._recording.cpu.usage(self._start_ns).since(0.0, (end_ns - self._start_ns) / 1e9)
        self._makespan = (end_ns - self._start_ns) / 1e9
        self._recording = None

    def _snapshot(self, end_ns: int, open_status: str) -> list[Span]:
        assert self._recording is not None
        raws = [r for r in self._recording.raw_spans() if self._start_ns <= r.start_ns <= end_ns]
        labels = lane_labels(raws, self._recording.owner_pid)
        spans = [self._to_span(raw, labels, end_ns, open_status) for raw in raws]
        spans.sort(key=lambda s: (s.start, s.end))
        return spans

    def _to_span(self, raw: RawSpan, labels: dict, end_ns: int, open_status: str) -> Span:
        finished = raw.end_ns is not None and raw.status != RUNNING
        stop_ns = min(raw.end_ns, end_ns) if finished else end_ns
        origin = self._start_ns
        key = lane_key(raw)
        return Span(
            name=raw.name,
            start=(raw.start_ns - origin) / 1e9,
            end=(stop_ns - origin) / 1e9,
            pid=raw.pid,
            thread_id=raw.thread_id,
            worker=labels[key],
            status=raw.status if finished else open_status,
            cpu_time=raw.cpu_ns / 1e9 if finished else 0.0,
            running=tuple(
                ((a - origin) / 1e9, (min(b, stop_ns) - origin) / 1e9)
                for a, b in running_intervals(raw, stop_ns)
                if a < stop_ns
            ),
            seconds=raw.seconds,
            kind=raw.kind,
            thread_name=raw.thread_name,
            error=raw.error,
            task=raw.task,
            lane_key=key,
        )

    @property
    def spans(self) -> list[Span]:
        """Every task execution so far, ordered by start."""
        if self._recording is not None:
            return self._snapshot(time.perf_counter_ns(), RUNNING)
        return list(self._spans)

    @property
    def cpu(self) -> CpuUsage:
        if self._recording is not None:
            return self._recording.cpu.usage(self._start_ns).since(0.0)
        return self._cpu

    @property
    def makespan(self) -> float:
        """Wall time of the block in seconds (so far, while it runs)."""
        if self._recording is not None:
            return (time.perf_counter_ns() - self._start_ns) / 1e9
        return self._makespan

    @property
    def workers(self) -> list[str]:
        """The lane labels, in order of first appearance."""
        return list(dict.fromkeys(span.worker for span in self.spans))

    @property
    def ideal_time(self) -> float:
        """The shortest possible time for these tasks on this machine's cores.

        The larger of the critical path (each task taking the time it asked
        for, ``processa_dados`` waiting for ``consulta_dados``) and the CPU
        work divided by the cores. Waiting needs no core; computing does.
        """
        return ideal_time(self.spans, self.cores)

    def plot(self, **options: Any) -> Figure:
        """Draw the timeline; see `conctutor.drawing.plot_timeline` for options."""
        from .drawing import plot_timeline

        return plot_timeline(self, **options)

    def to_perfetto(self, path: str | os.PathLike) -> None:
        """Write Chrome/Perfetto trace JSON (open it at ui.perfetto.dev)."""
        from .export import write_perfetto

        write_perfetto(self, path)

    def save(self, path: str | os.PathLike) -> None:
        """Save the run as JSON; `Timeline.load` reads it back anywhere."""
        from .export import save_timeline

        save_timeline(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Timeline:
        from .export import load_timeline

        return load_timeline(path)

    def __repr__(self) -> str:
        state = "gravando" if self.is_live else "concluída"
        return f"<Timeline {state}: {len(self.spans)} tarefas, {self.makespan:.2f} s, {self.cores} núcleos>"


def ideal_time(spans: list[Span], cores: int) -> float:
    """See `Timeline.ideal_time`."""
    if not spans:
        return 0.0
    ordered = sorted(spans, key=lambda s: s.start)
    by_name: dict[str, list[Span]] = {}
    for span in sorted(spans, key=lambda s: s.end):
        by_name.setdefault(span.name, []).append(span)
    ends = {name: [s.end for s in group] for name, group in by_name.items()}
    finish: dict[int, float] = {}
    for span in ordered:
        ready = 0.0
        for needed in DEPENDS_ON.get(span.name, ()):
            # the latest `needed` span that had ended when this one started
            index = bisect.bisect_right(ends.get(needed, []), span.start + 1e-6) - 1
            if index >= 0:
                ready = max(ready, finish.get(id(by_name[needed][index]), 0.0))
        finish[id(span)] = ready + _own_length(span)
    cpu_work = sum(_own_length(s) for s in spans if s.kind == "cpu")
    return max(max(finish.values()), cpu_work / max(cores, 1))


def _own_length(span: Span) -> float:
    return span.seconds if span.seconds is not None else span.duration
