"""One layout of a timeline, computed once and drawn by both renderers.

`build_scene` turns a `Timeline` and a `Theme` into a `Scene`: sizes in
inches, the lanes and their labels, the bars and their segments as arrays,
the colours, the stats line, the legend entries (only for what is drawn),
the CPU strip and the notes. `conctutor.drawing` draws it with matplotlib
(the final figure), `conctutor.svg` writes it as SVG text (the live frames).
Neither decides anything about the content.

Every text is laid out here to fit: it is measured with the font the figures
use (DejaVu Sans, which matplotlib ships; the widest of the fonts the SVG
names) and wrapped onto more lines where the figure is too narrow for it.
Texts are shown literally: names from a run (tasks, lanes, watched numbers)
may hold anything, so a lone surrogate or a control character is shown as
``�``, and the renderers escape what their formats would read as markup.

The text is in Portuguese, like the notebooks. The words of the states are
the drawing's (`STATE_WORDS`): the data keep `model.State`'s values.
"""

from __future__ import annotations

import difflib
import functools
import math
import numbers
import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..engine.contention import noticeable_delay
from ..engine.model import RUNNING_STATE, STATES, STATUSES, CpuUsage, State, Status
from ..engine.settings import time_scale
from .colours import lighten, task_colors, to_hex
from .themes import Theme, get_theme

if TYPE_CHECKING:
    from ..engine.timeline import Timeline

RUNNING_CODE = RUNNING_STATE
MARKED = (Status.ERROR, Status.INTERRUPTED, Status.RUNNING)
"""Statuses drawn with an outline and a marker at the bar's end."""

STATUS_LABELS = {Status.ERROR: "erro (exceção)", Status.INTERRUPTED: "interrompida", Status.RUNNING: "ainda rodando"}

STATE_WORDS: dict[State, str] = {
    State.RUNNING: "rodando (na CPU)",
    State.GIL: "esperando o GIL",
    State.READY: "pronta (sem núcleo livre)",
    State.IO: "E/S",
    State.BLOCKED: "bloqueada (trava, fila, evento)",
    State.QUEUED: "na fila",
    State.WAITING: "esperando",
}
"""What each state is called on screen, the same in every figure and in the notebooks' prose; in this
order in a legend. The data (events, saved runs) keep `State`'s own values."""

STATE_HATCHES = {
    State.IO: "/",
    State.BLOCKED: "x",
    State.GIL: ".",
    State.READY: "\\",
    State.QUEUED: "-",
    State.WAITING: "",
}
"""Each reason to wait has its own hatch (repeated to the theme's density); "esperando" has none."""

SWATCH_COLOURS = 4
"""A legend entry of a state shows at most this many of the colours of the tasks drawn in it."""

MAX_FIGSIZE = 50.0
MAX_PREDICTION = 3600.0
"""The longest prediction drawn, in seconds (an hour)."""

PLOT_OPTIONS = ("title", "theme", "figsize", "fig", "cpu", "series", "ideal", "prediction")
"""The keywords of ``timeline.plot()`` (`conctutor.drawing.plot_timeline`)."""

CPU_TITLE = "uso de cada núcleo da CPU (0–100 %)"
CPU_TITLE_OURS = "uso de cada núcleo da CPU (0–100 %): escuro = este programa, claro = outros programas"
CPU_TITLE_SHADED = "uso de cada núcleo da CPU (mais escuro = mais ocupado)"
CPU_AREA_MIN_PX = 9
"""A core's row at least this many pixels high is drawn as a filled area; thinner rows are shaded."""


# --- numbers and words ---------------------------------------------------------------


def br(value: float, digits: int = 2) -> str:
    """A number the Brazilian way: decimal comma."""
    return f"{value:.{digits}f}".replace(".", ",")


def format_seconds(seconds: float, digits: int = 2) -> str:
    """Seconds as every figure and panel prints them: ``"9,00 s"`` (decimal comma)."""
    return f"{br(seconds, digits)} s"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    return f"{count} {singular if count == 1 else (plural_form or singular + 's')}"


