"""Drawing a `Timeline` with matplotlib: the `Scene` (`conctutor.render.scene`) as a figure.

    fig = plot_timeline(timeline)                 # what `timeline.plot()` does
    fig = timeline.plot(theme="projetor", title="Threads")
    use_theme("projetor")                         # every later figure

One lane per worker, one colour per task (Okabe–Ito palette, safe for
colour-blind readers). A task is solid while it ran on a CPU and light while
it waited, hatched by why it waited (E/S, bloqueada, GIL, pronta; plain for
"esperando"). Failed, interrupted and still-running tasks carry a marker.
Under the lanes, on the same time axis, one row per CPU core shows how busy
it was, this program's part darker.

Everything is drawn with a handful of matplotlib collections, never one
artist per span, so 100 000 spans draw in about a second. Neighbouring
pieces narrower than a fraction of a pixel are merged before drawing.
"""

from __future__ import annotations

import io
import math
import numbers
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib import patheffects, rcParams, ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import LinearSegmentedColormap, to_rgba
from matplotlib.figure import Figure, SubFigure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.legend_handler import HandlerBase
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from ..engine.model import RUNNING_STATE, STATES, STATUSES, State, Status
from .colours import lighten
from .geometry import merge as _merge
from .geometry import rects as _rects
from .legend import LEGEND_COLUMN_GAP, LEGEND_HANDLE, LEGEND_TEXT_PAD, SWATCH_COLOURS, LegendEntry, legend_layout
from .marks import MARK_STYLES
from .options import MAX_FIGSIZE, check_options, check_prediction
from .scene import DONE_COLOR, Scene, SeriesStrip, build_scene
from .themes import THEMES, Theme, get_theme, hatch_of, use_theme

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ..engine.timeline import Timeline

__all__ = ["THEMES", "Theme", "draw_scene", "get_theme", "plot_stacked", "plot_timeline", "use_theme"]

# --- small helpers ---------------------------------------------------------------

LITERAL: dict[str, Any] = {"parse_math": False, "usetex": False}
"""Every text is drawn as written: a ``$`` in a name is a dollar sign, never the start of TeX."""


