"""``record()``: a block whose recorded calls become a `Timeline`.

    with record() as timeline:
        main()              # the chapter's code, unchanged
    timeline.plot()

A `Recording` is the live object: it owns a private temporary directory
(mode 0700) where worker processes leave their events, gathers the events
of every thread and process (`conctutor.engine.assembly`), samples the CPU, and hands
out immutable `Timeline` snapshots. What ``record()`` yields, a
`LiveTimeline`, answers like a timeline: while the block runs, from a fresh
snapshot; after it, from the finished timeline.

Blocks entered in different threads are independent recordings. A block
inside another block of the same thread shares its recording: the inner
timeline holds what started inside it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any, Protocol

from . import hooks, interrupts, recorder, routing, sampling, settings, spool, validate
from .assembly import Assembler, FileSource, MemorySource, scan_spool
from .build import build
from .cpu import CpuSampler
from .model import CpuUsage, Span, State, Status
from .python_build import free_threaded_build, gil_enabled
from .timeline import Timeline
from .watch import Watcher, check_interval, check_watch

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MIN_CPU_INTERVAL, MAX_CPU_INTERVAL = 0.005, 10.0


class Recording(recorder.Collector):
    """Everything recorded between entering and leaving the outermost ``record()`` of a thread."""

    def __init__(self, directory: str, cpu_interval: float = 0.05, durations: Mapping[str, float] | None = None,
                 quiet: bool = False) -> None:
        super().__init__(directory, os.getpid(), durations, quiet)
        self.end_ns: int | None = None
        self._assembler = Assembler()
        self._memory: dict[int, MemorySource] = {}
        self._files: list[FileSource] = []
        self._known_files: set[tuple[int, int]] = set()
        self._read_lock = threading.Lock()
        self._cpu_interval = cpu_interval
        self.sampler = sampling.Sampler(directory, None, "not started")
        self.cpu: CpuSampler | None = None
        self.start_ns = perf_counter_ns()
        self.thread_states: dict[tuple[int, int], list[tuple[int, State | None]]] = {}
        self._cpu_samples: list[sampling.CpuSample] = []
        self._cursors = [0, 0]
        self.watchers: list[Watcher] = []
        """The numbers watched: one `Watcher` per block that asked (inner blocks may add theirs)."""

    def start_sampling(self) -> None:
        """Start the sampler: a separate process that samples /proc (what each thread does, and each
        core); where it cannot run (no /proc), a thread that samples the cores with psutil."""
        self.sampler = sampling.start_sampler(self.directory, self.owner_pid, cpu_interval=self._cpu_interval)
        self.start_ns = perf_counter_ns()
        if not self.sampler.available:
            self.cpu = CpuSampler(self._cpu_interval)
            self.cpu.start(self.start_ns)

    def _read(self) -> None:
        """Bring the assembler up to date with every sink (call with the read lock held)."""
        for sink in list(self.memory_sinks):
            if id(sink) not in self._memory:
                self._memory[id(sink)] = MemorySource(sink)
        for source in self._memory.values():
            self._assembler.feed(source.key, source.sink.pid, source.read())
        if self.end_ns is None or os.path.isdir(self.directory):
            found = scan_spool(self.directory, self._known_files)
            self._files.extend(found.sources)
            self._assembler.note_losses(found.losses)
        for file_source in self._files:
            self._assembler.feed(file_source.key, file_source.pid, file_source.read())
        if self.sampler.available:
            samples, self._cursors[0] = sampling.read_thread_states(self.directory, self._cursors[0])
            for sample in samples:
                self.thread_states.setdefault((sample.pid, sample.tid), []).append(
                    (sample.t_ns, sample.state))
            cpu, self._cursors[1] = sampling.read_cpu(self.directory, self._cursors[1])
            self._cpu_samples.extend(cpu)

    def add_watcher(self, watcher: Watcher) -> None:
        """Start watching more numbers (one block at a time; the ones a finished block watched stay)."""
        if any(w.stopped_ns is None for w in self.watchers):
            raise ValueError("watch: este bloco está dentro de outro record() que já observa números; "
                             "passe todos no mesmo watch")
        self.watchers.append(watcher)
        watcher.start()

    def cpu_usage(self, origin_ns: int) -> CpuUsage:
        """Per-core use since the recording started, in seconds from `origin_ns`."""
        if self.cpu is not None:
            return self.cpu.usage(origin_ns)
        samples = self._cpu_samples
        return CpuUsage(
            tuple((s.t_ns - origin_ns) / 1e9 for s in samples),
            tuple(tuple(100.0 * v for v in s.busy) for s in samples),
            (self.start_ns - origin_ns) / 1e9,
            tuple(tuple(100.0 * v for v in s.ours) for s in samples),
        )

    def sample_now(self) -> None:
        if self.cpu is not None:
            self.cpu.sample_now()

    def snapshot(self, origin_ns: int, stop_ns: int | None = None, final: bool = False) -> Timeline:
        """The spans that started since `origin_ns`, as a `Timeline` (live unless `final`)."""
        with self._read_lock:
            if self.end_ns is None:
                self._read()
            now = perf_counter_ns() if stop_ns is None else stop_ns
            open_status = Status.INTERRUPTED if final else Status.RUNNING
            raws = self._assembler.finished + self._assembler.open_spans(now, open_status)
            series = tuple(s for w in self.watchers if w.stopped_ns is None or w.stopped_ns >= origin_ns
                           for s in w.series(origin_ns, now))
            return build(raws, self._assembler.lanes, self._assembler.tasks, origin_ns, now, self.owner_pid,
                         self.cpu_usage(origin_ns), live=not final, thread_states=self.thread_states,
                         sampled=self.sampler.available, series=series, losses=self._assembler.losses(),
                         notes=self._sampler_notes(origin_ns))

    def _sampler_notes(self, origin_ns: int) -> list[str]:
        """Why the threads' states and the CPU strip end before the block, if they do."""
        status = self.sampler.ended_early_status() if self.sampler.available else None
        if status is None:
            return []
        last = self._cpu_samples[-1].t_ns if self._cpu_samples else self.start_ns
        since = max(last - origin_ns, 0) / 1e9
        why = "disco cheio" if status == sampling.DISK_FULL_EXIT else \
            f"o amostrador terminou antes do bloco (código {status})"
        return [f"{why}: o que as threads faziam e o uso da CPU só foram vistos até {since:.2f} s".replace(".", ",")]

    def close(self) -> None:
        """Stop sampling and watching, and read the workers' last events (the directory stays: see
        `record`). Safe to call more than once."""
        if self.cpu is not None:
            self.cpu.stop()
        for watcher in self.watchers:
            watcher.stop()
        self.sampler.stop()
        with self._read_lock:
            if self.end_ns is None:
                self._read()
                self.end_ns = perf_counter_ns()


