"""The `Timeline`: an immutable value holding what one ``record()`` block recorded.

It is stored by columns (NumPy arrays: one entry per span, and one per
*segment*, the intervals of a span in one `State`), so a run of 100 000
spans costs about a hundred bytes each and saves, loads and draws in a
fraction of a second. `Timeline.spans` turns the columns into `Span` values
on demand.

    timeline.spans          # list of Span, ordered by start
    timeline.makespan       # wall time of the block, in seconds
    timeline.ideal_time     # the shortest possible time for these tasks on these cores
    timeline.plot()         # a matplotlib Figure (conctutor.drawing)
    timeline.save("run.json"); Timeline.load("run.json")
    timeline.to_perfetto("run.trace.json")    # for ui.perfetto.dev (conctutor.perfetto)

Imports go one way: this module knows nothing of drawing; `plot` and
`to_perfetto` import their modules when called (and matplotlib with them).
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import json
import math
import os
import platform
import secrets
import stat
import sys
import sysconfig
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from ..course.chapter import DEPENDS_ON
from .model import (
    RUNNING_STATE,
    STATES,
    STATUSES,
    CpuUsage,
    Kind,
    Lane,
    Series,
    Span,
    State,
    Status,
    process_labels,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .events import Loss, RawSpan

FORMAT = "conctutor-timeline"
"""The ``format`` field of a saved timeline."""

VERSION = 2
"""The version of the saved-timeline format this module writes and reads."""

_STATUS = {status: code for code, status in enumerate(STATUSES)}
_STATE = {state: code for code, state in enumerate(STATES)}
RUNNING_CODE = RUNNING_STATE
NOT_OWN_WORK = np.array([_STATE[State.GIL], _STATE[State.READY]])
"""States that do not count in a measured task's own length: it was held back by others."""