class _CommaFormatter(ticker.ScalarFormatter):
    """Tick labels with a decimal comma (0,5 instead of 0.5)."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        return super().__call__(x, pos).replace(".", ",")

    def get_offset(self) -> str:
        return super().get_offset().replace(".", ",")


# --- the figure ----------------------------------------------------------------


class TimelineFigure(Figure):
    """A matplotlib `Figure` that Jupyter shows as a PNG when it is a cell's value.

    It is not registered with pyplot, so it is shown exactly once (when it is
    the last value of a cell, or with ``display(fig)``) and never piles up in
    pyplot's list of open figures. Save it with ``fig.savefig("linha.png")``.
    """

    def _repr_png_(self) -> bytes:
        # With a layout engine, savefig draws twice (once to lay the figure out, once for real):
        # lay it out here, draw once without the engine, then give the engine back.
        engine = self.get_layout_engine()
        detach = isinstance(engine, ConstrainedLayoutEngine) and not (
            rcParams["figure.autolayout"] or rcParams["figure.constrained_layout.use"])
        if detach:
            assert engine is not None
            engine.execute(self)
            self.set_layout_engine(None)  # with those rcParams off: no engine at all
        buffer = io.BytesIO()
        try:
            self.savefig(buffer, format="png", dpi=self.dpi, facecolor=self.get_facecolor())
        finally:
            if detach:
                self.set_layout_engine(engine)
        return buffer.getvalue()


def plot_timeline(
    timeline: Timeline,
    *,
    title: str | None = None,
    theme: str | Theme | None = None,
    figsize: tuple[float, float] | None = None,
    fig: Figure | SubFigure | None = None,
    cpu: bool = True,
    series: bool = True,
    ideal: bool = True,
    prediction: float | None = None,
    lanes: str = "auto",
    marks: Any = None,
    **unknown: Any,
) -> Figure:
    """Draw `timeline` as one lane per worker, with per-core CPU use below.

    title:      a heading for the figure (the total time is always written).
    theme:      ``"padrao"``, ``"projetor"`` or a `Theme`; default: the one set with `use_theme`.
    figsize:    (width, height) in inches; by default the width comes from the
                theme and the height grows with the number of lanes, up to a cap.
    fig:        draw into this matplotlib `Figure` or `SubFigure` (e.g. one of
                ``fig.subfigures(1, 2)`` to put two runs side by side) instead of
                a new figure.
    cpu:        draw the per-core CPU strip (when the timeline has samples).
    series:     draw the numbers watched with ``record(watch=...)`` under the lanes.
    ideal:      write the ideal time beside the total (``False`` where it means
                nothing, as for locks and queues).
    prediction: the total time the student predicted, in seconds: drawn as a
                dashed line on the time axis, and compared with the measured total.
    lanes:      ``"auto"``: more lanes than a figure shows (over 100) are folded
                into bands, one per thread for its asyncio tasks, one per process
                for its threads (`conctutor.render.folding`); ``"all"``: every lane.
    marks:      instants measured on threads, ``(time, thread_id, label)`` each
                (`conctutor.render.marks`), drawn as symbols on the top edge of
                their thread's lane, one symbol per label, named in the legend.

    Works for a snapshot taken while the recording still runs and for an
    empty timeline. Bad options raise a clear error before anything is drawn.
    Returns the figure.
    """
    check_options(unknown)
    if fig is not None and not isinstance(fig, (Figure, SubFigure)):
        raise TypeError(f"fig deve ser uma Figure ou SubFigure do matplotlib; recebido {type(fig).__name__}")
    if hasattr(timeline, "snapshot"):  # what record() yields: draw one snapshot of it
        timeline = timeline.snapshot()
    if fig is not None:
        root = fig.figure if isinstance(fig, SubFigure) else fig
        figsize = (fig.bbox.width / root.dpi, fig.bbox.height / root.dpi)
    scene = build_scene(timeline, title=title, theme=theme, figsize=figsize, cpu=cpu, series=series, ideal=ideal,
                        prediction=prediction, lanes=lanes, marks=marks)
    return draw_scene(scene, fig)


STACKED_OPTIONS = ("theme", "cpu", "width", "ideal", "predictions")


def plot_stacked(
    timelines: Mapping[str, Timeline],
    *,
    theme: str | Theme | None = None,
    cpu: bool = False,
    width: float | None = None,
    ideal: bool = True,
    predictions: Mapping[str, float] | None = None,
    **unknown: Any,
) -> Figure:
    """Several runs one above the other, on one time axis: ``{"título": timeline, ...}``.

    Each run keeps its own lanes, stats line and (with ``cpu=True``) CPU
    strip; a task has the same colour in every run. The axes all end at the
    longest run, so lengths compare by eye. `ideal` as in `plot_timeline`;
    `predictions`: the student's predicted total of some of the runs, by title
    (``{"threads": 4, "processos": 2}``), each drawn on its run.
    """
    check_options(unknown, "plot_stacked()", STACKED_OPTIONS)
    if not isinstance(timelines, Mapping) or not timelines:
        raise TypeError("plot_stacked recebe um dicionário não vazio de título → linha do tempo, "
                        "como {'threads': t1, 'processos': t2}")
    runs = {}
    for title, timeline in timelines.items():
        if hasattr(timeline, "snapshot"):
            timeline = timeline.snapshot()
        if not hasattr(timeline, "columns"):
            raise TypeError(f"{title!r}: esperava uma linha do tempo (o que record() devolve); "
                            f"recebido {type(timeline).__name__}")
        runs[str(title)] = timeline
    predicted = _check_predictions(predictions, list(runs))
    th = get_theme(theme)
    if width is not None:
        allowed = f"width deve ser a largura da figura em polegadas, de 0 a {MAX_FIGSIZE:g} (sem incluir 0)"
        if isinstance(width, bool) or not isinstance(width, numbers.Real):
            raise TypeError(f"{allowed}; recebido {type(width).__name__}: {width!r}")
        if not 0 < width <= MAX_FIGSIZE:  # NaN fails this too
            raise ValueError(f"{allowed}; recebido {width!r}")
        th = replace(th, figure_width=float(width))
    figure_width = th.figure_width
    longest = max(max(t.makespan, float(t.columns.end.max()) if len(t) else 0.0) for t in runs.values())
    longest = max([longest, *predicted.values()])
    names = list(dict.fromkeys(name for t in runs.values() for name in t.names))

    def scenes_from(text_left: float) -> list[Scene]:
        return [build_scene(t, title=title, theme=th, cpu=cpu, ideal=ideal, prediction=predicted.get(title),
                            axis_until=longest, colour_names=names, text_left=text_left)
                for title, t in runs.items()]

    scenes = scenes_from(0.0)
    # every run's time axis starts where the widest lane labels end: lay their texts out for that
    widest = max(scene.text_left for scene in scenes)
    if any(scene.text_left < widest for scene in scenes):
        scenes = scenes_from(widest)
    heights = [scene.height for scene in scenes]
    root = TimelineFigure(figsize=(figure_width, sum(heights)), dpi=th.dpi, facecolor=th.background)
    FigureCanvasAgg(root)
    root.set_layout_engine("constrained")
    subfigures = root.subfigures(len(scenes), 1, height_ratios=heights, squeeze=False)[:, 0]
    t_end = max(scene.t_end for scene in scenes)
    for subfigure, scene in zip(subfigures, scenes):
        draw_scene(scene, subfigure, legend=False)
        for ax in subfigure.axes:
            ax.set_xlim(0, t_end * 1.01)
    # one legend for all the runs: every entry any of them needs, once, with the colours of all
    merged: dict[tuple[str, str], LegendEntry] = {}
    for scene in scenes:
        for entry in scene.legend:
            key = (entry.style, entry.text or entry.label)
            if key in merged:
                colours = tuple(dict.fromkeys((*merged[key].colors, *entry.colors)))[:SWATCH_COLOURS]
                entry = replace(merged[key], colors=colours)
            merged[key] = entry
    order = {"task": 0, "running": 1, "waiting": 2, "marker": 3}
    entries, _, columns, _ = legend_layout(sorted(merged.values(), key=lambda entry: order.get(entry.style, 4)),
                                        figure_width, th)
    _legend(root, replace(scenes[0], legend=tuple(entries), legend_columns=columns))
    # Lane labels differ in width, so each run's axes start elsewhere: lay the figure out once,
    # then freeze it with every time axis between the same left and right edges.
    engine = root.get_layout_engine()
    assert engine is not None
    engine.execute(root)
    axes = [ax for subfigure in subfigures for ax in subfigure.axes]
    left = max(ax.get_position().x0 for ax in axes)
    right = min(ax.get_position().x1 for ax in axes)
    # no engine at all from now on (not even a placeholder, which makes savefig draw twice)
    root.set_layout_engine(None if not (rcParams["figure.autolayout"] or rcParams["figure.constrained_layout.use"])
                           else "none")
    for ax in axes:
        box = ax.get_position()
        ax.set_position((left, box.y0, right - left, box.height))
    return root


def _check_predictions(predictions: object, titles: list[str]) -> dict[str, float]:
    """``{title: seconds}`` for runs of `titles`, or a clear error."""
    if predictions is None:
        return {}
    if not isinstance(predictions, Mapping):
        raise TypeError(f"predictions deve ser um dicionário de título → segundos previstos, como "
                        f"{{{titles[0]!r}: 4.0}}; recebido {type(predictions).__name__}")
    checked = {}
    for title, seconds in predictions.items():
        if str(title) not in titles:
            raise ValueError(f"predictions: não há execução com o título {title!r}; os títulos são: "
                             f"{', '.join(repr(t) for t in titles)}")
        checked[str(title)] = check_prediction(seconds, f"a previsão de {title!r}")
    return checked


def draw_scene(scene: Scene, fig: Figure | SubFigure | None = None, legend: bool = True) -> Figure:
    """Draw a `Scene` into a new `TimelineFigure`, or into `fig` (with its legend unless told not to)."""
    th = scene.theme
    figure: Figure | SubFigure
    root: Figure
    if fig is None:
        root = figure = TimelineFigure(figsize=(scene.width, scene.height), dpi=th.dpi, facecolor=th.background)
        FigureCanvasAgg(root)  # so fig.canvas.draw() renders, with no pyplot involved
        root.set_layout_engine("constrained")
    else:
        figure = fig
        root = fig if isinstance(fig, Figure) else fig.figure
        if root.get_layout_engine() is None:
            root.set_layout_engine("constrained")

    # lanes on top, then one strip per watched number, then the CPU strip
    heights = [scene.lanes_height] + [scene.series_height / max(len(scene.series), 1)] * len(scene.series)
    if scene.cpu is not None:
        heights.append(scene.cpu_height)
    if len(heights) > 1:
        axes = list(figure.subplots(len(heights), 1, sharex=True,
                                    gridspec_kw={"height_ratios": [max(h, 1e-3) for h in heights]}))
    else:
        axes = [figure.subplots(1, 1)]
    for a in axes:
        a.set_facecolor(th.background)
        a.tick_params(labelsize=th.tick_size, colors=th.text_color)
        for side in a.spines.values():
            side.set_color(th.text_color)
    ax = axes[0]
    _draw_lanes(ax, scene)
    ax.set_xlim(0, scene.t_end * 1.01)
    for a, strip in zip(axes[1:], scene.series):
        _draw_series(a, strip, scene)
    if scene.cpu is not None:
        _draw_cpu(axes[-1], scene)
    for a in axes[:-1]:
        a.tick_params(labelbottom=False)
    bottom = axes[-1]
    bottom.set_xlabel("tempo (s)", fontsize=th.font_size, color=th.text_color, **LITERAL)
    bottom.xaxis.set_major_formatter(_CommaFormatter())

    if scene.title_lines:
        figure.suptitle("\n".join(scene.title_lines), fontsize=th.title_size, fontweight="bold",
                        color=th.text_color, **LITERAL)
    pad = 6.0
    if scene.prediction is not None:
        pad += _draw_prediction(ax, scene)
    ax.set_title("\n".join(scene.header), fontsize=scene.header_size, color=th.text_color, loc="left", pad=pad,
                 **LITERAL)
    if scene.empty_message:
        ax.text(0.5, 0.5, scene.empty_message, transform=ax.transAxes, ha="center", va="center",
                fontsize=th.font_size, color=th.text_color, style="italic", **LITERAL)
    if legend:
        _legend(figure, scene)
    return figure if isinstance(figure, Figure) else root


def _draw_prediction(ax: Axes, scene: Scene) -> float:
    """The predicted total: a dashed line across the lanes, its label just above them.

    Returns the points the label takes above the lanes (the stats line goes above it).
    """
    th = scene.theme
    assert scene.prediction is not None
    ax.axvline(scene.prediction, color=th.text_color, linestyle=(0, (5, 3)), linewidth=max(1.5, th.edge_width * 1.2),
               zorder=7)
    gap = th.small_size * 0.3
    ax.annotate(scene.prediction_label, (scene.prediction, 1.0), xycoords=("data", "axes fraction"),
                xytext=(-gap if scene.prediction_side == "left" else gap, 2), textcoords="offset points",
                ha="right" if scene.prediction_side == "left" else "left", va="bottom", fontsize=th.small_size,
                color=th.text_color, annotation_clip=False, **LITERAL)
    return th.small_size * 1.25


def _draw_lanes(ax: Axes, scene: Scene) -> None:
    th = scene.theme
    n_lanes = scene.n_lanes
    half = th.bar_fill / 2
    n = len(scene.start)
    # A pixel is about this many seconds; pieces closer than a fraction of it merge.
    px = scene.t_end / max(scene.width * 0.75 * th.dpi, 100)
    many = n > 2000
    edge = th.edge_width if n <= 400 else 0.0
    seg_running = scene.seg_state == RUNNING_STATE
    for ti, color in enumerate(scene.colors):
        sel = scene.task == ti
        starts, ends, lanes = scene.start[sel], scene.end[sel], scene.lane[sel]
        if many:
            starts, ends, lanes = _merge(starts, ends, lanes, px * 0.25)
        ax.add_collection(PolyCollection(
            _rects(starts, ends, lanes, half), facecolors=[scene.light_colors[ti]],
            edgecolors=[color] if edge else "none", linewidths=edge, zorder=2,
        ), autolim=False)
        in_task = scene.seg_task == ti
        if scene.hatch:
            for code, state in enumerate(STATES):
                pattern = hatch_of(state, th) if state != State.RUNNING else ""
                if not pattern:
                    continue
                pick = in_task & (scene.seg_state == code)
                if pick.any():
                    ax.add_collection(PolyCollection(
                        _rects(scene.seg_start[pick], scene.seg_end[pick], scene.seg_lane[pick], half),
                        facecolors="none", edgecolors=[lighten(color, 0.15)], linewidths=0, hatch=pattern,
                        zorder=2.5,
                    ), autolim=False)
        pick = in_task & seg_running
        rs, re_, rl = scene.seg_start[pick], scene.seg_end[pick], scene.seg_lane[pick]
        if len(rs) > 200:
            rs, re_, rl = _merge(rs, re_, rl, px * 0.25)
        if len(rs):
            # at least a hairline, so a slice of a few microseconds still shows
            re_ = np.maximum(re_, rs + px * 0.5)
            ax.add_collection(PolyCollection(_rects(rs, re_, rl, half), facecolors=[color], edgecolors="none",
                                             linewidths=0, zorder=3), autolim=False)
    if 0 < n <= 400:
        # a visible boundary where one span follows another in the same lane
        ax.add_collection(LineCollection(
            [((s, lane - half), (s, lane + half)) for s, lane in zip(scene.start.tolist(), scene.lane.tolist())],
            colors=[th.background], linewidths=max(1.0, edge * 1.5), zorder=3.5,
        ), autolim=False)

    status = scene.status
    marker_size = min(th.marker_size, max(3.0, scene.lanes_height * 72 / n_lanes * 0.8))
    for kind, color, style, marker in (
        (Status.ERROR, th.error_color, "solid", "X"),
        (Status.INTERRUPTED, th.interrupted_color, (0, (3, 2)), "s"),
        (Status.RUNNING, th.text_color, "dotted", ">"),
    ):
        sel = status == STATUSES.index(kind)
        if not sel.any():
            continue
        starts, ends, lanes = scene.start[sel], scene.end[sel], scene.lane[sel]
        if len(starts) > 500:  # thousands of failures: outline the blocks they form
            starts, ends, lanes = _merge(starts, ends, lanes, px * 2)
        ax.add_collection(PolyCollection(
            _rects(starts, ends, lanes, half), facecolors="none", edgecolors=[color], linewidths=th.status_width,
            linestyles=style, zorder=4,
        ), autolim=False)
        ax.scatter(ends, lanes, marker=marker, s=marker_size ** 2, c=[color], edgecolors="white",
                   linewidths=max(0.8, th.status_width * 0.4), zorder=5, clip_on=False)

    for k, (marker, colour) in enumerate(MARK_STYLES):
        sel = scene.mark_kind == k
        if sel.any():
            ax.scatter(scene.mark_time[sel], scene.mark_lane[sel] - half, marker=marker, s=(marker_size * 0.8) ** 2,
                       c=[getattr(th, colour)], edgecolors="white", linewidths=0.6, zorder=5.5, clip_on=False)

    for x, lane, text in scene.bar_labels:
        size = scene.bar_label_size
        ax.text(x, lane, text, ha="center", va="center", fontsize=size, color=th.text_color, zorder=6, clip_on=True,
                path_effects=[patheffects.withStroke(linewidth=max(2.0, size / 4), foreground="white")], **LITERAL)
    _draw_bands(ax, scene)

    ax.set_ylim(n_lanes - 0.5, -0.5)  # first lane on top
    # a tick only where a label is written: ten thousand ticks cost matplotlib seconds
    centres = scene.row_centre if len(scene.row_centre) == len(scene.lanes) else np.arange(len(scene.lanes))
    shown_rows = range(0, len(scene.lanes), scene.label_every)
    ax.set_yticks([float(centres[i]) for i in shown_rows])
    ax.set_yticklabels([scene.lanes[i] for i in shown_rows], fontsize=scene.lane_font, color=th.text_color,
                       **LITERAL)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color=th.grid_color, linewidth=0.8, zorder=0)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _steps(edges: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A step line through `values`, each holding between two `edges`: its x and y."""
    return np.repeat(edges, 2)[1:-1], np.repeat(values, 2)