class View(Protocol):
    """Something that shows a recording while it runs (`conctutor.live.LiveView`)."""

    def start(self, timeline: LiveTimeline) -> None: ...

    def stop(self) -> None: ...

    def finish(self, timeline: LiveTimeline) -> Any: ...


class Snapshots(Protocol):
    """Where a `LiveTimeline` takes its timelines from: a `Recording`, or a task queue's records
    (`conctutor.queue_timeline.record_queue`)."""

    def snapshot(self, origin_ns: int, stop_ns: int | None = None, final: bool = False) -> Timeline: ...


class LiveTimeline:
    """What ``record()`` yields: a timeline that can be read while its block runs.

    Every attribute of `Timeline` works here: during the block it comes from
    a fresh snapshot (`snapshot`), after it from the finished timeline
    (`final`). Take one snapshot when reading several attributes at once.
    """

    def __init__(self, source: Snapshots, origin_ns: int) -> None:
        self._source = source
        self._origin_ns = origin_ns
        self.final: Timeline | None = None

    def snapshot(self) -> Timeline:
        """The timeline as it is now (the finished one after the block)."""
        if self.final is not None:
            return self.final
        return self._source.snapshot(self._origin_ns)

    def finish(self, end_ns: int) -> None:
        self.final = self._source.snapshot(self._origin_ns, end_ns, final=True)

    @property
    def is_live(self) -> bool:
        return self.final is None

    @property
    def spans(self) -> list[Span]:
        return self.snapshot().spans

    @property
    def makespan(self) -> float:
        if self.final is not None:
            return self.final.makespan
        return (perf_counter_ns() - self._origin_ns) / 1e9

    @property
    def cpu(self) -> CpuUsage:
        return self.snapshot().cpu

    @property
    def cores(self) -> int:
        return self.snapshot().cores

    @property
    def ideal_time(self) -> float:
        return self.snapshot().ideal_time

    @property
    def workers(self) -> list[str]:
        return self.snapshot().workers

    def plot(self, **options: Any) -> Figure:
        return self.snapshot().plot(**options)

    def save(self, path: str | os.PathLike[str]) -> None:
        self.snapshot().save(path)

    def to_perfetto(self, path: str | os.PathLike[str]) -> None:
        self.snapshot().to_perfetto(path)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.snapshot(), name)

    def __repr__(self) -> str:
        return repr(self.snapshot())


