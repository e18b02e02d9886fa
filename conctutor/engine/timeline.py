"""The `Timeline`: an immutable value holding what one ``record()`` block recorded.

It is stored by columns (NumPy arrays: one entry per span, and one per
*segment*, the intervals of a span in one `State`), so a run of 100 000
spans costs about a hundred bytes each and saves, loads and draws in a
fraction of a second. `Timeline.spans` turns the columns into `Span` values
on demand.

    timeline.spans          # list of Span, ordered by start
    timeline.makespan       # wall time of the block, in seconds
    timeline.ideal_time     # the shortest possible time for these tasks on these cores (conctutor.engine.ideal)
    timeline.plot()         # a matplotlib Figure (conctutor.render)
    timeline.save("run.json"); Timeline.load("run.json")     # conctutor.engine.persistence
    timeline.to_perfetto("run.trace.json")    # for ui.perfetto.dev (conctutor.render)

A timeline is made from recorded events by `conctutor.engine.build`. Imports go
one way: `plot`, `to_perfetto` and the lanes' readable labels come from the
render layer, imported when they are used (and matplotlib with them).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import python_build
from .model import RUNNING_STATE, STATES, STATUSES, CpuUsage, Kind, Lane, Series, Span

if TYPE_CHECKING:
    from matplotlib.figure import Figure

RUNNING_CODE = RUNNING_STATE
"""The code of `State.RUNNING` in a timeline's segment column."""

# 0.2.0's names, used by other modules and saved programs
available_cores = python_build.available_cores
gil_enabled = python_build.gil_enabled
free_threaded_build = python_build.free_threaded_build
python_description = python_build.python_description


@dataclass(frozen=True)
class Columns:
    """The spans of a timeline, one array entry per span, and their segments."""

    lane: np.ndarray  # int32: index into Timeline.lanes
    name: np.ndarray  # int32: index into Timeline.names
    start: np.ndarray  # float64 seconds
    end: np.ndarray
    cpu: np.ndarray
    seconds: np.ndarray  # NaN where unknown
    status: np.ndarray  # int8: index into STATUSES
    seg_offsets: np.ndarray  # int64, len n + 1: span i's segments are [seg_offsets[i], seg_offsets[i + 1])
    seg_start: np.ndarray
    seg_end: np.ndarray
    seg_state: np.ndarray  # int8: index into STATES

    def __len__(self) -> int:
        return len(self.start)


def _empty_columns() -> Columns:
    f, i = np.zeros(0), np.zeros(0, dtype=np.int32)
    return Columns(i, i, f, f, f, f, np.zeros(0, dtype=np.int8), np.zeros(1, dtype=np.int64), f, f,
                   np.zeros(0, dtype=np.int8))