def _draw_bands(ax: Axes, scene: Scene) -> None:
    """Each band of folded lanes: from its bottom up, how many of its tasks ran, waited (by reason,
    light and hatched as a bar's waits) and had ended, as stacked areas filling its height."""
    th = scene.theme
    by_style: dict[str, tuple[list[np.ndarray], list[str], list[Any]]] = {}
    for band in scene.bands:
        bottom = band.centre + band.half - (1 - th.bar_fill) / 2  # the gap a lane leaves between bars
        height = 2 * (bottom - band.centre)
        scale = height / max(band.total, 1)
        layers = [(band.states[RUNNING_STATE], band.color, "")]
        layers += [(band.states[code], band.light, hatch_of(STATES[code], th) if scene.hatch else "")
                   for code in range(len(STATES)) if code != RUNNING_STATE and band.states[code].any()]
        layers.append((band.done, DONE_COLOR, ""))
        below = np.zeros(len(band.edges) - 1)
        for values, colour, pattern in layers:
            above = below + values
            x, low = _steps(band.edges, bottom - below * scale)
            _, high = _steps(band.edges, bottom - above * scale)
            polygon = np.column_stack((np.concatenate((x, x[::-1])), np.concatenate((high, low[::-1]))))
            polygons, faces, edges = by_style.setdefault(pattern, ([], [], []))
            polygons.append(polygon)
            faces.append(colour)
            edges.append(lighten(band.color, 0.15) if pattern else "none")
            below = above
        # the band's frame: all its tasks
        ax.add_collection(PolyCollection(_rects(np.array([band.edges[0]]), np.array([band.edges[-1]]),
                                                np.array([band.centre]), bottom - band.centre),
                                         facecolors="none", edgecolors=[band.color], linewidths=0.8, zorder=3.5),
                          autolim=False)
    for pattern, (polygons, faces, edges) in by_style.items():
        ax.add_collection(PolyCollection(polygons, facecolors=faces, edgecolors=edges, linewidths=0,
                                         hatch=pattern or None, zorder=2.5), autolim=False)


