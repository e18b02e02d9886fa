"""Drawing a `Timeline` as a Gantt chart, with per-core CPU use below it.

    fig = plot_timeline(timeline)                 # what `timeline.plot()` does
    fig = timeline.plot(theme="projetor", title="Threads")
    use_theme("projetor")                         # every later figure

One lane per worker (main thread, pool threads, worker processes), one colour
per task (Okabe–Ito palette, safe for colour-blind readers). A task is drawn
solid while it was running on a CPU and light (hatched when there are few
tasks) while it waited: sleeping, blocked on I/O, or waiting for the GIL.
Failed, interrupted and still-running tasks carry a marker. Under the lanes,
on the same time axis, one row per CPU core shows how busy it was.

Everything is drawn with a handful of matplotlib collections, never one
artist per span, so 100 000 spans still draw in a few seconds. Neighbouring
pieces narrower than a fraction of a pixel are merged before drawing.

The text on the figure is in Portuguese, like the notebooks.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib import patheffects, ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.colors import LinearSegmentedColormap, to_rgb, to_rgba
from matplotlib.figure import Figure, SubFigure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .spans import ERROR, INTERRUPTED, RUNNING
from .themes import CHAPTER_TASKS, THEMES, Theme, get_theme, use_theme

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from .timeline import Timeline

__all__ = ["THEMES", "Theme", "get_theme", "plot_timeline", "use_theme"]

# --- small helpers ---------------------------------------------------------------


def _br(value: float, digits: int = 2) -> str:
    """A number the Brazilian way: decimal comma."""
    return f"{value:.{digits}f}".replace(".", ",")


class _CommaFormatter(ticker.ScalarFormatter):
    """Tick labels with a decimal comma (0,5 instead of 0.5)."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        return super().__call__(x, pos).replace(".", ",")

    def get_offset(self) -> str:
        return super().get_offset().replace(".", ",")


def _lighten(color: str, amount: float) -> tuple[float, float, float]:
    r, g, b = to_rgb(color)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)


def _task_colors(names: Sequence[str], palette: Sequence[str]) -> dict[str, str]:
    colors: dict[str, str] = {}
    taken: set[int] = set()
    for name in names:
        if name in CHAPTER_TASKS and CHAPTER_TASKS.index(name) < len(palette):
            index = CHAPTER_TASKS.index(name)
            colors[name] = palette[index]
            taken.add(index)
    free = [i for i in range(len(palette)) if i not in taken] or list(range(len(palette)))
    others = [name for name in names if name not in colors]
    for k, name in enumerate(others):
        colors[name] = palette[free[k % len(free)]]
    return colors


def _rects(starts: np.ndarray, ends: np.ndarray, lanes: np.ndarray, half: float) -> np.ndarray:
    """Vertices (n, 4, 2) of the rectangles [start, end] × [lane - half, lane + half]."""
    verts = np.empty((len(starts), 4, 2))
    verts[:, 0, 0] = verts[:, 1, 0] = starts
    verts[:, 2, 0] = verts[:, 3, 0] = ends
    verts[:, 0, 1] = verts[:, 3, 1] = lanes - half
    verts[:, 1, 1] = verts[:, 2, 1] = lanes + half
    return verts


def _merge(starts: np.ndarray, ends: np.ndarray, lanes: np.ndarray, gap: float) -> tuple[np.ndarray, ...]:
    """Merge intervals of the same lane that overlap or are less than `gap` apart.

    Used only when `gap` is a fraction of a pixel, so the picture is the same
    with far fewer rectangles.
    """
    if len(starts) < 2:
        return starts, ends, lanes
    span = float(max(ends.max(), starts.max()) - min(starts.min(), 0.0)) + 1.0 + 2 * gap
    offset = lanes.astype(float) * span  # lanes far apart on one line: one global pass
    s, e = starts + offset, ends + offset
    order = np.argsort(s, kind="stable")
    s, e, lane = s[order], e[order], lanes[order]
    reach = np.maximum.accumulate(e)
    new = np.empty(len(s), dtype=bool)
    new[0] = True
    new[1:] = s[1:] > reach[:-1] + gap
    first = np.flatnonzero(new)
    merged_ends = np.maximum.reduceat(e, first)
    lane = lane[first]
    return s[first] - lane * span, merged_ends - lane * span, lane


