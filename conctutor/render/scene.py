"""One layout of a timeline, computed once and drawn by both renderers.

`build_scene` turns a `Timeline` and a `Theme` into a `Scene`: sizes in
inches, the lanes and their labels, the bars and their segments as arrays,
the colours, the stats line, the legend entries (only for what is drawn),
the CPU strip and the notes. `conctutor.render.drawing` draws it with
matplotlib (the final figure), `conctutor.render.svg` writes it as SVG text
(the live frames). Neither decides anything about the content.

Every text is laid out here to fit (`typeset`), in the figures' words
(`words`); the legend is laid out by `legend`, the options checked by
`options`, the colours chosen by `colours`. Texts are shown literally: names
from a run (tasks, lanes, watched numbers) may hold anything, so a lone
surrogate or a control character is shown as ``�``, and the renderers escape
what their formats would read as markup.

This module also gives the names of 0.2.0's ``conctutor.scene`` that
notebooks, course modules and tests import from it (`format_seconds`,
`others_warning`, `check_prediction`, `STATUS_LABELS`...).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from ..engine.model import STATES, STATUSES, CpuUsage, Status
from ..engine.settings import time_scale
from .colours import lighten, task_colors, to_hex
from .folding import band_counts, fold_rows, row_geometry
from .labels import band_label, thread_labels
from .legend import LegendEntry, legend_entries, legend_layout
from .marks import MARK_STYLES, Mark, check_marks
from .options import check_figsize, check_lanes, check_prediction
from .themes import Theme, get_theme
from .typeset import LINE, text_width, wrap
from .words import (
    CPU_TITLE,
    CPU_TITLE_OURS,
    CPU_TITLE_SHADED,
    NO_TASKS,
    NOT_SAMPLED,
    STATE_WORDS,
    STATUS_LABELS,
    decimal_comma,
    folded_note,
    format_seconds,
    others_warning,
    prediction_line,
    shown,
    stats_line,
)

if TYPE_CHECKING:
    from ..engine.timeline import Columns, Timeline

__all__ = [  # its own names, and those of 0.2.0's conctutor.scene that notebooks, course modules and tests use
    "STATE_WORDS", "STATUS_LABELS", "Band", "CpuStrip", "LegendEntry", "Scene", "SeriesStrip",
    "axis_end", "build_scene",
    "check_prediction", "format_seconds", "lighten", "nice_ceiling", "others_warning",
]

CPU_AREA_MIN_PX = 9
"""A core's row at least this many pixels high is drawn as a filled area; thinner rows are shaded."""


@dataclass(frozen=True)
class CpuStrip:
    edges: np.ndarray  # sample edges in seconds, len samples + 1
    busy: np.ndarray  # (samples, cores), 0-1
    ours: np.ndarray | None  # (samples, cores), 0-1: this program's part
    cores: int
    title: str
    """Its heading, wrapped to fit (lines joined by ``\\n``)."""
    shaded: bool = False
    """Rows too thin for filled areas: one shaded row per core, darker = busier."""


@dataclass(frozen=True)
class SeriesStrip:
    """A watched number (``record(watch=...)``) as a step line under the lanes."""

    name: str
    times: np.ndarray  # seconds; values[i] holds from times[i] to times[i + 1] (the last to t_end)
    values: np.ndarray
    top: float  # the y axis' upper end: a round number >= the largest value
    title: str = ""
    """`name` as drawn: shown literally and wrapped to fit (lines joined by ``\\n``)."""


@dataclass(frozen=True)
class Band:
    """Lanes folded into one row (`conctutor.render.folding`): how many of their tasks were in each
    state, and how many had ended, over time."""

    centre: float  # in lane units, as a lane's position
    half: float
    edges: np.ndarray  # bin edges in seconds, len bins + 1
    states: np.ndarray  # (states, bins): tasks in each state (model codes), on average over each bin
    done: np.ndarray  # (bins,)
    total: int
    color: str
    light: str


BAND_BINS_MAX = 1200
"""A band's counts are kept at about one value per pixel of the time axis, at most this many."""
DONE_COLOR = "#BDBDBD"
"""A band's tasks that already ended."""