def _draw_series(ax: Axes, strip: SeriesStrip, scene: Scene) -> None:
    """A watched number as a filled step line: its value holds until the next reading.

    The axis' top is always a tick, and a dot marks the last value: a change at the very end of
    the run (three results reaching a loop together, at its end) is a line at the axis' edge,
    which the dot, at its height, makes visible."""
    th = scene.theme
    ax.set_title(strip.title, fontsize=th.small_size, color=th.text_color, loc="left", pad=3, **LITERAL)
    ax.set_ylim(0, strip.top * 1.08)
    locator = ticker.MaxNLocator(3, integer=bool(np.all(strip.values == np.round(strip.values))))
    ticks = [float(t) for t in locator.tick_values(0, strip.top) if -1e-9 <= t <= strip.top * (1 + 1e-9)]
    if not ticks or not math.isclose(ticks[-1], strip.top):
        ticks = [0.0, strip.top]  # 0 and the top, rather than a grid that stops below the top
    ax.set_yticks(ticks)
    ax.yaxis.set_major_formatter(_CommaFormatter())
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="x", color=th.grid_color, linewidth=0.8, zorder=0)
    if not len(strip.times):
        return
    x = np.append(strip.times, max(scene.now, float(strip.times[-1])))
    y = np.append(strip.values, strip.values[-1])
    ax.fill_between(x, y, step="post", color=to_rgba(th.cpu_color, 0.25), linewidth=0)
    ax.step(x, y, where="post", color=th.cpu_color, linewidth=1.2)
    ax.plot(x[-1:], y[-1:], "o", color=th.cpu_color, markersize=5, clip_on=False, zorder=3)