# --- the figure ----------------------------------------------------------------


class TimelineFigure(Figure):
    """A matplotlib `Figure` that Jupyter shows as a PNG when it is a cell's value.

    It is not registered with pyplot, so it is shown exactly once (when it is
    the last value of a cell, or with ``display(fig)``) and never piles up in
    pyplot's list of open figures. Save it with ``fig.savefig("linha.png")``.
    """

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=self.dpi, facecolor=self.get_facecolor())
        return buffer.getvalue()


@dataclass
class _Data:
    """The spans of a timeline as arrays, ready to draw."""

    workers: list[str]
    names: list[str]
    start: np.ndarray
    end: np.ndarray
    lane: np.ndarray
    task: np.ndarray
    status: list[str]
    run_start: np.ndarray
    run_end: np.ndarray
    run_lane: np.ndarray
    run_task: np.ndarray


def _collect(spans: Sequence[Any]) -> _Data:
    lanes: dict[str, int] = {}
    tasks: dict[str, int] = {}
    n = len(spans)
    start, end = np.empty(n), np.empty(n)
    lane, task = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    status: list[str] = []
    rs: list[float] = []
    re_: list[float] = []
    rl: list[int] = []
    rt: list[int] = []
    for i, span in enumerate(spans):
        li = lanes.setdefault(span.worker, len(lanes))
        ti = tasks.setdefault(span.name, len(tasks))
        start[i], end[i], lane[i], task[i] = span.start, span.end, li, ti
        status.append(span.status)
        for a, b in span.running:
            rs.append(a)
            re_.append(b)
            rl.append(li)
            rt.append(ti)
    return _Data(
        list(lanes), list(tasks), start, end, lane, task, status,
        np.asarray(rs, dtype=float), np.asarray(re_, dtype=float),
        np.asarray(rl, dtype=np.int64), np.asarray(rt, dtype=np.int64),
    )


