"""One layout of a timeline, computed once and drawn by both renderers.

`build_scene` turns a `Timeline` and a `Theme` into a `Scene`: sizes in
inches, the lanes and their labels, the bars and their segments as arrays,
the colours, the stats line, the legend entries (only for what is drawn),
the CPU strip and the notes. `conctutor.drawing` draws it with matplotlib
(the final figure), `conctutor.svg` writes it as SVG text (the live frames).
Neither decides anything about the content.

The text is in Portuguese, like the notebooks.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .chapter import TASKS
from .model import RUNNING_STATE, STATES, STATUSES, CpuUsage, State, Status
from .themes import Theme, get_theme

if TYPE_CHECKING:
    from .timeline import Timeline

RUNNING_CODE = RUNNING_STATE
MARKED = (Status.ERROR, Status.INTERRUPTED, Status.RUNNING)
"""Statuses drawn with an outline and a marker at the bar's end."""

STATUS_LABELS = {Status.ERROR: "erro (exceção)", Status.INTERRUPTED: "interrompida", Status.RUNNING: "ainda rodando"}

STATE_HATCHES = {
    State.IO: "/",
    State.BLOCKED: "x",
    State.GIL: ".",
    State.READY: "\\",
    State.QUEUED: "-",
    State.WAITING: "",
}
"""Each reason to wait has its own hatch (repeated to the theme's density); "esperando" has none."""

MAX_FIGSIZE = 50.0


def br(value: float, digits: int = 2) -> str:
    """A number the Brazilian way: decimal comma."""
    return f"{value:.{digits}f}".replace(".", ",")


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    return f"{count} {singular if count == 1 else (plural_form or singular + 's')}"


def lighten(color: str, amount: float) -> tuple[float, float, float]:
    r, g, b = hex_rgb(color)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)


def hex_rgb(color: str) -> tuple[float, float, float]:
    named = {"white": "#FFFFFF", "black": "#000000"}
    text = named.get(color, color).lstrip("#")
    return (int(text[0:2], 16) / 255, int(text[2:4], 16) / 255, int(text[4:6], 16) / 255)


def to_hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(c * 255):02x}" for c in rgb)


def task_colors(names: Sequence[str], palette: Sequence[str]) -> list[str]:
    """A colour per task: the chapter's tasks always take the same ones; others the next free ones."""
    colors: dict[str, str] = {}
    taken: set[int] = set()
    for name in names:
        if name in TASKS and TASKS.index(name) < len(palette):
            colors[name] = palette[TASKS.index(name)]
            taken.add(TASKS.index(name))
    free = [i for i in range(len(palette)) if i not in taken] or list(range(len(palette)))
    others = [name for name in names if name not in colors]
    for k, name in enumerate(others):
        colors[name] = palette[free[k % len(free)]]
    return [colors[name] for name in names]


def check_figsize(figsize: object) -> tuple[float, float] | None:
    """`figsize` as (width, height) in inches, or a clear error."""
    if figsize is None:
        return None
    if isinstance(figsize, (str, bytes)) or not isinstance(figsize, Sequence) or len(figsize) != 2 or not all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) for v in figsize):
        raise TypeError(f"figsize deve ser (largura, altura) em polegadas, como (10, 4); recebido {figsize!r}")
    width, height = (float(v) for v in figsize)
    if not (0 < width <= MAX_FIGSIZE and 0 < height <= MAX_FIGSIZE) or math.isnan(width + height):
        raise ValueError(f"figsize: largura e altura devem estar entre 0 e {MAX_FIGSIZE:g} polegadas (sem incluir 0); "
                         f"recebido {figsize!r}")
    return width, height


@dataclass(frozen=True)
class LegendEntry:
    label: str
    color: str
    style: str
    """``"task"``, ``"running"``, ``"waiting"`` (with `hatch`) or ``"marker"`` (with `marker`)."""
    hatch: str = ""
    marker: str = ""
    state: State | None = None


@dataclass(frozen=True)
class CpuStrip:
    edges: np.ndarray  # sample edges in seconds, len samples + 1
    busy: np.ndarray  # (samples, cores), 0-1
    ours: np.ndarray | None  # (samples, cores), 0-1: this program's part
    cores: int
    title: str