def _draw_cpu(ax: Axes, scene: Scene) -> None:
    th = scene.theme
    strip = scene.cpu
    assert strip is not None
    n_cores = strip.cores
    height_in = scene.cpu_height
    ax.set_ylim(n_cores, 0)  # núcleo 0 on top
    label_font = scene.cpu_label_font
    every = max(1, math.ceil(label_font * 1.15 / max(height_in * 72 / max(n_cores, 1), 1e-9)))
    ticks = list(range(0, n_cores, every))
    ax.set_yticks([c + 0.5 for c in ticks])
    ax.set_yticklabels([f"núcleo {c}" for c in ticks], fontsize=label_font, color=th.text_color, **LITERAL)
    ax.tick_params(axis="y", length=0)
    ax.set_title(strip.title, fontsize=th.small_size, color=th.text_color, loc="left", pad=3, **LITERAL)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if len(strip.edges) < 2:
        ax.text(0.5, 0.5, "sem amostras de CPU (ainda)", transform=ax.transAxes, ha="center", va="center",
                fontsize=th.small_size, color=th.text_color, style="italic", **LITERAL)
        return
    edges = strip.edges
    if not strip.shaded:
        # one filled step area per core, 0–100 % of the row; this program's part darker
        x = np.repeat(edges, 2)[1:-1]
        fill = 0.85
        band = _rects(np.full(n_cores, edges[0]), np.full(n_cores, edges[-1]), np.arange(n_cores) + 1 - fill / 2,
                      fill / 2)
        ax.add_collection(PolyCollection(band, facecolors=[lighten(th.cpu_color, 0.9)], edgecolors="none"),
                          autolim=False)
        layers = [(strip.busy, 0.35 if strip.ours is not None else 0.75)]
        if strip.ours is not None:
            layers.append((strip.ours, 0.85))
        for values, alpha in layers:
            polys = []
            for core in range(min(n_cores, values.shape[1])):
                y = core + 1 - np.repeat(values[:, core], 2) * fill
                base = core + 1
                polys.append(np.column_stack((np.concatenate(([x[0]], x, [x[-1]])),
                                              np.concatenate(([base], y, [base])))))
            ax.add_collection(PolyCollection(polys, facecolors=[to_rgba(th.cpu_color, alpha)],
                                             edgecolors=[th.cpu_color], linewidths=0.6), autolim=False)
        ax.hlines(np.arange(1, n_cores + 1), edges[0], edges[-1], colors=th.grid_color, linewidths=0.6)
    else:
        # too many cores for areas: one shaded row per core, darker = busier
        cmap = LinearSegmentedColormap.from_list("ocupacao", ["#FFFFFF", th.cpu_color])
        ax.pcolormesh(edges, np.arange(n_cores + 1), strip.busy.T, cmap=cmap, vmin=0, vmax=1, shading="flat")