def plot_timeline(
    timeline: Timeline,
    *,
    title: str | None = None,
    theme: str | Theme | None = None,
    figsize: tuple[float, float] | None = None,
    fig: Figure | SubFigure | None = None,
    cpu: bool = True,
) -> Figure:
    """Draw `timeline` as one lane per worker, with per-core CPU use below.

    title:   a heading for the figure (the total and ideal times are always written).
    theme:   ``"padrao"``, ``"projetor"`` or a `Theme`; default: the one set with `use_theme`.
    figsize: (width, height) in inches; by default the width comes from the
             theme and the height grows with the number of lanes, up to a cap.
    fig:     draw into this matplotlib `Figure` or `SubFigure` (e.g. one of
             ``fig.subfigures(1, 2)`` to put two runs side by side) instead of
             a new figure.
    cpu:     draw the per-core CPU strip (when the timeline has samples).

    Works while the recording is still running (tasks not yet finished are
    drawn up to now) and for an empty timeline. Returns the figure.
    """
    th = get_theme(theme)
    spans = timeline.spans  # one snapshot: a live timeline recomputes it on each access
    makespan = timeline.makespan
    usage = timeline.cpu
    live = timeline.is_live
    data = _collect(spans)
    n_lanes = max(len(data.workers), 1)
    n_cores = usage.cores if cpu else 0
    show_cpu = cpu and (n_cores > 0 or live)
    if show_cpu and n_cores == 0:
        n_cores = timeline.cores

    # --- sizes: lanes get thinner (and their labels smaller) when there are many
    n_legend = len(data.names) + 2 + len({s for s in data.status if s in (ERROR, INTERRUPTED, RUNNING)})
    overhead = (th.title_size * (2.2 if title else 1.2) + th.tick_size * 2.6 + th.font_size * 1.6) / 72
    if th.legend == "bottom":
        per_row = max(1, int(th.figure_width * 72 / (th.font_size * 11)))
        overhead += math.ceil(n_legend / per_row) * th.font_size * 1.45 / 72
    if show_cpu:
        overhead += th.small_size * 1.5 / 72
    cpu_height = min(n_cores * th.cpu_row_height, th.max_cpu_height) if show_cpu else 0.0
    lanes_height = n_lanes * th.lane_height
    if figsize is not None:
        width, height = figsize
    else:
        width = th.figure_width
        lanes_height = max(min(lanes_height, th.max_height - overhead - cpu_height), min(1.0, lanes_height))
        height = overhead + lanes_height + cpu_height
    if fig is None:
        figure: Figure | SubFigure = TimelineFigure(figsize=(width, height), dpi=th.dpi, facecolor=th.background)
        FigureCanvasAgg(figure)  # so fig.canvas.draw() renders, with no pyplot involved
        figure.set_layout_engine("constrained")
        root = figure
    else:
        figure = fig
        root = fig.figure if isinstance(fig, SubFigure) else fig
        if root.get_layout_engine() is None:
            root.set_layout_engine("constrained")
        width, height = (figure.bbox.width / root.dpi, figure.bbox.height / root.dpi)
        frac = lanes_height / max(lanes_height + cpu_height, 1e-9)
        lanes_height = max(height - overhead, 0.5) * (frac if show_cpu else 1.0)
        cpu_height = max(height - overhead, 0.5) * (1 - frac) if show_cpu else 0.0

    if show_cpu:
        ax, ax_cpu = figure.subplots(
            2, 1, sharex=True, gridspec_kw={"height_ratios": [max(lanes_height, 1e-3), max(cpu_height, 1e-3)]}
        )
    else:
        ax, ax_cpu = figure.subplots(1, 1), None
    for a in (ax, ax_cpu):
        if a is not None:
            a.set_facecolor(th.background)
            a.tick_params(labelsize=th.tick_size, colors=th.text_color)
            for side in a.spines.values():
                side.set_color(th.text_color)

    lane_pt = lanes_height * 72 / n_lanes
    lane_font = max(th.min_font_size, min(th.tick_size, lane_pt * 0.62))
    colors = _task_colors(data.names, th.palette)
    hatch = th.hatch if len(spans) <= th.hatch_max_spans else None
    t_end = max(makespan, float(data.end.max()) if len(spans) else 0.0)
    t_end = t_end if t_end > 0 else 1.0

    _draw_lanes(ax, data, th, colors, hatch, lane_font, t_end, width, lanes_height)
    ax.set_xlim(0, t_end * 1.01)
    if ax_cpu is not None:
        _draw_cpu(ax_cpu, usage, n_cores, th, cpu_height)
        ax.tick_params(labelbottom=False)
    bottom = ax_cpu if ax_cpu is not None else ax
    bottom.set_xlabel("tempo (s)", fontsize=th.font_size, color=th.text_color)
    bottom.xaxis.set_major_formatter(_CommaFormatter())

    # --- text: title, times, legend
    stats = _stats_line(timeline, makespan, live, spans)
    if title:
        figure.suptitle(title, fontsize=th.title_size, fontweight="bold", color=th.text_color)
    ax.set_title(stats, fontsize=th.font_size if title else th.title_size * 0.85, color=th.text_color, loc="left")
    if not spans:
        ax.text(0.5, 0.5, "nenhuma tarefa gravada (ainda)", transform=ax.transAxes, ha="center", va="center",
                fontsize=th.font_size, color=th.text_color, style="italic")
    _legend(figure, data, th, colors, hatch)
    return figure if isinstance(figure, Figure) else root


def _stats_line(timeline: Timeline, makespan: float, live: bool, spans: Sequence[Any]) -> str:
    from .timeline import ideal_time

    ideal = ideal_time(list(spans), timeline.cores)
    cores = f"{timeline.cores} núcleo" + ("s" if timeline.cores != 1 else "")
    if live:
        return f"gravando… tempo até agora: {_br(makespan)} s · ideal: {_br(ideal)} s · {cores}"
    return f"tempo total: {_br(makespan)} s · ideal: {_br(ideal)} s · {cores}"