def available_cores() -> int:
    """The cores this process may run on (what a process pool could use)."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13+
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def gil_enabled() -> bool:
    """Whether this interpreter runs with the GIL (free-threaded builds may run without it)."""
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


def free_threaded_build() -> bool:
    """Whether this interpreter was built free-threaded (3.13t, 3.14t): it may still run with the
    GIL, when started with ``-X gil=1`` or after importing a C extension that does not declare it
    can run without one (Python then warns, and turns the GIL on for good)."""
    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def python_description() -> str:
    """"CPython 3.14.7 (sem GIL)": saved with each run (`Timeline.python`)."""
    if not gil_enabled():
        build = " (sem GIL)"
    elif free_threaded_build():
        build = " (free-threaded, mas com o GIL ligado)"
    else:
        build = ""
    return f"{platform.python_implementation()} {platform.python_version()}{build}"


def lane_labels(lanes: Sequence[Lane], main_pid: int) -> list[str]:
    """A readable label for each lane (given in order of first appearance).

    The recording process's main thread is ``principal``, its other threads
    ``thread 1..n``; worker processes are ``processo 1..n (pid P)``, with a
    thread suffix when a task ran outside the worker's main thread. An
    asyncio task's lane adds its name: ``principal · Task-2``.
    """
    labels = []
    processes = process_labels(lanes, main_pid)
    threads: dict[tuple, int] = {}
    process_threads: dict[tuple, int] = {}
    for lane in lanes:
        thread_key = (lane.pid, lane.thread_id, lane.thread_name)
        if lane.pid == main_pid:
            label = "principal" if lane.main_thread else f"thread {threads.setdefault(thread_key, len(threads) + 1)}"
        else:
            label = processes[lane.pid]
            if not lane.main_thread:
                inner = sum(1 for key in process_threads if key[0] == lane.pid)
                label += f" · thread {process_threads.setdefault(thread_key, inner + 1)}"
        labels.append(f"{label} · {lane.task}" if lane.task else label)
    return labels


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
    ) -> None:
        self.lanes: tuple[Lane, ...] = tuple(lanes)
        self.main_pid = os.getpid() if main_pid is None else main_pid
        self.labels: tuple[str, ...] = tuple(labels) if labels is not None else tuple(
            lane_labels(self.lanes, self.main_pid))
        self.names: tuple[str, ...] = tuple(names)
        self.kinds: tuple[Kind, ...] = tuple(kinds)
        self.columns = columns if columns is not None else _empty_columns()
        self.errors: dict[int, str] = dict(errors or {})
        self.cpu = cpu or CpuUsage()
        self.makespan = float(makespan)
        self.cores = cores or available_cores()
        self.python = python or python_description()
        self.gil_enabled = globals()["gil_enabled"]() if gil_enabled is None else gil_enabled
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
                            self.sampled, self.series, self.lost)

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
        ``processa_dados`` waiting for ``consulta_dados``) and the CPU work
        divided by the cores. Waiting needs no core; computing does. A task's
        own length is the duration it asked for when known; for a task
        without a kind, its duration less the time it was held back by
        other threads (the GIL, no free core), and its CPU work is the CPU
        time it was measured to use.
        """
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
        """Draw the timeline; see `conctutor.drawing.plot_timeline` for the options."""
        from ..render.drawing import plot_timeline

        return plot_timeline(self, **options)

    def to_perfetto(self, path: str | os.PathLike[str]) -> None:
        """Write a Chrome/Perfetto trace (open it at ui.perfetto.dev); a failure leaves an older file as it was."""
        from ..render.perfetto import write_perfetto

        write_perfetto(self, path)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save the run as JSON; `Timeline.load` reads it back on any machine.

        The file is written beside its place and then put there: a save that
        fails (a full disk, an interrupt) leaves an older file as it was.
        """
        target = check_target(path, "Timeline.save")
        text = json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False)
        replace_file(target, lambda out: out.write(text), "Timeline.save")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Timeline:
        """Read a timeline written by `save`; a clear `ValueError` if the file is not one."""
        source = check_source(path, "Timeline.load")
        try:
            with open(source, encoding="utf-8") as handle:
                data = json.load(handle)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{source} não é uma timeline do conctutor (não é JSON válido: {error})") from None
        except RecursionError:
            raise ValueError(f"{source} não é uma timeline do conctutor (JSON aninhado fundo demais)") from None
        except OSError as error:
            raise _os_error(error, f"Timeline.load: não foi possível ler {source!r}") from None
        return cls.from_dict(data, source)

    def to_dict(self) -> dict[str, Any]:
        c = self.columns
        cpu = self.cpu
        # the words looked up once, not once per span (an enum member's .value is slow)
        status_words = [status.value for status in STATUSES]
        state_words = [state.value for state in STATES]
        return {
            "format": FORMAT,
            "version": VERSION,
            "makespan": self.makespan,
            "cores": self.cores,
            "python": self.python,
            "gil_enabled": self.gil_enabled,
            "sampled": self.sampled,
            "main_pid": self.main_pid,
            "lanes": [[lane.pid, lane.thread_id, lane.native_id, lane.thread_name, lane.main_thread, lane.task]
                      for lane in self.lanes],
            "labels": list(self.labels),
            "names": list(self.names),
            "kinds": [kind.value for kind in self.kinds],
            "spans": {
                "lane": c.lane.tolist(),
                "name": c.name.tolist(),
                "start": c.start.tolist(),
                "end": c.end.tolist(),
                "cpu_time": c.cpu.tolist(),
                "seconds": [None if math.isnan(s) else s for s in c.seconds.tolist()],
                "status": [status_words[code] for code in c.status.tolist()],
            },
            "errors": {str(index): text for index, text in self.errors.items()},
            "segments": {
                "offsets": c.seg_offsets.tolist(),
                "start": c.seg_start.tolist(),
                "end": c.seg_end.tolist(),
                "state": [state_words[code] for code in c.seg_state.tolist()],
            },
            "cpu": {"times": list(cpu.times), "percent": [list(p) for p in cpu.percent], "start": cpu.start,
                    "ours": None if cpu.ours is None else [list(p) for p in cpu.ours]},
            "series": [{"name": s.name, "times": list(s.times), "values": list(s.values)} for s in self.series],
            "lost": list(self.lost),
        }

    @classmethod
    def from_dict(cls, data: object, source: str = "os dados") -> Timeline:
        """Rebuild a timeline from `to_dict`'s output, checking everything (see `load`)."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            hint = ""
            if isinstance(data, dict) and "traceEvents" in data:
                hint = " (parece um trace do Perfetto: esses arquivos são para ui.perfetto.dev, não para Timeline.load)"
            raise ValueError(f"{source} não é uma timeline do conctutor salva com Timeline.save{hint}")
        version = data.get("version")
        if version != VERSION:
            raise ValueError(
                f"{source} é uma timeline do conctutor no formato versão {version!r}, "
                f"mas esta versão do conctutor só lê a versão {VERSION}"
            )
        try:
            return _from_dict(data)
        except KeyError as error:
            raise ValueError(f"{source}: timeline do conctutor danificada (falta o campo {error})") from None
        except (TypeError, ValueError, IndexError, AttributeError) as error:
            raise ValueError(f"{source}: timeline do conctutor danificada ({error})") from None
        except OverflowError:
            raise ValueError(f"{source}: timeline do conctutor danificada (um número grande demais, ou infinito, "
                             "onde deveria haver um inteiro)") from None
        except RecursionError:
            raise ValueError(f"{source}: timeline do conctutor danificada (dados aninhados fundo demais)") from None

    def __repr__(self) -> str:
        state = "gravando" if self.live else "concluída"
        return f"<Timeline {state}: {len(self) - _queued_count(self)} tarefas, {self.makespan:.2f} s, " \
               f"{self.cores} núcleos>"