SERIES_ROW_IN = 0.9
"""Height of one watched number's strip, in inches."""
LABEL_MARGIN_IN = 0.25
"""Room left of the lane labels and between them and the axis, in inches."""
RIGHT_MARGIN_IN = 0.2


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
    lane: np.ndarray  # float: the centre of the span's row, in lane units (a lane's index when nothing is folded)
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
    bar_labels: tuple[tuple[float, float, str], ...]
    bar_label_size: float
    title_lines: tuple[str, ...] = ()
    """The title, wrapped to the figure's width."""
    header: tuple[str, ...] = ()
    """The stats line, the prediction's line and the notes, wrapped: the text above the lanes."""
    header_size: float = 0.0
    clock: str = ""
    """The time in the stats line (the SVG writes it in bold)."""
    prediction: float | None = None
    prediction_label: str = ""
    prediction_side: str = "left"
    """Where the prediction's label goes from its line: ``"left"`` or ``"right"``."""
    legend_columns: int = 1
    """Columns of a legend under the figure, laid out column by column as matplotlib does."""
    text_left: float = 0.0
    """Inches from the figure's left edge to the time axis, at least (room for the lane labels)."""
    cpu_label_font: float = 0.0
    """Points: the labels of the CPU strip's rows."""
    bands: tuple[Band, ...] = ()
    """Rows of folded lanes, drawn as stacked counts."""
    row_centre: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Each row's centre (the positions of `lanes`' labels), in lane units."""
    rows_height: float = 0.0
    """The rows' total height in lane units (a band counts `folding.BAND_WEIGHT`)."""
    mark_time: np.ndarray = field(default_factory=lambda: np.zeros(0))
    mark_lane: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Each mark's row centre, in lane units (``plot(marks=...)``)."""
    mark_kind: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Index into `mark_labels` (and `marks.MARK_STYLES`)."""
    mark_labels: tuple[str, ...] = ()

    @property
    def n_lanes(self) -> float:
        """The lanes' area in lane units: the number of lanes when nothing is folded."""
        return max(self.rows_height or len(self.lanes), 1)


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



@dataclass(frozen=True)
class _Texts:
    """What a layout has to fit, before any size is known."""

    title: str | None
    logical_header: tuple[str, ...]
    header_size: float
    lanes: tuple[str, ...]
    rows_height: float
    legend: tuple[LegendEntry, ...]
    series: tuple[SeriesStrip, ...]
    cpu_titles: tuple[str, ...]
    n_cores: int
    show_cpu: bool
    prediction: bool


@dataclass(frozen=True)
class _Layout:
    width: float
    height: float
    lanes_height: float
    cpu_height: float
    series_height: float
    lane_font: float
    label_every: int
    cpu_label_font: float
    title_lines: tuple[str, ...]
    header: tuple[str, ...]
    series: tuple[SeriesStrip, ...]
    legend: tuple[LegendEntry, ...]
    legend_columns: int
    text_left: float
    axis_width: float


def _labels_width(texts: _Texts, lane_font: float, cpu_label_font: float) -> float:
    """Inches from the figure's left edge to the time axis: the widest lane or core label, and margins."""
    widths = [text_width(label, lane_font) for label in texts.lanes]
    if texts.show_cpu:
        widths.append(text_width(f"núcleo {max(texts.n_cores - 1, 0)}", cpu_label_font))
    return max(widths, default=0.0) + LABEL_MARGIN_IN