@dataclass(frozen=True)
class SeriesStrip:
    """A watched number (``record(watch=...)``) as a step line under the lanes."""

    name: str
    times: np.ndarray  # seconds; values[i] holds from times[i] to times[i + 1] (the last to t_end)
    values: np.ndarray
    top: float  # the y axis' upper end: a round number >= the largest value


SERIES_ROW_IN = 0.9
"""Height of one watched number's strip, in inches."""


@dataclass(frozen=True)
class Scene:
    """Everything a renderer needs; all sizes in inches and points of the theme."""

    theme: Theme
    title: str | None
    stats: str
    live: bool
    now: float
    t_end: float
    lanes: tuple[str, ...]
    task_names: tuple[str, ...]
    colors: tuple[str, ...]
    light_colors: tuple[str, ...]
    # bars, one per span
    start: np.ndarray
    end: np.ndarray
    lane: np.ndarray
    task: np.ndarray
    status: np.ndarray  # int8 codes into STATUSES
    # segments of every span: running ones are solid, the others light and hatched by reason
    seg_start: np.ndarray
    seg_end: np.ndarray
    seg_lane: np.ndarray
    seg_task: np.ndarray
    seg_state: np.ndarray
    hatch: bool
    legend: tuple[LegendEntry, ...]
    cpu: CpuStrip | None
    series: tuple[SeriesStrip, ...]
    empty_message: str | None
    notes: tuple[str, ...]
    width: float
    height: float
    lanes_height: float
    cpu_height: float
    series_height: float
    lane_font: float
    label_every: int
    bar_labels: tuple[tuple[float, int, str], ...]
    bar_label_size: float

    @property
    def n_lanes(self) -> int:
        return max(len(self.lanes), 1)


_NICE = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)