def _times(values: object, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or not np.isfinite(array).all() or (array < 0).any():
        raise ValueError(f"{what}: os tempos devem ser números finitos e não negativos")
    return array


def _codes(words: Iterable[object], vocabulary: tuple, what: str) -> np.ndarray:
    index = {member.value: code for code, member in enumerate(vocabulary)}
    try:
        return np.array([index[word] for word in words], dtype=np.int8)
    except (KeyError, TypeError):
        raise ValueError(f"{what}: valor desconhecido; os valores possíveis são {', '.join(index)}") from None


def _indices(values: object, what: str) -> np.ndarray:
    """Whole numbers that index a list (checked against its length later), as int32."""
    array = np.asarray(values)
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu") or (
            array.size and (array.min() < 0 or array.max() > np.iinfo(np.int32).max)):
        raise ValueError(f"{what}: os índices devem ser números inteiros entre 0 e o tamanho da lista")
    return array.astype(np.int32)


def _whole(value: object, what: str, least: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{what} deve ser um número inteiro, pelo menos {least}; está {value!r}")
    return value


def _texts(values: object, what: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(text, str) for text in values):
        raise ValueError(f"{what} deve ser uma lista de textos")
    return values


def _from_dict(data: dict[str, Any]) -> Timeline:
    lanes = [Lane(_whole(pid, "pid"), _whole(ident, "thread_id"), _whole(native, "native_id"), str(name),
                  bool(main), str(task))
             for pid, ident, native, name, main, task in data["lanes"]]
    labels = _texts(data["labels"], "labels")
    if len(labels) != len(lanes):
        raise ValueError(f"labels: deve haver um rótulo por raia ({len(lanes)}), há {len(labels)}")
    names = [str(name) for name in data["names"]]
    kinds = [Kind(kind) for kind in data["kinds"]]
    spans, segments = data["spans"], data["segments"]
    start, end = _times(spans["start"], "start"), _times(spans["end"], "end")
    count = len(start)
    lane = _indices(spans["lane"], "lane")
    name = _indices(spans["name"], "name")
    seconds = np.array([math.nan if s is None else float(s) for s in spans["seconds"]])
    offsets = np.asarray(segments["offsets"], dtype=np.int64)
    seg_start, seg_end = _times(segments["start"], "segmentos"), _times(segments["end"], "segmentos")
    columns = Columns(
        lane, name, start, end, _times(spans["cpu_time"], "cpu_time"), seconds,
        _codes(spans["status"], STATUSES, "status"), offsets, seg_start, seg_end,
        _codes(segments["state"], STATES, "estado"),
    )
    sizes = {len(a) for a in (lane, name, end, columns.cpu, seconds, columns.status)}
    if sizes != {count} or len(offsets) != count + 1 or len(kinds) != len(names):
        raise ValueError("as colunas das tarefas têm tamanhos diferentes")
    if (end < start).any():
        raise ValueError("uma tarefa termina antes de começar")
    if count and (lane.min() < 0 or lane.max() >= len(lanes) or name.min() < 0 or name.max() >= len(names)):
        raise ValueError("índice de raia ou de tarefa fora do lugar")
    if offsets[0] != 0 or (np.diff(offsets) < 0).any() or offsets[-1] != len(seg_start) or \
            len({len(seg_start), len(seg_end), len(columns.seg_state)}) != 1:
        raise ValueError("os segmentos não batem com as tarefas")
    if ((~np.isnan(seconds)) & (seconds < 0)).any() or np.isinf(seconds).any():
        raise ValueError("seconds: as durações pedidas devem ser números finitos e não negativos")
    cpu_data = data["cpu"]
    times = _times(cpu_data["times"], "cpu.times")
    percent = tuple(tuple(float(v) for v in row) for row in cpu_data["percent"])
    ours_data = cpu_data.get("ours")
    ours = None if ours_data is None else tuple(tuple(float(v) for v in row) for row in ours_data)
    if len(percent) != len(times) or len({len(row) for row in percent}) > 1 or any(
            not 0 <= v <= 100 or math.isnan(v) for row in (*percent, *(ours or ())) for v in row) or (
            ours is not None and [len(row) for row in ours] != [len(row) for row in percent]):
        raise ValueError("cpu: cada amostra deve ter um uso entre 0 e 100 % por núcleo, com os mesmos núcleos")
    cpu = CpuUsage(tuple(times.tolist()), percent, float(_times([cpu_data["start"]], "cpu.start")[0]), ours)
    makespan = float(_times([data["makespan"]], "makespan")[0])
    cores = _whole(data["cores"], "cores", least=1)
    errors = {int(index): str(text) for index, text in data.get("errors", {}).items()}
    series = []
    for item in data.get("series", []):
        series_times = _times(item["times"], "series.times")
        values = np.asarray(item["values"], dtype=float)
        if values.shape != series_times.shape or not np.isfinite(values).all():
            raise ValueError("series: cada número observado precisa de um valor finito por instante")
        series.append(Series(str(item["name"]), tuple(series_times.tolist()), tuple(values.tolist())))
    return Timeline(lanes, names, kinds, columns, errors, cpu, makespan, cores, str(data["python"]),
                    bool(data.get("gil_enabled", True)), False, _whole(data["main_pid"], "main_pid"), labels,
                    bool(data.get("sampled", True)), series, _texts(data.get("lost", []), "lost"))


# --- files ------------------------------------------------------------------------------------

_REASONS = {
    errno.ENOSPC: "disco cheio",
    errno.EFBIG: "arquivo maior que o limite permitido ao processo",
    errno.EROFS: "disco só para leitura",
    errno.EACCES: "sem permissão",
    errno.EPERM: "sem permissão",
    errno.ENOMEM: "memória esgotada",
    errno.EMFILE: "arquivos abertos demais",
    errno.ENOENT: "a pasta sumiu",
}
if hasattr(errno, "EDQUOT"):  # not on Windows
    _REASONS[errno.EDQUOT] = "cota de disco esgotada"


def os_reason(code: int | None) -> str:
    """Why the file system refused, in a few Portuguese words."""
    if code in _REASONS:
        return _REASONS[code]
    return f"erro {errno.errorcode.get(code, code) if code is not None else 'desconhecido'} do sistema de arquivos"


def _os_error(error: OSError, doing: str) -> OSError:
    """`error` told in Portuguese (the same kind of `OSError`, the same ``errno``)."""
    message = f"{doing}: {os_reason(error.errno)}"
    return OSError(message) if error.errno is None else OSError(error.errno, message)


def _path_text(path: object, what: str) -> str:
    if isinstance(path, (str, os.PathLike)):
        text = os.fspath(path)
        if text == "":
            raise ValueError(f"{what}: o caminho está vazio; passe o nome de um arquivo, como 'execucao.json'")
        if isinstance(text, str):
            return text
    raise TypeError(f"{what}: o caminho deve ser o nome de um arquivo, um texto ou um Path como "
                    f"'execucao.json'; recebido {type(path).__name__}: {path!r}")


def check_target(path: object, what: str) -> str:
    """`path` as text, if a file can be written there; else an error in Portuguese that says what may be."""
    text = _path_text(path, what)
    if os.path.isdir(text):
        raise IsADirectoryError(f"{what}: {text!r} é uma pasta; passe o caminho de um arquivo dentro dela, como "
                                f"{os.path.join(text, 'execucao.json')!r}")
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{what}: a pasta {folder!r} não existe; crie-a antes ou escolha outro caminho")
    return text


def check_source(path: object, what: str) -> str:
    """`path` as text, if it names a file to read; else an error in Portuguese that says what may be."""
    text = _path_text(path, what)
    if os.path.isdir(text):
        raise IsADirectoryError(f"{what}: {text!r} é uma pasta; passe o caminho de um arquivo gravado com "
                                "timeline.save(), como 'execucao.json'")
    if not os.path.exists(text):
        raise FileNotFoundError(f"{what}: o arquivo {text!r} não existe; passe o caminho de um arquivo gravado "
                                "com timeline.save()")
    return text


def replace_file(path: str, write: Callable[[TextIO], object], what: str) -> None:
    """Write a text file (UTF-8) beside `path`, then put it in `path`'s place in one step.

    A write that fails (a full disk, an interrupt) leaves an older file at
    `path` as it was, and no temporary file behind. A lone surrogate in the
    text is written as its JSON escape (``\\udc80``), which reads back the same.
    """
    target = os.path.realpath(path)  # through a link, the file it names is replaced, not the link
    folder, name = os.path.split(target)
    temporary = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as error:
        raise _os_error(error, f"{what}: não foi possível gravar em {folder!r}") from None
    try:
        with open(fd, "w", encoding="utf-8", errors="backslashreplace") as out:
            write(out)
        with contextlib.suppress(OSError):  # keep the permissions an older file had
            os.chmod(temporary, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(temporary, target)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise _os_error(error, f"{what}: não foi possível gravar {path!r} (o arquivo anterior, se havia, "
                                   "ficou como estava)") from None
        raise


# --- building a timeline from recorded events --------------------------------------------


def build(
    raws: Sequence[RawSpan],
    lanes: dict[tuple, Lane],
    tasks: dict[tuple, tuple[str, Kind]],
    origin_ns: int,
    stop_ns: int,
    main_pid: int,
    cpu: CpuUsage,
    live: bool,
    cores: int | None = None,
    thread_states: dict[tuple[int, int], list[tuple[int, State | None]]] | None = None,
    sampled: bool = True,
    series: Sequence[Series] = (),
    losses: Sequence[Loss] = (),
    notes: Sequence[str] = (),
) -> Timeline:
    """A `Timeline` of the spans that started in ``[origin_ns, stop_ns]``, in seconds from `origin_ns`.

    A span not finished by `stop_ns` ends there (its status says why). `cpu`
    is already in seconds from `origin_ns`. `thread_states` (what the sampler
    saw each thread doing, by (pid, native thread id)) refines what the
    recorded events alone say (see `_segments`). `losses`, the spans that
    worker processes could not keep, become the timeline's `lost` notes,
    followed by `notes` (what else could not be kept).
    """
    timelines_of = _sorted_states(thread_states or {})
    kept = [raw for raw in raws if origin_ns <= raw.start_ns <= stop_ns]
    kept.sort(key=lambda raw: (raw.start_ns, raw.end_ns if raw.end_ns is not None else stop_ns))
    lane_index: dict[tuple, int] = {}
    name_index: dict[tuple[str, Kind], int] = {}
    n = len(kept)
    lane_col = np.empty(n, dtype=np.int32)
    name_col = np.empty(n, dtype=np.int32)
    start, end, cpu_col, seconds = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    status = np.empty(n, dtype=np.int8)
    offsets = np.zeros(n + 1, dtype=np.int64)
    seg_start: list[float] = []
    seg_end: list[float] = []
    seg_state: list[int] = []
    errors: dict[int, str] = {}
    unknown = Lane(0, 0, 0, "?", False)
    for i, raw in enumerate(kept):
        lane_col[i] = lane_index.setdefault(raw.lane, len(lane_index))
        task = tasks.get(raw.task, ("?", Kind.MEASURED))
        name_col[i] = name_index.setdefault(task, len(name_index))
        finished = raw.end_ns is not None
        stop = min(raw.end_ns, stop_ns) if raw.end_ns is not None else stop_ns
        start[i] = (raw.start_ns - origin_ns) / 1e9
        end[i] = (stop - origin_ns) / 1e9
        cpu_col[i] = raw.cpu_ns / 1e9 if finished else 0.0
        seconds[i] = raw.seconds
        status[i] = _STATUS[raw.status]
        if raw.error:
            errors[i] = raw.error
        lane = lanes.get(raw.lane)
        states = timelines_of.get((lane.pid, lane.native_id)) if lane is not None else None
        for a, b, state in _segments(raw, stop, finished, states):
            seg_start.append((a - origin_ns) / 1e9)
            seg_end.append((b - origin_ns) / 1e9)
            seg_state.append(state)
        offsets[i + 1] = len(seg_start)
    columns = Columns(lane_col, name_col, start, end, cpu_col, seconds, status, offsets,
                      np.asarray(seg_start, dtype=float), np.asarray(seg_end, dtype=float),
                      np.asarray(seg_state, dtype=np.int8))
    window = cpu.window(0.0, (stop_ns - origin_ns) / 1e9)
    timeline_lanes = [lanes.get(key, unknown) for key in lane_index]
    return Timeline(
        timeline_lanes,
        [name for name, _ in name_index],
        [kind for _, kind in name_index],
        columns, errors, window, (stop_ns - origin_ns) / 1e9, cores, live=live, main_pid=main_pid,
        sampled=sampled, series=series, lost=[*loss_notes(losses, timeline_lanes, main_pid), *notes],
    )


def loss_notes(losses: Iterable[Loss], lanes: Sequence[Lane], main_pid: int) -> list[str]:
    """``"disco cheio: 3 tarefas do processo 2 (pid 812) não foram gravadas"``, one per process and reason.

    Processes are named as in the figure's lanes; one that kept no span at all by its pid.
    """
    processes = process_labels(lanes, main_pid)
    order = {pid: position for position, pid in enumerate(processes)}
    notes = []
    for loss in sorted(losses, key=lambda loss: (order.get(loss.pid, len(order)), loss.pid, loss.errno)):
        if loss.pid == main_pid:
            where = "do processo principal"
        elif loss.pid in processes:
            where = f"do {processes[loss.pid]}"
        else:
            where = f"do processo de pid {loss.pid}"
        spans = f"1 tarefa {where} não foi gravada" if loss.spans == 1 else \
            f"{loss.spans} tarefas {where} não foram gravadas"
        notes.append(f"{os_reason(loss.errno)}: {spans}")
    return notes


_FIXED, _DERIVED, _UNKNOWN, _HELD = 0, 1, 2, 3
"""How sure the events are of a segment: reported by the task itself (fixed), assumed
running between the waits it reported (derived), a wait of unknown reason, or a gap in
the running that the task saw itself (``calcula``): it was held back, and a thread the
sampler saw runnable then was waiting for a core."""


def _sorted_states(states: dict[tuple[int, int], list[tuple[int, State | None]]]) -> dict[tuple, tuple]:
    out: dict[tuple, tuple] = {}
    for key, changes in states.items():
        ordered = sorted(changes, key=lambda change: change[0])
        out[key] = ([t for t, _ in ordered], [state for _, state in ordered])
    return out


def _segments(raw: RawSpan, stop: int, finished: bool, sampled: tuple | None = None) -> list[tuple[int, int, int]]:
    """Split ``[raw.start_ns, stop]`` into (start, end, state code), in order, covering all of it.

    What the task reported wins: its waits (with their reason) and the
    running slices it saw itself (``calcula``). Where the events only imply
    that it ran (between waits), the sampler's view of the thread replaces
    them; where a wait's reason is unknown, the sampler's reason fills it in.
    """
    base = _event_segments(raw, stop, finished)
    if not sampled:
        return [(a, b, code) for a, b, code, _ in base]
    times, states = sampled
    # A finished span that used the CPU for less than half its length cannot have run all along:
    # where the sampler saw no change inside a short piece, what it saw before holds.
    mostly_waiting = finished and raw.cpu_ns < 0.5 * (stop - raw.start_ns)
    out: list[tuple[int, int, int]] = []
    for a, b, code, sureness in base:
        if sureness == _FIXED:
            out.append((a, b, code))
            continue
        pieces = _pieces(times, states, a, b, carry_always=mostly_waiting)
        held = _held_reason(pieces, _state_before(times, states, a)) if sureness == _HELD else None
        for pa, pb, state in pieces:
            if held is not None and state in (State.RUNNING, None):
                new = _STATE[held]
            elif state is None or (sureness == _UNKNOWN and state == State.RUNNING):
                new = code
            else:
                new = _STATE[state]
            if out and out[-1][2] == new and out[-1][1] == pa:
                out[-1] = (out[-1][0], pb, new)
            else:
                out.append((pa, pb, new))
    return out


def _state_before(times: list[int], states: list[State | None], t: int) -> State | None:
    index = bisect.bisect_right(times, t)
    return states[index - 1] if index > 0 else None


def _held_reason(pieces: list[tuple[int, int, State | None]], before: State | None) -> State | None:
    """Why a task that saw itself stop running was held back, from what the sampler saw meanwhile.

    The sampler's edges are blurred by half its interval, so where it still (or already) saw the
    thread running, the reason it gave for the rest of the gap holds (the GIL, say). Seen runnable
    all along (the sampler writes changes only: no change, and runnable `before`): no core was free
    for it (``pronta``; on a virtual machine, the host gave the core to another). Seen nothing:
    unknown (None).
    """
    known: dict[State, int] = {}
    for a, b, state in pieces:
        if state is not None and state != State.RUNNING:
            known[state] = known.get(state, 0) + b - a
    if known:
        return max(known, key=lambda state: known[state])
    if any(state == State.RUNNING for _, _, state in pieces) or before == State.RUNNING:
        return State.READY
    return None


CARRY_MIN_NS = 25_000_000
"""A sampled state seen before a segment starts is trusted for its first piece only when that piece
is longer than this: the sampler writes changes only, and a busy machine samples every 20 ms or so."""


CARRY_WAITING_MIN_NS = 2_000_000
"""With a span that mostly waited, pieces longer than this carry the waiting state seen before them;
a shorter one (the moment between a span's start and its first reported wait) stays as the events say."""


def _pieces(times: list[int], states: list[State | None], a: int, b: int,
            carry_always: bool = False) -> list[tuple[int, int, State | None]]:
    """``[a, b]`` cut where the sampled state changes inside it.

    The state seen before ``a`` counts for the first piece only when that
    piece is long: the events show the thread doing something new at ``a``
    (a span began, a wait ended) that the sampler, a fraction of a
    millisecond or more behind, may not have seen; over a long piece, a
    state that did not change is what the thread was doing. With
    `carry_always` (the span's own CPU time says it mostly waited), a waiting
    state seen before counts for short pieces too.
    """
    pieces = []
    index = bisect.bisect_right(times, a)
    cursor = a
    first_change = times[index] if index < len(times) else b
    length = min(first_change, b) - a
    carry = length > CARRY_MIN_NS or (
        carry_always and index > 0 and length > CARRY_WAITING_MIN_NS and states[index - 1] not in (State.RUNNING, None))
    state: State | None = states[index - 1] if index > 0 and carry else None
    while index < len(times) and times[index] < b:
        if times[index] > cursor:
            pieces.append((cursor, times[index], state))
            cursor = times[index]
        state = states[index]
        index += 1
    pieces.append((cursor, b, state))
    return pieces


def _event_segments(raw: RawSpan, stop: int, finished: bool) -> list[tuple[int, int, int, int]]:
    out: list[tuple[int, int, int, int]] = []
    cursor = raw.start_ns
    if raw.runs is not None:  # the task saw itself running (calcula): in the gaps it was held back
        for a, b in raw.runs:
            a, b = max(a, cursor), min(b, stop)
            if b <= a:
                continue
            if a > cursor:
                out.append((cursor, a, _STATE[State.WAITING], _HELD))
            out.append((a, b, RUNNING_CODE, _FIXED))
            cursor = b
        if stop > cursor:
            out.append((cursor, stop, _STATE[State.WAITING], _HELD) if finished
                       else (cursor, stop, RUNNING_CODE, _DERIVED))
        return out
    for a, b, state in raw.waits:
        a, b = max(a, cursor), min(b, stop)
        if b <= a:
            continue
        if a > cursor:
            out.append((cursor, a, RUNNING_CODE, _DERIVED))
        out.append((a, b, _STATE[state], _UNKNOWN if state == State.WAITING else _FIXED))
        cursor = b
    if stop > cursor:
        out.append((cursor, stop, RUNNING_CODE, _DERIVED))
    return out


# --- the ideal time ---------------------------------------------------------------------------


def _queued_count(timeline: Timeline) -> int:
    """Spans that are messages waiting in a task queue (all their segments "na fila"), not executions."""
    c = timeline.columns
    if len(c) == 0:
        return 0
    segments = np.diff(c.seg_offsets)
    other = np.append(c.seg_state != _STATE[State.QUEUED], False).astype(int)
    not_queued = np.add.reduceat(other, c.seg_offsets[:-1])
    return int(((segments > 0) & (not_queued == 0)).sum())


def _own_lengths(timeline: Timeline) -> np.ndarray:
    c = timeline.columns
    own = c.end - c.start
    # the duration asked for counts for a task that finished or still runs; one cut short took what it took
    known = ~np.isnan(c.seconds) & np.isin(c.status, [_STATUS[Status.OK], _STATUS[Status.RUNNING]])
    own = np.where(known, np.nan_to_num(c.seconds), own)
    queued = c.seg_state == _STATE[State.QUEUED]
    if queued.any():  # a message waiting in a task queue is no work: conctutor.queue_timeline
        waited = np.add.reduceat(np.concatenate((np.where(queued, c.seg_end - c.seg_start, 0.0), [0.0])),
                                 c.seg_offsets[:-1])
        waited = np.where(np.diff(c.seg_offsets) > 0, waited, 0.0)
        own = np.where(known, own, np.maximum(own - waited, 0.0))
    measured = np.array([timeline.kinds[i] == Kind.MEASURED for i in c.name.tolist()], dtype=bool)
    if measured.any():
        held = np.isin(c.seg_state, NOT_OWN_WORK)
        held_time = np.where(held, c.seg_end - c.seg_start, 0.0)
        per_span = np.add.reduceat(np.concatenate((held_time, [0.0])), c.seg_offsets[:-1]) \
            if len(held_time) else np.zeros(len(c))
        per_span = np.where(np.diff(c.seg_offsets) > 0, per_span, 0.0)
        own = np.where(measured & ~known, np.maximum(own - per_span, 0.0), own)
    return own


def ideal_time(timeline: Timeline) -> float:
    """See `Timeline.ideal_time`."""
    c = timeline.columns
    if len(c) == 0:
        return 0.0
    own = _own_lengths(timeline)
    finish = own.copy()
    dependent = {i for i, name in enumerate(timeline.names) if name in DEPENDS_ON}
    if dependent:
        ends_by_name: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name_id, name in enumerate(timeline.names):
            members = np.flatnonzero(c.name == name_id)
            order = members[np.argsort(c.end[members], kind="stable")]
            ends_by_name[name] = (c.end[order], order)
        for i in np.argsort(c.start, kind="stable").tolist():
            if int(c.name[i]) not in dependent:
                continue
            ready = 0.0
            for needed in DEPENDS_ON[timeline.names[c.name[i]]]:
                if needed not in ends_by_name:
                    continue
                ends, order = ends_by_name[needed]
                index = int(np.searchsorted(ends, c.start[i] + 1e-6, side="right")) - 1
                if index >= 0:
                    ready = max(ready, float(finish[order[index]]))
            finish[i] = ready + own[i]
    kinds = np.array([timeline.kinds[i] for i in c.name.tolist()], dtype=object)
    cpu_work = float(own[kinds == Kind.CPU].sum() + c.cpu[kinds == Kind.MEASURED].sum())
    return max(float(finish.max()), cpu_work / max(timeline.cores, 1))