def shown(text: str) -> str:
    """`text` as it can be drawn: lone surrogates and control characters become ``�``, tabs and
    line breaks spaces (a name from a run is one line, and fonts and XML take neither)."""
    return "".join(
        " " if char in "\t\n\r" else "\ufffd" if unicodedata.category(char) in ("Cs", "Cc") else char
        for char in text
    )


def check_prediction(value: object, what: str = "a previsão") -> float:
    """A predicted total time in seconds, or a clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} deve ser um número de segundos, como 6 ou 2.5; "
                        f"recebido {type(value).__name__}: {value!r}")
    seconds = float(value)
    if not 0 <= seconds <= MAX_PREDICTION:  # NaN fails this too
        raise ValueError(f"{what} deve ser um número de segundos de 0 a {MAX_PREDICTION:g}; recebido {value!r}")
    return seconds


def check_options(options: Mapping[str, object], function: str = "plot()",
                  allowed: Sequence[str] = PLOT_OPTIONS) -> None:
    """A clear error for keywords that `function` does not take, naming the ones it does."""
    unknown = [name for name in options if name not in allowed]
    if not unknown:
        return
    hints = [f"{name!r} (seria {close[0]!r}?)" if (close := difflib.get_close_matches(name, allowed, 1)) else repr(name)
             for name in unknown]
    raise TypeError(f"{function} não tem a opção {', '.join(hints)}; as opções são: {', '.join(allowed)}")


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


# --- measuring and wrapping text ----------------------------------------------------------

_advances: dict[tuple[str, bool], float] = {}
_advances_lock = threading.Lock()


@functools.cache
def _fonts() -> tuple[Any, Any]:
    """DejaVu Sans and DejaVu Sans Bold as matplotlib ships them (imported here, lazily: see `warm_up`)."""
    import os

    import matplotlib
    from matplotlib import ft2font

    folder = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
    fonts = []
    for file in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"):
        font = ft2font.FT2Font(os.path.join(folder, file))
        font.set_size(72, 72)  # one point per pixel: advances come out in points at 72 pt, i.e. in ems × 72
        fonts.append(font)
    return fonts[0], fonts[1]


def warm_up() -> None:
    """Load the fonts that measure text now, not in the middle of a recording (the live view's thread)."""
    _fonts()


def _advance(char: str, bold: bool) -> float:
    """The width of `char` in ems; a character the font lacks counts as a wide one (1 em)."""
    key = (char, bold)
    width = _advances.get(key)
    if width is None:
        from matplotlib import ft2font

        font = _fonts()[bold]
        with _advances_lock:  # FT2Font keeps state between calls
            if font.get_char_index(ord(char)) == 0:
                width = 1.0
            else:
                glyph = font.load_char(ord(char), flags=ft2font.LoadFlags.NO_HINTING)
                width = glyph.linearHoriAdvance / 65536 / 72
        _advances[key] = width
    return width


@functools.lru_cache(maxsize=4096)  # a frame measures the same texts as the one before
def text_width(text: str, size: float, bold: bool = False) -> float:
    """How wide `text` is at `size` points, in inches (the widest of its lines; kerning not counted)."""
    return max((sum(_advance(char, bold) for char in line) for line in text.split("\n")), default=0.0) * size / 72


_BREAKS = (" · ", ": ", " (", " ")
"""Where a line may break, best first: between the parts of a stats line, after a colon, before a
parenthesis, at a space."""


def wrap(text: str, width: float, size: float, bold: bool = False) -> tuple[str, ...]:
    """`text` broken into lines no wider than `width` inches at `size` points."""
    if not text or text_width(text, size, bold) <= width:
        return (text,)
    return tuple(_wrap(text, width, size, bold, 0))


def _wrap(text: str, width: float, size: float, bold: bool, level: int) -> list[str]:
    if text_width(text, size, bold) <= width:
        return [text]
    if level == len(_BREAKS):  # one word wider than the room: break it anywhere
        lines, line = [], ""
        for char in text:
            if line and text_width(line + char, size, bold) > width:
                lines.append(line)
                line = ""
            line += char
        return [*lines, line]
    separator = _BREAKS[level]
    if separator == " (":
        pieces, joint = re.split(r" (?=\()", text), " "
    elif separator == ": ":
        pieces, joint = re.split(r"(?<=:) ", text), " "
    else:
        pieces, joint = text.split(separator), separator
    if len(pieces) == 1:
        return _wrap(text, width, size, bold, level + 1)
    lines = []
    line = ""
    for piece in pieces:
        candidate = f"{line}{joint}{piece}" if line else piece
        if line and text_width(candidate, size, bold) > width:
            lines.extend(_wrap(line, width, size, bold, level + 1))
            line = piece
        else:
            line = candidate
    lines.extend(_wrap(line, width, size, bold, level + 1))
    return lines


# --- the scene ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LegendEntry:
    label: str
    color: str
    style: str
    """``"task"``, ``"running"``, ``"waiting"`` (with `hatch`) or ``"marker"`` (with `marker`)."""
    hatch: str = ""
    marker: str = ""
    state: State | None = None
    text: str = ""
    """The label before it was wrapped to fit (empty: the same as `label`)."""
    colors: tuple[str, ...] = ()
    """For a state: the colours of the tasks drawn in it, as stripes of its swatch, drawn as their bars
    are (solid while running; light and hatched while waiting), so the swatch looks like the bars."""


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


SERIES_ROW_IN = 0.9
"""Height of one watched number's strip, in inches."""

LINE = 1.25
"""Height of a line of text, in font sizes."""
LEGEND_ROW = 1.7
"""Height of a row of the legend, in font sizes (the text, and matplotlib's label spacing)."""
LEGEND_HANDLE = 1.4
"""A legend swatch's width, in font sizes; then `LEGEND_TEXT_PAD` before its label."""
LEGEND_TEXT_PAD = 0.8
LEGEND_COLUMN_GAP = 1.0
LEGEND_BORDER = 0.4
LABEL_MARGIN_IN = 0.25
"""Room left of the lane labels and between them and the axis, in inches."""
RIGHT_MARGIN_IN = 0.2
RIGHT_LEGEND_SHARE = 0.22
"""A legend to the right takes at most this share of the figure's width: longer labels wrap."""


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
"""Without the sampler (macOS): other programs using more than a quarter of one core, on average, get a
warning, as nothing tells whether our tasks waited for them."""


def others_warning(timeline: Timeline, short: bool = False) -> str:
    """A warning in Portuguese when other programs took cores that our runnable tasks wanted (they
    waited "pronta" for them: `Timeline.others_delay`), else ``""``. Programs that only wait, or
    that keep a core free, get none: JupyterLab and the browser are always busy."""
    delay = timeline.others_delay
    if delay is not None:
        delay = noticeable_delay(timeline)
        if not delay:
            return ""
        waited = format_seconds(delay, 1 if delay >= 1 else 2)
        head = f"⚠ outros programas ocuparam os núcleos: as tarefas esperaram a vez por {waited}"
        return head if short else f"{head}, e os tempos medidos ficaram maiores do que numa máquina livre"
    share = timeline.others_cpu_share
    if share is None or share * timeline.cores <= OTHERS_LIMIT_CORES:
        return ""
    head = f"⚠ outros programas usaram {br(share * 100, 0)} % da CPU"
    if short:
        return head
    return (f"{head} durante a gravação (cerca de {br(share * timeline.cores, 1)} núcleo): "
            "os tempos medidos podem ficar maiores do que numa máquina livre")


def stats_line(timeline: Timeline, live: bool, ideal: bool = True) -> str:
    """``tempo total: 4,01 s · ideal: 4,00 s · 2 núcleos`` (without the ideal time when `ideal` is False)."""
    head = "gravando… tempo até agora" if live else "tempo total"
    parts = [f"{head}: {format_seconds(timeline.makespan)}"]
    if ideal:
        parts.append(f"ideal: {format_seconds(timeline.ideal_time)}")
    parts.append(plural(timeline.cores, "núcleo") + ("" if timeline.gil_enabled else " · sem GIL"))
    return " · ".join(parts)


def prediction_line(predicted: float, measured: float | None) -> str:
    """``previsto 6,00 s · medido 4,01 s · 1,99 s a mais`` (only the prediction while still recording)."""
    if measured is None:
        return f"previsto {format_seconds(predicted)}"
    difference = predicted - measured
    if abs(difference) < 0.005:
        reading = "igual ao medido"
    else:
        reading = f"{format_seconds(abs(difference))} a {'mais' if difference > 0 else 'menos'}"
    return f"previsto {format_seconds(predicted)} · medido {format_seconds(measured)} · {reading}"


@dataclass(frozen=True)
class _Texts:
    """What a layout has to fit, before any size is known."""

    title: str | None
    logical_header: tuple[str, ...]
    header_size: float
    lanes: tuple[str, ...]
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
    n_lanes = max(len(texts.lanes), 1)
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
) -> Scene:
    """The layout of `timeline` (see the module docstring). Bad options raise here, clearly.

    `ideal`: write the ideal time in the stats line (leave it out where it means nothing, as for
    locks and queues). `prediction`: the student's predicted total, in seconds, drawn as a dashed
    line on the time axis and compared with the measured total.
    `colour_names`: the tasks of several runs drawn together (`plot_stacked`), so that
    each name gets one colour in all of them and two names never share one; `text_left`:
    inches left of their common time axis, at least (the widest of their lane labels).
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
    c = timeline.columns
    live = timeline.live
    used_lanes = sorted(set(c.lane.tolist()))  # a timeline numbers its lanes in the order to draw them
    lane_pos = {lane: i for i, lane in enumerate(used_lanes)}
    lanes = tuple(shown(timeline.labels[i]) for i in used_lanes)
    used_names = list(dict.fromkeys(c.name.tolist()))
    name_pos = {name: i for i, name in enumerate(used_names)}
    raw_names = [timeline.names[i] for i in used_names]
    names = tuple(shown(name) for name in raw_names)
    everyone = list(dict.fromkeys([*colour_names, *raw_names]))
    colour_of = dict(zip(everyone, task_colors(everyone, th.palette)))
    colors = tuple(colour_of[name] for name in raw_names)
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

    t_end = axis_end(timeline) if live else max(timeline.makespan, float(c.end.max()) if n else 0.0)
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
    if not timeline.sampled and n:
        notes.append("sem amostras do sistema aqui: rodando e esperando vêm só do que as tarefas anotaram")
    notes.extend(timeline.lost)  # spans a worker could not keep (a full disk): said under the title
    logical = [stats]
    if predicted is not None:
        logical.append(prediction_line(predicted, None if live else timeline.makespan))
    title_text = shown(title) if title else None
    texts = _Texts(
        title=title_text, logical_header=(*logical, *notes),
        header_size=th.font_size if title_text else th.title_size * 0.85, lanes=lanes,
        legend=tuple(_legend_entries(c.status, c.seg_state, c.seg_end - c.seg_start, seg_task, names, colors, hatch,
                                     pixel, th)),
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
    labels: list[tuple[float, int, str]] = []
    label_size = 0.0
    if th.bar_labels and 0 < n <= th.max_bar_labels:
        sec_per_in = t_end * 1.01 / layout.axis_width
        lane_in = layout.lanes_height / max(len(lanes), 1) * th.bar_fill
        label_size = min(th.bar_label_size, lane_in * 72 * 0.7)
        if label_size >= th.min_font_size:
            for i in range(n):
                name = names[task_of[i]]
                text_in = text_width(name, label_size) + label_size / 72
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
        shaded = layout.cpu_height * th.dpi / max(n_cores, 1) < CPU_AREA_MIN_PX
        heading = CPU_TITLE_SHADED if shaded else CPU_TITLE_OURS if ours is not None else CPU_TITLE
        strip = CpuStrip(edges, busy, ours, n_cores, "\n".join(wrap(heading, layout.axis_width, th.small_size)),
                         shaded)

    prediction_label = "" if predicted is None else f"sua previsão: {format_seconds(predicted)}"
    # the label goes on the side of its line with more room
    prediction_side = "left" if predicted is not None and predicted / (t_end * 1.01) > 0.5 else "right"

    return Scene(
        theme=th, title=title_text, stats=stats, live=live, now=timeline.makespan, t_end=t_end,
        lanes=lanes, task_names=names, colors=colors, light_colors=light,
        start=c.start, end=c.end, lane=lane_of, task=task_of, status=c.status,
        seg_start=c.seg_start, seg_end=c.seg_end, seg_lane=seg_lane, seg_task=seg_task, seg_state=c.seg_state,
        hatch=hatch, legend=layout.legend, cpu=strip, series=layout.series,
        empty_message=None if n else "nenhuma tarefa gravada (ainda)",
        notes=tuple(notes), width=layout.width, height=layout.height, lanes_height=layout.lanes_height,
        cpu_height=layout.cpu_height, series_height=layout.series_height,
        lane_font=layout.lane_font, label_every=layout.label_every, bar_labels=tuple(labels),
        bar_label_size=label_size, title_lines=layout.title_lines, header=layout.header,
        header_size=texts.header_size, clock=br(timeline.makespan), prediction=predicted,
        prediction_label=prediction_label, prediction_side=prediction_side, legend_columns=layout.legend_columns,
        text_left=layout.text_left, cpu_label_font=layout.cpu_label_font,
    )


def _legend_entries(status: np.ndarray, seg_state: np.ndarray, seg_length: np.ndarray, seg_task: np.ndarray,
                    names: Sequence[str], colors: Sequence[str], hatch: bool, pixel: float,
                    th: Theme) -> list[LegendEntry]:
    """The tasks, then each state the figure draws (its swatch in the colours of the tasks drawn in
    it), then the markers of failed, interrupted and unfinished tasks: only what is drawn.

    A running slice is drawn at least a hairline wide; a reason to wait that adds up to less than
    a `pixel` (seconds) is not seen, and is not in the legend (nor is a task that waited so little
    in the colours of its swatch).
    """
    legend = [LegendEntry(name, color, "task") for name, color in zip(names, colors)]
    gray = "#6E6E6E"
    for state in STATE_WORDS:
        code = STATES.index(state)
        pick = seg_state == code
        per_task = np.bincount(seg_task[pick], weights=seg_length[pick], minlength=len(names))
        least = 0.0 if state == State.RUNNING else pixel
        if not pick.any() or per_task.sum() < least:
            continue
        seen = np.flatnonzero(per_task >= least) if (per_task >= least).any() else [int(per_task.argmax())]
        tasks = [int(t) for t in seen][:SWATCH_COLOURS]
        if state == State.RUNNING:
            legend.append(LegendEntry(STATE_WORDS[state], gray, "running", state=state,
                                      colors=tuple(colors[t] for t in tasks)))
        else:
            legend.append(LegendEntry(STATE_WORDS[state], gray, "waiting", hatch_of(state, th) if hatch else "",
                                      state=state, colors=tuple(colors[t] for t in tasks)))
    marker_of = {Status.ERROR: ("X", th.error_color), Status.INTERRUPTED: ("s", th.interrupted_color),
                 Status.RUNNING: (">", th.text_color)}
    statuses = {STATUSES[code] for code in np.unique(status).tolist()}
    for kind in MARKED:
        if kind in statuses:
            marker, color = marker_of[kind]
            legend.append(LegendEntry(STATUS_LABELS[kind], color, "marker", marker=marker))
    return legend


def legend_layout(legend: Sequence[LegendEntry], width: float,
                  th: Theme) -> tuple[list[LegendEntry], float, int, float]:
    """How the legend fits a figure `width` inches wide: the entries with their labels wrapped, the
    width of a legend to the right, and, for a legend under the figure, its columns and height.

    Under the figure, matplotlib fills the columns one after another; the columns and line
    breaks chosen are those that make the legend lowest.
    """
    font = th.font_size
    entry_pad = (LEGEND_HANDLE + LEGEND_TEXT_PAD) * font / 72
    if th.legend == "right":
        entries = [_wrapped(entry, width * RIGHT_LEGEND_SHARE - entry_pad, font) for entry in legend]
        right_width = max((text_width(e.label, font) for e in entries), default=0.0) + entry_pad + \
            (2 * LEGEND_BORDER + 1.0) * font / 72
        return entries, right_width, 1, _legend_height(entries, 1, font)
    best: tuple[float, int, list[LegendEntry]] | None = None
    room = width * 0.96 - 2 * LEGEND_BORDER * font / 72
    for ncols in range(1, min(len(legend), 6) + 1):
        column = (room - (ncols - 1) * LEGEND_COLUMN_GAP * font / 72) / ncols - entry_pad
        if column <= 0:
            break
        wrapped = [wrap(entry.text or entry.label, column, font) for entry in legend]
        if any(len(lines) > 3 or text_width("\n".join(lines), font) > column for lines in wrapped):
            continue
        entries = [replace(entry, text=entry.text or entry.label, label="\n".join(lines))
                   for entry, lines in zip(legend, wrapped)]
        height = _legend_height(entries, ncols, font)
        # a label on two lines reads worse than one: it must save more than its own extra line
        score = height + sum(len(lines) - 1 for lines in wrapped) * LINE * font / 72
        if best is None or score < best[0] - 1e-9:
            best = (score, ncols, entries)
    if best is None:  # nothing fits well: one column, wrapped to the figure's width
        entries = [_wrapped(entry, room - entry_pad, font) for entry in legend]
        best = (_legend_height(entries, 1, font), 1, entries)
    _, columns, entries = best
    return entries, 0.0, columns, _legend_height(entries, columns, font)


def _wrapped(entry: LegendEntry, width: float, size: float) -> LegendEntry:
    text = entry.text or entry.label
    return replace(entry, text=text, label="\n".join(wrap(text, width, size)))


def _legend_height(entries: Sequence[LegendEntry], columns: int, font: float) -> float:
    """Inches: the tallest column (matplotlib stacks each column's entries on their own)."""
    if not entries:
        return 0.0
    rows = math.ceil(len(entries) / columns)
    heights = [sum((entry.label.count("\n") * LINE + LEGEND_ROW) for entry in entries[k:k + rows])
               for k in range(0, len(entries), rows)]
    return max(heights) * font / 72


def _series_strips(timeline: Timeline) -> tuple[SeriesStrip, ...]:
    strips = []
    for watched in getattr(timeline, "series", ()):
        times = np.asarray(watched.times, dtype=float)
        values = np.asarray(watched.values, dtype=float)
        top = nice_ceiling(float(values.max())) if len(values) and values.max() > 0 else 1.0
        strips.append(SeriesStrip(watched.name, times, values, top, shown(watched.name)))
    return tuple(strips)


def scene_options(options: Mapping[str, Any], keep: Iterable[str] = ("title", "theme", "cpu", "series", "ideal",
                                                                       "prediction")) -> dict[str, Any]:
    """The plot options that shape a scene (what the live frames take from ``timeline.plot``'s)."""
    return {name: options[name] for name in keep if name in options}