def _layout(texts: _Texts, th: Theme, size: tuple[float, float] | None, text_left: float) -> _Layout:
    """Sizes in inches, with every text wrapped to fit when the time axis starts `text_left` from the left."""
    width = size[0] if size is not None else th.figure_width
    legend, legend_width, legend_columns, legend_height = legend_layout(texts.legend, width, th)
    axis_width = max(width - text_left - RIGHT_MARGIN_IN - (legend_width if th.legend == "right" else 0.0), 1.0)
    # the title is centred on the figure, and a legend to the right starts at its top
    title_width = width - 2 * (RIGHT_MARGIN_IN + (legend_width if th.legend == "right" else 0.0))
    title_lines = wrap(texts.title, max(title_width, 1.0), th.title_size, bold=True) if texts.title else ()
    header = tuple(line for text in texts.logical_header for line in wrap(text, axis_width, texts.header_size))
    series = tuple(replace(s, title="\n".join(wrap(s.title, axis_width, th.small_size))) for s in texts.series)
    cpu_lines = max((len(wrap(text, axis_width, th.small_size)) for text in texts.cpu_titles), default=0)

    # lanes get thinner (and their labels smaller) when there are many
    n_lanes = max(texts.rows_height, 1)
    overhead = (len(title_lines) * th.title_size * LINE + (len(header) + 0.3) * texts.header_size * LINE
                + th.tick_size * 1.6 + th.font_size * 1.5) / 72
    if texts.prediction:
        overhead += th.small_size * LINE / 72
    if th.legend == "bottom" and legend:
        overhead += legend_height + th.font_size * 0.5 / 72
    if texts.show_cpu:
        overhead += (cpu_lines + 0.3) * th.small_size * LINE / 72
    overhead += sum(s.title.count("\n") + 1.3 for s in series) * th.small_size * LINE / 72
    cpu_height = min(texts.n_cores * th.cpu_row_height, th.max_cpu_height) if texts.show_cpu else 0.0
    series_height = len(series) * SERIES_ROW_IN * th.lane_height / 0.42
    lanes_height = n_lanes * th.lane_height
    if size is not None:
        height = size[1]
        total = max(lanes_height + cpu_height + series_height, 1e-9)
        room = max(height - overhead, 0.5)
        lanes_height, cpu_height, series_height = (room * part / total for part in
                                                   (lanes_height, cpu_height, series_height))
    else:
        room = th.max_height - overhead
        lanes_least = min(1.0, lanes_height)
        strips_height = cpu_height + series_height
        if strips_height > 0 and lanes_least + strips_height > room:  # the strips give up room too
            scale = max(room - lanes_least, 0.4 * strips_height) / strips_height
            cpu_height, series_height = cpu_height * scale, series_height * scale
        lanes_height = max(min(lanes_height, room - cpu_height - series_height), lanes_least)
        height = overhead + lanes_height + cpu_height + series_height
    lane_pt = lanes_height * 72 / n_lanes
    lane_font = max(th.min_font_size, min(th.tick_size, lane_pt * 0.62))
    label_every = max(1, math.ceil(lane_font * 1.1 / max(lane_pt, 1e-9)))
    core_pt = cpu_height * 72 / max(texts.n_cores, 1)
    cpu_label_font = max(th.min_font_size, min(th.tick_size, core_pt * 0.75))
    return _Layout(width, height, lanes_height, cpu_height, series_height, lane_font, label_every, cpu_label_font,
                   title_lines, header, series, tuple(legend), legend_columns, text_left, axis_width)