class _Swatch:
    """A legend handle for a state: stripes in the colours of the tasks drawn in it, as its bars look."""

    def __init__(self, entry: LegendEntry, theme: Theme) -> None:
        self.entry = entry
        self.theme = theme


class _SwatchHandler(HandlerBase):
    def create_artists(self, legend: Any, orig_handle: Any, xdescent: float, ydescent: float, width: float,
                       height: float, fontsize: float, trans: Any) -> list[Any]:
        entry, th = orig_handle.entry, orig_handle.theme
        colors = entry.colors or (entry.color,)
        stripe = width / len(colors)
        artists: list[Any] = []
        for k, color in enumerate(colors):
            corner = (-xdescent + k * stripe, -ydescent)
            if entry.style == "running":
                artists.append(Rectangle(corner, stripe, height, facecolor=color, edgecolor="none", transform=trans))
            else:  # light, hatched by the reason to wait, as a waiting bar
                artists.append(Rectangle(corner, stripe, height, facecolor=lighten(color, th.wait_lighten),
                                         edgecolor=lighten(color, 0.15), linewidth=0, hatch=entry.hatch or None,
                                         transform=trans))
        if entry.style == "waiting":
            artists.append(Rectangle((-xdescent, -ydescent), width, height, facecolor="none",
                                     edgecolor=entry.color, linewidth=0.6, transform=trans))
        return artists