def _draw_lanes(
    ax: Axes, d: _Data, th: Theme, colors: dict[str, str], hatch: str | None, lane_font: float,
    t_end: float, width_in: float, lanes_height_in: float,
) -> None:
    n_lanes = max(len(d.workers), 1)
    half = th.bar_fill / 2
    n = len(d.start)
    # A pixel is about this many seconds; pieces closer than a fraction of it merge.
    px = t_end / max(width_in * 0.75 * th.dpi, 100)
    many = n > 2000
    edge = th.edge_width if n <= 400 else 0.0
    for ti, name in enumerate(d.names):
        color = colors[name]
        light = _lighten(color, th.wait_lighten)
        sel = d.task == ti
        starts, ends, lanes = d.start[sel], d.end[sel], d.lane[sel]
        if many:
            starts, ends, lanes = _merge(starts, ends, lanes, px * 0.25)
        waiting = PolyCollection(
            _rects(starts, ends, lanes, half), facecolors=[light], edgecolors=[color] if edge else "none",
            linewidths=edge, hatch=hatch, zorder=2,
        )
        ax.add_collection(waiting, autolim=False)
        rsel = d.run_task == ti
        rs, re_, rl = d.run_start[rsel], d.run_end[rsel], d.run_lane[rsel]
        if len(rs) > 200:
            rs, re_, rl = _merge(rs, re_, rl, px * 0.25)
        if len(rs):
            # at least a hairline, so a slice of a few microseconds still shows
            re_ = np.maximum(re_, rs + px * 0.5)
            ax.add_collection(
                PolyCollection(_rects(rs, re_, rl, half), facecolors=[color], edgecolors="none",
                               linewidths=0, zorder=3),
                autolim=False,
            )

    status = np.asarray(d.status, dtype=object)
    marker_size = min(th.marker_size, max(3.0, lanes_height_in * 72 / n_lanes * 0.8))
    for kind, color, style, marker in (
        (ERROR, th.error_color, "solid", "X"),
        (INTERRUPTED, th.interrupted_color, (0, (3, 2)), "s"),
        (RUNNING, th.text_color, "dotted", ">"),
    ):
        sel = status == kind if n else np.zeros(0, dtype=bool)
        if not sel.any():
            continue
        starts, ends, lanes = d.start[sel], d.end[sel], d.lane[sel]
        if len(starts) > 500:  # thousands of failures: outline the blocks they form
            starts, ends, lanes = _merge(starts, ends, lanes, px * 2)
        ax.add_collection(
            PolyCollection(_rects(starts, ends, lanes, half), facecolors="none",
                           edgecolors=[color], linewidths=th.status_width, linestyles=style, zorder=4),
            autolim=False,
        )
        ax.scatter(ends, lanes, marker=marker, s=marker_size ** 2, c=[color],
                   edgecolors="white", linewidths=max(0.8, th.status_width * 0.4), zorder=5, clip_on=False)

    # task names on bars wide enough to hold them
    if th.bar_labels and 0 < n <= th.max_bar_labels:
        sec_per_in = t_end * 1.01 / max(width_in * 0.72, 1.0)
        lane_in = lanes_height_in / n_lanes * th.bar_fill
        size = min(th.bar_label_size, lane_in * 72 * 0.7)
        if size >= th.min_font_size:
            for i in range(n):
                name = d.names[d.task[i]]
                text_in = (len(name) * 0.6 + 1.2) * size / 72
                if (d.end[i] - d.start[i]) / sec_per_in >= text_in:
                    ax.text((d.start[i] + d.end[i]) / 2, d.lane[i], name, ha="center", va="center",
                            fontsize=size, color=th.text_color, zorder=6, clip_on=True,
                            path_effects=[patheffects.withStroke(linewidth=max(2.0, size / 4), foreground="white")])

    ax.set_ylim(n_lanes - 0.5, -0.5)  # first lane on top
    # every lane gets a tick; when lanes are thinner than the smallest font, only every k-th a label
    every = max(1, math.ceil(lane_font * 1.1 / max(lanes_height_in * 72 / n_lanes, 1e-9)))
    ax.set_yticks(range(len(d.workers)))
    ax.set_yticklabels([w if i % every == 0 else "" for i, w in enumerate(d.workers)],
                       fontsize=lane_font, color=th.text_color)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color=th.grid_color, linewidth=0.8, zorder=0)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _draw_cpu(ax: Axes, usage: Any, n_cores: int, th: Theme, height_in: float) -> None:
    ax.set_ylim(n_cores, 0)  # núcleo 0 on top
    row_px = height_in * th.dpi / max(n_cores, 1)
    label_font = max(th.min_font_size, min(th.tick_size, height_in * 72 / max(n_cores, 1) * 0.75))
    every = max(1, math.ceil(label_font * 1.15 / max(height_in * 72 / max(n_cores, 1), 1e-9)))
    ticks = list(range(0, n_cores, every))
    ax.set_yticks([c + 0.5 for c in ticks])
    ax.set_yticklabels([f"núcleo {c}" for c in ticks], fontsize=label_font, color=th.text_color)
    ax.tick_params(axis="y", length=0)
    ax.set_title("uso de cada núcleo da CPU (0–100 %)", fontsize=th.small_size, color=th.text_color, loc="left",
                 pad=3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if not usage.times:
        ax.text(0.5, 0.5, "sem amostras de CPU (ainda)", transform=ax.transAxes, ha="center", va="center",
                fontsize=th.small_size, color=th.text_color, style="italic")
        return
    edges = np.concatenate(([usage.start], np.asarray(usage.times, dtype=float)))
    percent = np.clip(np.asarray(usage.percent, dtype=float), 0, 100) / 100.0  # (samples, cores)
    if row_px >= 9:
        # one filled step area per core, 0–100 % of the row
        x = np.repeat(edges, 2)[1:-1]
        polys = []
        fill = 0.85
        for core in range(n_cores):
            y = core + 1 - np.repeat(percent[:, core], 2) * fill
            base = core + 1
            polys.append(np.column_stack((np.concatenate(([x[0]], x, [x[-1]])),
                                          np.concatenate(([base], y, [base])))))
        band = _rects(np.full(n_cores, edges[0]), np.full(n_cores, edges[-1]), np.arange(n_cores) + 1 - fill / 2, fill / 2)
        ax.add_collection(PolyCollection(band, facecolors=[_lighten(th.cpu_color, 0.9)], edgecolors="none"),
                          autolim=False)
        ax.add_collection(PolyCollection(polys, facecolors=[to_rgba(th.cpu_color, 0.75)],
                                         edgecolors=[th.cpu_color], linewidths=0.6), autolim=False)
        ax.hlines(np.arange(1, n_cores + 1), edges[0], edges[-1], colors=th.grid_color, linewidths=0.6)
    else:
        # too many cores for areas: one shaded row per core, darker = busier
        cmap = LinearSegmentedColormap.from_list("ocupacao", ["#FFFFFF", th.cpu_color])
        ax.pcolormesh(edges, np.arange(n_cores + 1), percent.T, cmap=cmap, vmin=0, vmax=1, shading="flat")
        ax.set_title("uso de cada núcleo da CPU (mais escuro = mais ocupado)", fontsize=th.small_size,
                     color=th.text_color, loc="left", pad=3)


def _legend(figure: Figure | SubFigure, d: _Data, th: Theme, colors: dict[str, str], hatch: str | None) -> None:
    handles: list[Any] = [Patch(facecolor=colors[name], edgecolor=colors[name], label=name) for name in d.names]
    gray = "#6E6E6E"
    handles.append(Patch(facecolor=gray, edgecolor=gray, label="rodando (na CPU)"))
    handles.append(Patch(facecolor=_lighten(gray, th.wait_lighten), edgecolor=gray, hatch=hatch,
                         label="esperando (E/S, sono, GIL)"))
    present = set(d.status)
    for kind, color, marker, label in (
        (ERROR, th.error_color, "X", "erro (exceção)"),
        (INTERRUPTED, th.interrupted_color, "s", "interrompida"),
        (RUNNING, th.text_color, ">", "ainda rodando"),
    ):
        if kind in present:
            handles.append(Line2D([], [], color=color, marker=marker, linestyle="none",
                                  markersize=th.font_size * 0.9, markeredgecolor="white", label=label))
    if th.legend == "bottom":
        # as many columns as fit across the figure
        width = figure.bbox.width
        for ncols in range(min(len(handles), 6), 0, -1):
            legend = figure.legend(handles=handles, loc="outside lower center", ncols=ncols,
                                   fontsize=th.font_size, frameon=False, labelcolor=th.text_color,
                                   handlelength=1.4, columnspacing=1.0)
            if ncols == 1 or legend.get_window_extent().width <= width * 0.98:
                break
            legend.remove()
    else:
        figure.legend(handles=handles, loc="outside right upper", fontsize=th.font_size, frameon=False,
                      labelcolor=th.text_color)