def build_scene(
    timeline: Timeline,
    *,
    title: str | None = None,
    theme: str | Theme | None = None,
    figsize: object = None,
    cpu: bool = True,
    series: bool = True,
    ideal: bool = True,
    prediction: float | None = None,
    axis_until: float | None = None,
    colour_names: Sequence[str] = (),
    text_left: float = 0.0,
    lanes: str = "auto",
    marks: object = None,
) -> Scene:
    """The layout of `timeline` (see the module docstring). Bad options raise here, clearly.

    `ideal`: write the ideal time in the stats line (leave it out where it means nothing, as for
    locks and queues). `prediction`: the student's predicted total, in seconds, drawn as a dashed
    line on the time axis and compared with the measured total.
    `colour_names`: the tasks of several runs drawn together (`plot_stacked`), so that
    each name gets one colour in all of them and two names never share one; `text_left`:
    inches left of their common time axis, at least (the widest of their lane labels).
    `lanes`: ``"auto"`` folds lanes into bands when there are more than a figure shows
    (`conctutor.render.folding`), ``"all"`` draws every lane. `marks`: instants measured on threads
    (`conctutor.render.marks`), drawn on the first row of their thread.
    """
    th = get_theme(theme)
    size = check_figsize(figsize)
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title deve ser um texto; recebido {type(title).__name__}: {title!r}")
    for name, value in (("cpu", cpu), ("series", series), ("ideal", ideal)):
        if not isinstance(value, bool):
            raise TypeError(f"{name} deve ser True ou False; recebido {value!r}")
    # a prediction is of the chapter's durations: scaled as they are (CONCTUTOR_TIME_SCALE)
    predicted = None if prediction is None else check_prediction(prediction) * time_scale()
    mode = check_lanes(lanes)
    mark_list = check_marks(marks)
    c = timeline.columns
    live = timeline.live
    used_lanes = np.unique(c.lane).tolist()  # a timeline numbers its lanes in the order to draw them
    failed = set(np.unique(c.lane[c.status == STATUSES.index(Status.ERROR)]).tolist())
    rows = fold_rows(timeline.lanes, used_lanes, failed, timeline.main_pid, mode)
    row_of_lane = np.zeros(len(timeline.lanes) + 1, dtype=np.int64)
    for r, row in enumerate(rows):
        row_of_lane[list(row.lanes)] = r
    centres, halves, rows_height = row_geometry(rows)
    is_band = np.array([row.band for row in rows], dtype=bool)
    used_names = list(dict.fromkeys(c.name.tolist()))  # in order of first appearance: the colours' order
    name_pos = np.zeros(len(timeline.names) + 1, dtype=np.int64)
    name_pos[used_names] = np.arange(len(used_names))
    raw_names = [timeline.names[i] for i in used_names]
    names = tuple(shown(name) for name in raw_names)
    everyone = list(dict.fromkeys([*colour_names, *raw_names]))
    colour_of = dict(zip(everyone, task_colors(everyone, th.palette)))
    colors = tuple(colour_of[name] for name in raw_names)
    light = tuple(to_hex(lighten(color, th.wait_lighten)) for color in colors)
    span_row = row_of_lane[c.lane] if len(c) else np.zeros(0, np.int64)
    all_task = name_pos[c.name] if len(c) else np.zeros(0, np.int64)
    counts = np.diff(c.seg_offsets)
    all_seg_row = np.repeat(span_row, counts)
    all_seg_task = np.repeat(all_task, counts)
    # the spans drawn as bars: those of the rows that are lanes
    drawn = ~is_band[span_row] if len(c) else np.zeros(0, dtype=bool)
    seg_drawn = np.repeat(drawn, counts)
    n = int(drawn.sum())
    lane_of = centres[span_row[drawn]] if n else np.zeros(0)
    task_of = all_task[drawn]
    seg_lane = centres[all_seg_row[seg_drawn]] if seg_drawn.any() else np.zeros(0)
    seg_task = all_seg_task[seg_drawn]
    labels = [shown(timeline.labels[row.lanes[0]]) if not row.band else "" for row in rows]
    threads_of = thread_labels(timeline.lanes, timeline.main_pid) if any(
        row.key[:1] == ("tasks",) for row in rows) else []
    for r in np.flatnonzero(is_band).tolist():
        labels[r] = band_label(rows[r], timeline.lanes, timeline.main_pid, threads_of)
    lane_labels = tuple(labels)
    mark_time, mark_lane, mark_kind, mark_labels = _marks(mark_list, timeline, used_lanes, row_of_lane, centres)

    usage: CpuUsage = timeline.cpu
    n_cores = usage.cores if cpu else 0
    show_cpu = cpu and (n_cores > 0 or live)
    if show_cpu and n_cores == 0:
        n_cores = timeline.cores

    t_end = axis_end(timeline) if live else max(timeline.makespan, float(c.end.max()) if len(c) else 0.0)
    t_end = max(t_end, axis_until or 0.0, predicted or 0.0)  # a longer shared axis, or a longer prediction
    t_end = t_end if t_end > 0 else 1.0
    # less than this is less than a pixel however wide the time axis gets
    pixel = t_end / ((size[0] if size is not None else th.figure_width) * th.dpi)

    hatch = n <= th.hatch_max_spans
    stats = stats_line(timeline, live, ideal)
    notes: list[str] = []
    warning = others_warning(timeline, short=True)
    if warning:
        notes.append(warning)
    if not timeline.sampled and len(c):
        notes.append(NOT_SAMPLED)
    if is_band.any():
        notes.append(folded_note([rows[r] for r in np.flatnonzero(is_band).tolist()], timeline.lanes))
    notes.extend(timeline.lost)  # spans a worker could not keep (a full disk): said under the title
    logical = [stats]
    if predicted is not None:
        logical.append(prediction_line(predicted, None if live else timeline.makespan))
    title_text = shown(title) if title else None
    texts = _Texts(
        title=title_text, logical_header=(*logical, *notes),
        header_size=th.font_size if title_text else th.title_size * 0.85, lanes=lane_labels,
        rows_height=rows_height,
        # the states of every span (bands draw them too), the markers of the bars drawn
        legend=(*legend_entries(c.status[drawn], c.seg_state, c.seg_end - c.seg_start, all_seg_task, names,
                                colors, hatch, pixel, th),
                *(LegendEntry(label, getattr(th, MARK_STYLES[k][1]), "marker", marker=MARK_STYLES[k][0])
                  for k, label in enumerate(mark_labels))),
        series=_series_strips(timeline) if series else (),
        cpu_titles=(CPU_TITLE_OURS if usage.ours is not None else CPU_TITLE, CPU_TITLE_SHADED) if show_cpu else (),
        n_cores=n_cores, show_cpu=show_cpu, prediction=predicted is not None,
    )
    # First with the labels at their largest; then again with the sizes that gave, if the labels
    # still fit then (more room for the texts means fewer lines, so taller lanes and larger labels).
    layout = _layout(texts, th, size, max(_labels_width(texts, th.tick_size, th.tick_size), text_left))
    refined = _layout(texts, th, size,
                      max(_labels_width(texts, layout.lane_font, layout.cpu_label_font), text_left))
    if _labels_width(texts, refined.lane_font, refined.cpu_label_font) <= refined.text_left + 1e-9:
        layout = refined

    # task names on bars wide enough to hold them
    bar_labels: list[tuple[float, float, str]] = []
    label_size = 0.0
    starts, ends = c.start[drawn], c.end[drawn]
    if th.bar_labels and 0 < n <= th.max_bar_labels:
        sec_per_in = t_end * 1.01 / layout.axis_width
        lane_in = layout.lanes_height / max(rows_height, 1) * th.bar_fill
        label_size = min(th.bar_label_size, lane_in * 72 * 0.7)
        if label_size >= th.min_font_size:
            for i in range(n):
                name = names[task_of[i]]
                text_in = text_width(name, label_size) + label_size / 72
                if (ends[i] - starts[i]) / sec_per_in >= text_in:
                    bar_labels.append(((float(starts[i]) + float(ends[i])) / 2, float(lane_of[i]), name))

    bands = _bands(is_band, centres, halves, c, span_row, all_seg_row, all_task, colors, light, t_end,
                   layout.axis_width * th.dpi) if is_band.any() else ()

    strip = None
    if show_cpu:
        if usage.times:
            edges = np.concatenate(([usage.start], np.asarray(usage.times, dtype=float)))
            busy = np.clip(np.asarray(usage.percent, dtype=float), 0, 100) / 100.0
            ours = None if usage.ours is None else np.clip(np.asarray(usage.ours, dtype=float), 0, 100) / 100.0
        else:
            edges, busy, ours = np.zeros(0), np.zeros((0, n_cores)), None
        shaded = layout.cpu_height * th.dpi / max(n_cores, 1) < CPU_AREA_MIN_PX
        heading = CPU_TITLE_SHADED if shaded else CPU_TITLE_OURS if ours is not None else CPU_TITLE
        strip = CpuStrip(edges, busy, ours, n_cores, "\n".join(wrap(heading, layout.axis_width, th.small_size)),
                         shaded)

    prediction_label = "" if predicted is None else f"sua previsão: {format_seconds(predicted)}"
    # the label goes on the side of its line with more room
    prediction_side = "left" if predicted is not None and predicted / (t_end * 1.01) > 0.5 else "right"

    return Scene(
        theme=th, title=title_text, stats=stats, live=live, now=timeline.makespan, t_end=t_end,
        lanes=lane_labels, task_names=names, colors=colors, light_colors=light,
        start=starts, end=ends, lane=lane_of, task=task_of, status=c.status[drawn],
        seg_start=c.seg_start[seg_drawn], seg_end=c.seg_end[seg_drawn], seg_lane=seg_lane, seg_task=seg_task,
        seg_state=c.seg_state[seg_drawn], hatch=hatch, legend=layout.legend, cpu=strip, series=layout.series,
        empty_message=None if len(c) else NO_TASKS,
        notes=tuple(notes), width=layout.width, height=layout.height, lanes_height=layout.lanes_height,
        cpu_height=layout.cpu_height, series_height=layout.series_height,
        lane_font=layout.lane_font, label_every=layout.label_every, bar_labels=tuple(bar_labels),
        bar_label_size=label_size, title_lines=layout.title_lines, header=layout.header,
        header_size=texts.header_size, clock=decimal_comma(timeline.makespan), prediction=predicted,
        prediction_label=prediction_label, prediction_side=prediction_side, legend_columns=layout.legend_columns,
        text_left=layout.text_left, cpu_label_font=layout.cpu_label_font, bands=bands, row_centre=centres,
        rows_height=rows_height, mark_time=mark_time, mark_lane=mark_lane, mark_kind=mark_kind,
        mark_labels=mark_labels,
    )