def nice_ceiling(value: float) -> float:
    """The smallest 'round' number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k) >= value."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in _NICE:
        if step * power >= value * (1 - 1e-9):
            return step * power
    return 10 * power


def axis_end(timeline: Timeline) -> float:
    """Where a live timeline's axis ends: past 'now' and past the end each running task asked for.

    It moves in round steps, so a live picture does not rescale on every frame.
    """
    c = timeline.columns
    latest = timeline.makespan
    if len(c):
        latest = max(latest, float(c.end.max()))
        running = (c.status == STATUSES.index(Status.RUNNING)) & ~np.isnan(c.seconds)
        if running.any():
            latest = max(latest, float((c.start[running] + c.seconds[running]).max()))
    return nice_ceiling(latest * 1.05)


def hatch_of(state: State, theme: Theme) -> str:
    base = STATE_HATCHES[state]
    if not base or not theme.hatch:
        return ""
    return base * max(1, len(theme.hatch) // (2 if base in ".x" else 1))


OTHERS_LIMIT_CORES = 0.25
"""Other programs using more than a quarter of one core, on average, get a warning."""


def others_warning(timeline: Timeline, short: bool = False) -> str:
    """A warning in Portuguese when other programs took a noticeable share of the CPU, else ``""``."""
    share = timeline.others_cpu_share
    if share is None or share * timeline.cores <= OTHERS_LIMIT_CORES:
        return ""
    head = f"⚠ outros programas usaram {br(share * 100, 0)} % da CPU"
    if short:
        return head
    return (f"{head} durante a gravação (cerca de {br(share * timeline.cores, 1)} núcleo): "
            "os tempos medidos ficam maiores do que numa máquina livre")


def stats_line(timeline: Timeline, live: bool) -> str:
    cores = plural(timeline.cores, "núcleo")
    ideal = timeline.ideal_time
    head = "gravando… tempo até agora" if live else "tempo total"
    gil = "" if timeline.gil_enabled else " · sem GIL"
    return f"{head}: {br(timeline.makespan)} s · ideal: {br(ideal)} s · {cores}{gil}"


def build_scene(
    timeline: Timeline,
    *,
    title: str | None = None,
    theme: str | Theme | None = None,
    figsize: object = None,
    cpu: bool = True,
    series: bool = True,
    axis_until: float | None = None,
    colour_names: Sequence[str] = (),
) -> Scene:
    """The layout of `timeline` (see the module docstring). Bad options raise here, clearly.

    `colour_names`: the tasks of several runs drawn together (`plot_stacked`), so that
    each name gets one colour in all of them and two names never share one.
    """
    th = get_theme(theme)
    size = check_figsize(figsize)
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title deve ser um texto; recebido {type(title).__name__}: {title!r}")
    if not isinstance(cpu, bool):
        raise TypeError(f"cpu deve ser True ou False; recebido {cpu!r}")
    if not isinstance(series, bool):
        raise TypeError(f"series deve ser True ou False; recebido {series!r}")
    c = timeline.columns
    live = timeline.live
    used_lanes = sorted(set(c.lane.tolist()))  # a timeline numbers its lanes in the order to draw them
    lane_pos = {lane: i for i, lane in enumerate(used_lanes)}
    lanes = tuple(timeline.labels[i] for i in used_lanes)
    used_names = list(dict.fromkeys(c.name.tolist()))
    name_pos = {name: i for i, name in enumerate(used_names)}
    names = tuple(timeline.names[i] for i in used_names)
    everyone = list(dict.fromkeys([*colour_names, *names]))
    colour_of = dict(zip(everyone, task_colors(everyone, th.palette)))
    colors = tuple(colour_of[name] for name in names)
    light = tuple(to_hex(lighten(color, th.wait_lighten)) for color in colors)
    n = len(c)
    lane_of = np.array([lane_pos[v] for v in c.lane.tolist()], dtype=np.int64) if n else np.zeros(0, np.int64)
    task_of = np.array([name_pos[v] for v in c.name.tolist()], dtype=np.int64) if n else np.zeros(0, np.int64)
    counts = np.diff(c.seg_offsets)
    seg_lane = np.repeat(lane_of, counts)
    seg_task = np.repeat(task_of, counts)

    usage: CpuUsage = timeline.cpu
    n_cores = usage.cores if cpu else 0
    show_cpu = cpu and (n_cores > 0 or live)
    if show_cpu and n_cores == 0:
        n_cores = timeline.cores

    statuses = {STATUSES[code] for code in np.unique(c.status).tolist()}
    states = {STATES[code] for code in np.unique(c.seg_state).tolist()}
    legend: list[LegendEntry] = [LegendEntry(name, color, "task") for name, color in zip(names, colors)]
    gray = "#6E6E6E"
    hatch = n <= th.hatch_max_spans
    if State.RUNNING in states:
        legend.append(LegendEntry("rodando (na CPU)", gray, "running"))
    for state in STATES:
        if state in states and state != State.RUNNING:
            legend.append(LegendEntry(str(state), gray, "waiting", hatch_of(state, th) if hatch else "", state=state))
    marker_of = {Status.ERROR: ("X", th.error_color), Status.INTERRUPTED: ("s", th.interrupted_color),
                 Status.RUNNING: (">", th.text_color)}
    for status in MARKED:
        if status in statuses:
            marker, color = marker_of[status]
            legend.append(LegendEntry(STATUS_LABELS[status], color, "marker", marker=marker))

    # --- sizes: lanes get thinner (and their labels smaller) when there are many
    n_lanes = max(len(lanes), 1)
    overhead = (th.title_size * (2.2 if title else 1.2) + th.tick_size * 2.6 + th.font_size * 1.6) / 72
    if th.legend == "bottom":
        per_row = max(1, int(th.figure_width * 72 / (th.font_size * 11)))
        overhead += math.ceil(len(legend) / per_row) * th.font_size * 1.45 / 72
    if show_cpu:
        overhead += th.small_size * 1.5 / 72
    strips = _series_strips(timeline) if series else ()
    overhead += len(strips) * th.small_size * 1.5 / 72
    cpu_height = min(n_cores * th.cpu_row_height, th.max_cpu_height) if show_cpu else 0.0
    series_height = len(strips) * SERIES_ROW_IN * th.lane_height / 0.42
    lanes_height = n_lanes * th.lane_height
    if size is not None:
        width, height = size
        total = max(lanes_height + cpu_height + series_height, 1e-9)
        room = max(height - overhead, 0.5)
        lanes_height, cpu_height, series_height = (room * part / total for part in
                                                   (lanes_height, cpu_height, series_height))
    else:
        width = th.figure_width
        lanes_height = max(min(lanes_height, th.max_height - overhead - cpu_height - series_height),
                           min(1.0, lanes_height))
        height = overhead + lanes_height + cpu_height + series_height
    lane_pt = lanes_height * 72 / n_lanes
    lane_font = max(th.min_font_size, min(th.tick_size, lane_pt * 0.62))
    label_every = max(1, math.ceil(lane_font * 1.1 / max(lane_pt, 1e-9)))

    t_end = axis_end(timeline) if live else max(timeline.makespan, float(c.end.max()) if n else 0.0)
    t_end = max(t_end, axis_until or 0.0)  # a longer shared axis (runs drawn one above another)
    t_end = t_end if t_end > 0 else 1.0

    # task names on bars wide enough to hold them
    labels: list[tuple[float, int, str]] = []
    label_size = 0.0
    if th.bar_labels and 0 < n <= th.max_bar_labels:
        sec_per_in = t_end * 1.01 / max(width * 0.72, 1.0)
        lane_in = lanes_height / n_lanes * th.bar_fill
        label_size = min(th.bar_label_size, lane_in * 72 * 0.7)
        if label_size >= th.min_font_size:
            for i in range(n):
                name = names[task_of[i]]
                text_in = (len(name) * 0.6 + 1.2) * label_size / 72
                if (c.end[i] - c.start[i]) / sec_per_in >= text_in:
                    labels.append(((float(c.start[i]) + float(c.end[i])) / 2, int(lane_of[i]), name))

    strip = None
    if show_cpu:
        if usage.times:
            edges = np.concatenate(([usage.start], np.asarray(usage.times, dtype=float)))
            busy = np.clip(np.asarray(usage.percent, dtype=float), 0, 100) / 100.0
            ours = None if usage.ours is None else np.clip(np.asarray(usage.ours, dtype=float), 0, 100) / 100.0
        else:
            edges, busy, ours = np.zeros(0), np.zeros((0, n_cores)), None
        title_cpu = "uso de cada núcleo da CPU (0–100 %)"
        if ours is not None:
            title_cpu = "uso de cada núcleo da CPU (0–100 %): escuro = este programa, claro = outros programas"
        strip = CpuStrip(edges, busy, ours, n_cores, title_cpu)

    notes: list[str] = []
    warning = others_warning(timeline, short=True)
    if warning:
        notes.append(warning)
    if not timeline.sampled and n:
        notes.append("sem amostras do sistema aqui: rodando e esperando vêm só do que as tarefas anotaram")
    notes.extend(timeline.lost)  # spans a worker could not keep (a full disk): said under the title

    return Scene(
        theme=th, title=title, stats=stats_line(timeline, live), live=live, now=timeline.makespan, t_end=t_end,
        lanes=lanes, task_names=names, colors=colors, light_colors=light,
        start=c.start, end=c.end, lane=lane_of, task=task_of, status=c.status,
        seg_start=c.seg_start, seg_end=c.seg_end, seg_lane=seg_lane, seg_task=seg_task, seg_state=c.seg_state,
        hatch=hatch, legend=tuple(legend), cpu=strip, series=strips,
        empty_message=None if n else "nenhuma tarefa gravada (ainda)",
        notes=tuple(notes), width=width, height=height, lanes_height=lanes_height, cpu_height=cpu_height,
        series_height=series_height,
        lane_font=lane_font, label_every=label_every, bar_labels=tuple(labels), bar_label_size=label_size,
    )


def _series_strips(timeline: Timeline) -> tuple[SeriesStrip, ...]:
    strips = []
    for watched in getattr(timeline, "series", ()):
        times = np.asarray(watched.times, dtype=float)
        values = np.asarray(watched.values, dtype=float)
        top = nice_ceiling(float(values.max())) if len(values) and values.max() > 0 else 1.0
        strips.append(SeriesStrip(watched.name, times, values, top))
    return tuple(strips)