def _check_interval(cpu_interval: object) -> float:
    return validate.number(cpu_interval, "cpu_interval", MIN_CPU_INTERVAL, MAX_CPU_INTERVAL, unit="segundos",
                           note="o intervalo entre amostras de uso da CPU")


_warned_gil_on = False


def _warn_if_the_gil_came_back() -> None:
    """Once per process: a free-threaded build running with the GIL shows threads taking turns."""
    global _warned_gil_on
    if _warned_gil_on or not free_threaded_build() or not gil_enabled():
        return
    _warned_gil_on = True
    warnings.warn(
        "este Python é free-threaded, mas o GIL está ligado: as threads vão se revezar como num Python "
        "comum. Uma extensão em C importada antes pode tê-lo ligado (o aviso do Python diz qual), ou o "
        "programa rodou com -X gil=1 ou PYTHON_GIL=1.",
        RuntimeWarning, stacklevel=4,
    )


def _check_live(live: object) -> View | None:
    if live is True:
        from ..render.live import open_view

        return open_view()
    if live is False or live is None:
        return None
    if all(callable(getattr(live, method, None)) for method in ("start", "stop", "finish")):
        return live  # type: ignore[return-value]
    raise TypeError(
        "live deve ser True (desenhar a figura enquanto o bloco roda), False (só no fim) ou um objeto de "
        f"visualização com os métodos start, stop e finish; recebido {type(live).__name__}: {live!r}"
    )


def _check_quiet(quiet: object) -> bool:
    if not isinstance(quiet, bool):
        raise TypeError(f"quiet deve ser True (esconder o que o bloco imprime) ou False; recebido {quiet!r}")
    return quiet


def _open_recording(stack: contextlib.ExitStack, interval: float, durations: Mapping[str, float], quiet: bool,
                    watcher: Watcher | None) -> Recording:
    """A new recording, entered: each step's undoing goes on `stack` as soon as the step is done."""
    spool.remove_orphans()
    owner = os.getpid()
    directory = spool.new_spool()
    stack.callback(_in_process, owner, shutil.rmtree, directory, ignore_errors=True)
    recording = Recording(directory, interval, durations, quiet)
    stack.callback(_in_process, owner, recording.close)
    recording.start_sampling()
    if watcher is not None:
        recording.add_watcher(watcher)
    hooks.install_hooks()  # new threads, pool jobs and processes follow the recording that started them
    token = recorder.enter(recording)
    stack.callback(recorder.leave, recording, token)
    return recording