def _marks(marks: Sequence[Mark], timeline: Timeline, used_lanes: Sequence[int], row_of_lane: np.ndarray,
           centres: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """Where each mark goes: the first row drawn with a lane of its thread in the recording process.
    A mark on a thread without a lane (it recorded no task) is left out."""
    row_of_thread: dict[int, int] = {}
    for index in used_lanes:
        lane = timeline.lanes[index]
        if lane.pid == timeline.main_pid and lane.thread_id not in row_of_thread:
            row_of_thread[lane.thread_id] = int(row_of_lane[index])
    kept = [m for m in marks if m.thread_id in row_of_thread]
    labels = tuple(dict.fromkeys(m.label for m in kept))
    return (np.array([m.time for m in kept], dtype=float),
            np.array([centres[row_of_thread[m.thread_id]] for m in kept], dtype=float),
            np.array([labels.index(m.label) for m in kept], dtype=np.int64), labels)


def _bands(is_band: np.ndarray, centres: np.ndarray, halves: np.ndarray, c: Columns,
           span_row: np.ndarray, seg_row: np.ndarray, span_task: np.ndarray, colors: Sequence[str],
           light: Sequence[str], t_end: float, axis_px: float) -> tuple[Band, ...]:
    """The counts each band draws, about one value per pixel of the time axis."""
    edges = np.linspace(0.0, t_end, int(min(max(axis_px, 50), BAND_BINS_MAX)) + 1)
    bands = []
    for r in np.flatnonzero(is_band).tolist():
        spans, segs = span_row == r, seg_row == r
        counts = band_counts(edges, len(STATES), c.start[spans], c.end[spans], c.seg_start[segs], c.seg_end[segs],
                             c.seg_state[segs])
        task = int(np.argmax(np.bincount(span_task[spans])))  # the band takes its most frequent task's colour
        bands.append(Band(float(centres[r]), float(halves[r]), edges, counts.states, counts.done, counts.total,
                          colors[task], light[task]))
    return tuple(bands)


def _series_strips(timeline: Timeline) -> tuple[SeriesStrip, ...]:
    strips = []
    for watched in getattr(timeline, "series", ()):
        times = np.asarray(watched.times, dtype=float)
        values = np.asarray(watched.values, dtype=float)
        top = nice_ceiling(float(values.max())) if len(values) and values.max() > 0 else 1.0
        strips.append(SeriesStrip(watched.name, times, values, top, shown(watched.name)))
    return tuple(strips)