def _legend(figure: Figure | SubFigure, scene: Scene) -> None:
    th = scene.theme
    handles: list[Any] = []
    for entry in scene.legend:
        if entry.style == "task":
            handles.append(Patch(facecolor=entry.color, edgecolor=entry.color))
        elif entry.style in ("running", "waiting"):
            handles.append(_Swatch(entry, th))
        else:
            handles.append(Line2D([], [], color=entry.color, marker=entry.marker, linestyle="none",
                                  markersize=th.font_size * 0.9, markeredgecolor="white"))
    labels = [entry.label for entry in scene.legend]
    options: dict[str, Any] = {"handler_map": {_Swatch: _SwatchHandler()}, "fontsize": th.font_size,
                               "frameon": False, "labelcolor": th.text_color}
    def make(**placement: Any) -> Any:
        legend = figure.legend(handles, labels, handlelength=LEGEND_HANDLE, handletextpad=LEGEND_TEXT_PAD,
                               **placement, **options)
        for text in legend.get_texts():
            text.set(**LITERAL)
        return legend

    if th.legend == "bottom":
        # the columns the scene laid out; fewer if the fonts at hand turn out wider
        width = figure.bbox.width
        for ncols in range(scene.legend_columns, 0, -1):
            legend = make(loc="outside lower center", ncols=ncols, columnspacing=LEGEND_COLUMN_GAP)
            if ncols == 1 or legend.get_window_extent().width <= width * 0.98:
                break
            legend.remove()
    else:
        make(loc="outside right upper")