def _in_process(pid: int, undo: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Undo a step of the recording process's, but not in a forked child leaving its parent's block:
    the sampler and the spool are the parent's, still recording."""
    if os.getpid() == pid:
        undo(*args, **kwargs)


def _join_recording(stack: contextlib.ExitStack, recording: Recording, durations: Mapping[str, float], quiet: bool,
                    watcher: Watcher | None) -> None:
    """An inner block shares the outer recording: its durations and quietness hold while it runs."""
    outer = (recording.durations, recording.quiet)

    def restore() -> None:
        recording.durations, recording.quiet = outer
        if watcher is not None:
            watcher.stop()
        recording.sample_now()  # so this block's CPU strip reaches its end

    stack.callback(restore)
    recording.durations = {**recording.durations, **durations}
    recording.quiet = recording.quiet or quiet
    if watcher is not None:
        recording.add_watcher(watcher)


def _nested_in(previous: recorder.Collector | None) -> Recording | None:
    """The recording an inner block of this thread shares: an open one entered in this context."""
    if isinstance(previous, Recording) and previous.owner_pid == os.getpid() and previous.is_open \
            and previous is routing.context_collector.get():
        return previous
    return None


@contextlib.contextmanager
def record(
    cpu_interval: float = 0.05,
    live: bool | View = False,
    *,
    durations: Mapping[str, float] | None = None,
    quiet: bool = False,
    watch: Mapping[str, Callable[[], float]] | None = None,
    watch_interval: float = 0.005,
) -> Iterator[LiveTimeline]:
    """Record every task that runs inside the block; yields a `LiveTimeline`.

    Spans come from this thread, the threads and pool jobs it starts, worker
    processes (fork, spawn, forkserver) and asyncio tasks.

    cpu_interval: seconds between samples of each core's use.
    live:         True to draw the timeline in the notebook while it runs
                  (`conctutor.live`), or a view object.
    durations:    default durations of the chapter's tasks for this block only,
                  e.g. ``{"grava_log": 1.0}``.
    quiet:        leave out what the block's code prints.
    watch:        numbers to follow over time, as name → function without
                  arguments, e.g. ``{"itens na fila": fila.qsize}``; each is
                  read every `watch_interval` seconds and drawn under the lanes.

    A Ctrl-C while the block starts or closes waits until that is done (a
    moment), so nothing stays behind: no recording left open, no sampler
    process, no spool directory.
    """
    interval = _check_interval(cpu_interval)
    durations = settings.check_durations(durations)
    quiet = _check_quiet(quiet)
    watched = check_watch(watch)
    watch_every = check_interval(watch_interval)
    _warn_if_the_gil_came_back()
    # From here on, every step that starts something puts its undoing on the stack at once, with
    # Ctrl-C held (see conctutor.interrupts): an interrupt at any instant undoes exactly what was done.
    try:
        previous_handler = interrupts.hold()
    except ValueError:  # not the main thread: no Ctrl-C lands here
        previous_handler = interrupts.NOT_HELD
    stack = contextlib.ExitStack()
    ends = _Ends()
    try:
        stack.callback(ends.run)  # last of all: the finished timeline, then the view's last frame
        view = _check_live(live)
        watcher = Watcher(watched, watch_every) if watched else None
        outer = _nested_in(recorder.current_collector())
        if outer is None:
            recording = _open_recording(stack, interval, durations, quiet, watcher)
        else:
            recording = outer
            _join_recording(stack, recording, durations, quiet, watcher)
        if quiet:
            recorder.quiet_begin()
            stack.callback(recorder.quiet_end)
        home = routing.current_asyncio_task()  # in a notebook, the cell's task: its calls keep the thread's lane
        if home is not None and home not in recording.home_tasks:
            recording.home_tasks.add(home)
            stack.callback(recording.home_tasks.discard, home)
        timeline = ends.timeline = LiveTimeline(recording, perf_counter_ns())
        if view is not None:
            view.start(timeline)
            ends.view = view
            stack.callback(view.stop)  # before the recording closes: the drawing thread reads it
    except BaseException:
        try:
            stack.close()
        finally:
            interrupts.release(previous_handler)
        raise
    try:
        interrupts.release(previous_handler)  # a Ctrl-C held while starting is raised here
        previous_handler = interrupts.NOT_HELD
        yield timeline
    finally:
        try:
            previous_handler = interrupts.hold()
        except ValueError:
            pass
        ends.end_ns = perf_counter_ns()
        try:
            stack.close()
        finally:
            interrupts.release(previous_handler)


class _Ends:
    """What a block does once its recording is closed: the finished timeline, the view's last frame."""

    def __init__(self) -> None:
        self.timeline: LiveTimeline | None = None
        self.view: View | None = None
        self.end_ns: int | None = None

    def run(self) -> None:
        if self.timeline is None or self.end_ns is None:  # the block never ran (a failed start)
            return
        self.timeline.finish(self.end_ns)
        if self.view is not None:
            self.view.finish(self.timeline)