class Timeline:
    """What happened inside one ``record()`` block (or a saved run): an immutable value.

    ``spans`` are the task executions, ``cpu`` the per-core utilisation,
    ``makespan`` the block's wall time in seconds, ``cores`` the cores the
    program could use. ``live`` is True for a snapshot taken while the block
    still ran (its unfinished spans have status ``"running"``).
    """

    __slots__ = (
        "columns",
        "cores",
        "cpu",
        "errors",
        "gil_enabled",
        "kinds",
        "labels",
        "lanes",
        "live",
        "lost",
        "main_pid",
        "makespan",
        "names",
        "needs",
        "python",
        "sampled",
        "series",
    )

    def __init__(
        self,
        lanes: Sequence[Lane] = (),
        names: Sequence[str] = (),
        kinds: Sequence[Kind] = (),
        columns: Columns | None = None,
        errors: dict[int, str] | None = None,
        cpu: CpuUsage | None = None,
        makespan: float = 0.0,
        cores: int | None = None,
        python: str | None = None,
        gil_enabled: bool | None = None,
        live: bool = False,
        main_pid: int | None = None,
        labels: Sequence[str] | None = None,
        sampled: bool = True,
        series: Sequence[Series] = (),
        lost: Sequence[str] = (),
        needs: Sequence[Sequence[str]] | None = None,
    ) -> None:
        self.lanes: tuple[Lane, ...] = tuple(lanes)
        self.main_pid = os.getpid() if main_pid is None else main_pid
        self.labels: tuple[str, ...] = tuple(labels) if labels is not None else _labels(self.lanes, self.main_pid)
        """A readable label for each lane (display words, made from the lanes: never saved)."""
        self.names: tuple[str, ...] = tuple(names)
        self.kinds: tuple[Kind, ...] = tuple(kinds)
        self.needs: tuple[tuple[str, ...], ...] = tuple(tuple(n) for n in needs) if needs is not None else \
            ((),) * len(self.names)
        """For each task name, the names of the tasks whose results it needs (the ideal time waits for them)."""
        self.columns = columns if columns is not None else _empty_columns()
        self.errors: dict[int, str] = dict(errors or {})
        self.cpu = cpu or CpuUsage()
        self.makespan = float(makespan)
        self.cores = cores or python_build.available_cores()
        self.python = python or python_build.python_description()
        self.gil_enabled = python_build.gil_enabled() if gil_enabled is None else gil_enabled
        self.sampled = sampled
        """Whether a sampler watched the threads (Linux); if not, running and waiting come from the tasks alone."""
        self.series: tuple[Series, ...] = tuple(series)
        """The numbers watched over the block (``record(watch=...)``), e.g. the items in a queue."""
        self.lost: tuple[str, ...] = tuple(lost)
        """Notes, in Portuguese, on the spans that could not be kept and why (a worker's disk was
        full, say): ``("disco cheio: 3 tarefas do processo 2 (pid 812) não foram gravadas",)``. Empty
        when every span was kept. `plot` shows them under the title."""
        self.live = live

    def __setattr__(self, name: str, value: Any) -> None:
        if hasattr(self, "live"):  # set last in __init__: from then on, frozen
            raise AttributeError("uma Timeline não muda depois de criada (é um valor)")
        object.__setattr__(self, name, value)

    def __reduce__(self) -> tuple[type[Timeline], tuple]:
        """Pickled (and copied) as the arguments that build it again: it never changes after that."""
        return type(self), (self.lanes, self.names, self.kinds, self.columns, self.errors, self.cpu, self.makespan,
                            self.cores, self.python, self.gil_enabled, self.live, self.main_pid, self.labels,
                            self.sampled, self.series, self.lost, self.needs)

    # --- spans -------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.columns)

    def span(self, index: int) -> Span:
        c = self.columns
        lane = self.lanes[c.lane[index]]
        first, last = int(c.seg_offsets[index]), int(c.seg_offsets[index + 1])
        running, waits = [], []
        for a, b, code in zip(c.seg_start[first:last].tolist(), c.seg_end[first:last].tolist(),
                              c.seg_state[first:last].tolist()):
            if code == RUNNING_CODE:
                running.append((a, b))
            else:
                waits.append((a, b, STATES[code]))
        seconds = float(c.seconds[index])
        return Span(
            name=self.names[c.name[index]],
            start=float(c.start[index]),
            end=float(c.end[index]),
            pid=lane.pid,
            thread_id=lane.thread_id,
            worker=self.labels[c.lane[index]],
            status=STATUSES[c.status[index]],
            cpu_time=float(c.cpu[index]),
            running=tuple(running),
            waits=tuple(waits),
            seconds=None if math.isnan(seconds) else seconds,
            kind=self.kinds[c.name[index]],
            thread_name=lane.thread_name,
            error=self.errors.get(index, ""),
            task=lane.task,
            lane=lane,
        )

    @property
    def spans(self) -> list[Span]:
        """Every task execution, ordered by start (made from the columns on each access)."""
        return [self.span(i) for i in range(len(self.columns))]

    @property
    def workers(self) -> list[str]:
        """The lane labels that have spans, in order of first appearance."""
        used = dict.fromkeys(self.columns.lane.tolist())
        return [self.labels[i] for i in used]

    @property
    def is_live(self) -> bool:
        return self.live

    @property
    def ideal_time(self) -> float:
        """The shortest possible time for these tasks on this machine's cores.

        The larger of the critical path (each task taking its own length,
        waiting for the tasks it needs, `needs`) and the CPU work
        divided by the cores. Waiting needs no core; computing does. A task's
        own length is the duration it asked for when known; for a task
        without a kind, its duration less the time it was held back by
        other threads (the GIL, no free core), and its CPU work is the CPU
        time it was measured to use.
        """
        from .ideal import ideal_time

        return ideal_time(self)

    @property
    def others_cpu_share(self) -> float | None:
        """The share (0–1) of all cores' time that *other* programs used during the block.

        None when this program's own use was not measured (see `conctutor.sampling`).
        """
        cpu = self.cpu
        if cpu.ours is None or not cpu.times:
            return None
        edges = np.concatenate(([cpu.start], np.asarray(cpu.times)))
        weights = np.diff(edges)
        if weights.sum() <= 0:
            return 0.0
        others = np.clip(np.asarray(cpu.percent) - np.asarray(cpu.ours), 0, 100).mean(axis=1) / 100
        return float((others * weights).sum() / weights.sum())

    @property
    def others_delay(self) -> float | None:
        """Seconds this program's runnable tasks waited for a core while other programs used the cores
        (``pronta`` because of them, not because of each other); None when not sampled."""
        from .contention import others_delay

        return others_delay(self)

    # --- out of the notebook ---------------------------------------------------------

    def plot(self, **options: Any) -> Figure:
        """Draw the timeline; see `conctutor.render.drawing.plot_timeline` for the options."""
        from ..render import views

        return views.plot(self, **options)

    def to_perfetto(self, path: str | os.PathLike[str]) -> None:
        """Write a Chrome/Perfetto trace (open it at ui.perfetto.dev); a failure leaves an older file as it was."""
        from ..render import views

        views.to_perfetto(self, path)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save the run as JSON; `Timeline.load` reads it back on any machine.

        The file is written beside its place and then put there: a save that
        fails (a full disk, an interrupt) leaves an older file as it was.
        """
        from .persistence import save

        save(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Timeline:
        """Read a timeline written by `save` (by this version or an older one); a clear `ValueError` if the
        file is not one."""
        from .persistence import load

        return load(path)

    def to_dict(self) -> dict[str, Any]:
        """The run as plain data (what `save` writes): see `conctutor.engine.persistence`."""
        from .persistence import to_dict

        return to_dict(self)

    @classmethod
    def from_dict(cls, data: object, source: str = "os dados") -> Timeline:
        """Rebuild a timeline from `to_dict`'s output, checking everything (see `load`)."""
        from .persistence import from_dict

        return from_dict(data, source)

    def __repr__(self) -> str:
        state = "gravando" if self.live else "concluída"
        from .ideal import queued_count

        return f"<Timeline {state}: {len(self) - queued_count(self)} tarefas, {self.makespan:.2f} s, " \
               f"{self.cores} núcleos>"


def _labels(lanes: Sequence[Lane], main_pid: int) -> tuple[str, ...]:
    """The lanes' readable labels: display words, made by the render layer from the lane data."""
    if not lanes:
        return ()
    from ..render import views

    return tuple(views.lane_labels(lanes, main_pid))
