"""A `Scene` as SVG text: the frames of the live timeline.

Why SVG written here and not matplotlib: on the 2-core development box,
``timeline.plot()`` plus its PNG costs about 100 ms, and even a stripped-down
figure that reuses its artists about 30 ms, all of it holding the GIL in the
notebook's kernel. Ten of those a second would take a third of a core from
the program being recorded. Writing this text takes about a millisecond for
the chapter's programs; the browser draws it.

It draws the same `Scene` as `conctutor.drawing` (lanes, colours, reasons to
wait, CPU strip, stats line, legend), so when the run ends and the final
matplotlib figure replaces the last frame, nothing jumps. It imports no
matplotlib.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from html import escape

import numpy as np

from .model import STATES, STATUSES, State, Status
from .scene import RUNNING_CODE, Scene, SeriesStrip, br, hatch_of, lighten, nice_ceiling, to_hex
from .themes import Theme

MAX_CPU_COLUMNS = 240
"""The CPU strip is averaged down to at most this many columns (a long run
would otherwise make every frame bigger)."""

_PATTERN_IDS = {State.IO: "io", State.BLOCKED: "bloq", State.GIL: "gil", State.READY: "pronta", State.QUEUED: "fila"}


def _px(points: float, theme: Theme) -> float:
    return points * theme.dpi / 72


def _ticks(end: float) -> list[float]:
    step = nice_ceiling(end / 6)
    count = int(end / step + 1e-9)
    return [i * step for i in range(count + 1)]


def _patterns(theme: Theme) -> str:
    stroke = f'stroke="{theme.text_color}" stroke-opacity="0.35" stroke-width="1"'
    shapes = {
        State.IO: f'<line x1="0" y1="0" x2="0" y2="6" {stroke}/>',
        State.READY: f'<line x1="0" y1="0" x2="0" y2="6" {stroke}/>',
        State.BLOCKED: f'<path d="M0,0 L6,6 M6,0 L0,6" {stroke}/>',
        State.GIL: f'<circle cx="3" cy="3" r="0.9" fill="{theme.text_color}" fill-opacity="0.45"/>',
        State.QUEUED: f'<line x1="0" y1="3" x2="6" y2="3" {stroke}/>',
    }
    rotation = {State.IO: 45, State.READY: -45}
    out = []
    for state, shape in shapes.items():
        turn = f' patternTransform="rotate({rotation[state]})"' if state in rotation else ""
        out.append(f'<pattern id="{_PATTERN_IDS[state]}" width="6" height="6" patternUnits="userSpaceOnUse"{turn}>'
                   f"{shape}</pattern>")
    return "<defs>" + "".join(out) + "</defs>"


def render(scene: Scene) -> str:
    """The SVG text of `scene`."""
    th = scene.theme
    font, tick, big = _px(th.font_size, th), _px(th.tick_size, th), _px(th.title_size * 0.85, th)
    width = scene.width * th.dpi
    label_width = max([len(w) for w in scene.lanes] + [10]) * tick * 0.56 + 14
    left, right = label_width, tick * 1.6
    plot_width = max(width - left - right, 100.0)
    top = big * 1.9 + (big * 1.3 if scene.title else 0.0)
    lane_h = max(scene.lanes_height * th.dpi / scene.n_lanes, tick * 1.5)
    lanes_h = scene.n_lanes * lane_h
    strip = scene.cpu
    n_cores = strip.cores if strip is not None else 0
    core_h = max(scene.cpu_height * th.dpi / max(n_cores, 1), tick * 1.1) if strip is not None else 0.0
    # under the lanes: one strip per watched number, then the CPU strip, each under its title
    series_h = max(scene.series_height * th.dpi / len(scene.series), tick * 2.5) if scene.series else 0.0
    series_top = top + lanes_h + tick * 0.8 + big * 1.4
    cpu_top = series_top + len(scene.series) * (series_h + big * 1.4)
    cpu_h = n_cores * core_h
    legend_top = cpu_top + cpu_h + tick * 2.4 + font * 1.9
    legend_rows = math.ceil(len(scene.legend) / max(1, int(plot_width // (font * 9))))
    height = legend_top + legend_rows * font * 1.6 + font * 0.5
    end = scene.t_end

    def x(t: float) -> float:
        return left + max(0.0, min(t, end)) / end * plot_width

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="DejaVu Sans, Arial, sans-serif" '
        f'data-conctutor-frame="{len(scene.start)}">',
        _patterns(th),
        f'<rect width="100%" height="100%" fill="{th.background}"/>',
    ]
    baseline = big * 1.2
    if scene.title:
        out.append(f'<text x="{width / 2:.1f}" y="{baseline:.1f}" font-size="{big:.1f}" font-weight="bold" '
                   f'text-anchor="middle" fill="{th.text_color}">{escape(scene.title)}</text>')
        baseline += big * 1.3
    # the stats line, with the clock in bold: shrunk to fit the width
    head, _, rest = scene.stats.partition(": ")
    clock, _, tail = rest.partition(" s")
    size = min(big, (width - left - right) / (len(scene.stats) * 0.56))
    clock_color = th.error_color if scene.live else th.text_color
    marker = "● " if scene.live else ""
    out.append(
        f'<text x="{left:.1f}" y="{baseline:.1f}" font-size="{size:.1f}" fill="{th.text_color}">'
        f'{marker}{escape(head)}: <tspan font-weight="bold" fill="{clock_color}">{escape(clock)}</tspan>'
        f' s{escape(tail)}</text>'
    )
    axis_bottom = cpu_top + cpu_h
    for t in _ticks(end):
        out.append(
            f'<line x1="{x(t):.1f}" y1="{top:.1f}" x2="{x(t):.1f}" y2="{top + lanes_h:.1f}" '
            f'stroke="{th.grid_color}" stroke-width="0.8"/>'
            f'<text x="{x(t):.1f}" y="{axis_bottom + tick * 1.2:.1f}" font-size="{tick:.1f}" text-anchor="middle" '
            f'fill="{th.text_color}">{br(t, 2 if end < 1 else 1).rstrip("0").rstrip(",")}</text>'
        )
    out.append(
        f'<text x="{left + plot_width / 2:.1f}" y="{axis_bottom + tick * 2.4:.1f}" font-size="{font:.1f}" '
        f'text-anchor="middle" fill="{th.text_color}">tempo (s)</text>'
    )
    for i, worker in enumerate(scene.lanes):
        if i % scene.label_every:
            continue
        y = top + (i + 0.5) * lane_h
        out.append(
            f'<text x="{left - 8:.1f}" y="{y + tick * 0.35:.1f}" font-size="{tick:.1f}" text-anchor="end" '
            f'fill="{th.text_color}">{escape(worker)}</text>'
        )
    if scene.empty_message:
        out.append(
            f'<text x="{left + plot_width / 2:.1f}" y="{top + lanes_h / 2 + font * 0.35:.1f}" '
            f'font-size="{font:.1f}" text-anchor="middle" font-style="italic" fill="{th.text_color}">'
            f"{escape(scene.empty_message)}</text>"
        )
    out.extend(_bars(scene, x, top, lane_h))
    if strip is not None:
        out.append(
            f'<text x="{left:.1f}" y="{cpu_top - big * 0.45:.1f}" font-size="{_px(th.small_size, th):.1f}" '
            f'fill="{th.text_color}">{escape(strip.title)}</text>'
        )
        out.extend(_cpu_strip(scene, x, cpu_top, core_h, left, plot_width, tick))
    for k, watched in enumerate(scene.series):
        strip_top = series_top + k * (series_h + big * 1.4)
        out.extend(_series_strip(watched, scene, x, strip_top, series_h, left, tick))
    if scene.live:
        now = x(scene.now)
        out.append(
            f'<line x1="{now:.1f}" y1="{top - 4:.1f}" x2="{now:.1f}" y2="{axis_bottom:.1f}" '
            f'stroke="{th.error_color}" stroke-width="2"/>'
        )
    out.extend(_legend(scene, left, legend_top, plot_width, font))
    out.append("</svg>")
    return "".join(out)


def _bars(scene: Scene, x: Callable[[float], float], top: float, lane_h: float) -> list[str]:
    th = scene.theme
    out: list[str] = []
    bar_h = lane_h * th.bar_fill
    offset = (lane_h - bar_h) / 2
    for i in range(len(scene.start)):
        task, lane = int(scene.task[i]), int(scene.lane[i])
        y = top + lane * lane_h + offset
        x0 = x(float(scene.start[i]))
        x1 = max(x(float(scene.end[i])), x0 + 1)
        out.append(
            f'<rect x="{x0:.1f}" y="{y:.1f}" width="{x1 - x0:.1f}" height="{bar_h:.1f}" '
            f'fill="{scene.light_colors[task]}" stroke="{scene.colors[task]}" stroke-width="{th.edge_width:.1f}"/>'
        )
    for a, b, lane, task, code in zip(scene.seg_start.tolist(), scene.seg_end.tolist(), scene.seg_lane.tolist(),
                                      scene.seg_task.tolist(), scene.seg_state.tolist()):
        y = top + lane * lane_h + offset
        ra, rb = x(a), max(x(b), x(a) + 1)
        if code == RUNNING_CODE:
            out.append(f'<rect x="{ra:.1f}" y="{y:.1f}" width="{rb - ra:.1f}" height="{bar_h:.1f}" '
                       f'fill="{scene.colors[task]}"/>')
        elif scene.hatch and hatch_of(STATES[code], th):
            out.append(f'<rect x="{ra:.1f}" y="{y:.1f}" width="{rb - ra:.1f}" height="{bar_h:.1f}" '
                       f'fill="url(#{_PATTERN_IDS[STATES[code]]})"/>')
    outline = {STATUSES.index(Status.ERROR): (th.error_color, ""),
               STATUSES.index(Status.INTERRUPTED): (th.interrupted_color, ' stroke-dasharray="6 4"'),
               STATUSES.index(Status.RUNNING): (th.text_color, ' stroke-dasharray="2 3"')}
    for i in np.flatnonzero(np.isin(scene.status, list(outline))).tolist():
        color, dash = outline[int(scene.status[i])]
        y = top + int(scene.lane[i]) * lane_h + offset
        x0 = x(float(scene.start[i]))
        x1 = max(x(float(scene.end[i])), x0 + 1)
        out.append(f'<rect x="{x0:.1f}" y="{y:.1f}" width="{x1 - x0:.1f}" height="{bar_h:.1f}" fill="none" '
                   f'stroke="{color}" stroke-width="{th.status_width:.1f}"{dash}/>')
    size = _px(scene.bar_label_size, th)
    for center, lane, text in scene.bar_labels:
        y = top + lane * lane_h + lane_h / 2 + size * 0.35
        out.append(f'<text x="{x(center):.1f}" y="{y:.1f}" font-size="{size:.1f}" text-anchor="middle" '
                   f'fill="{th.text_color}" stroke="white" stroke-width="3" paint-order="stroke">{escape(text)}</text>')
    return out


def _series_strip(watched: SeriesStrip, scene: Scene, x: Callable[[float], float], top: float, height: float,
                  left: float, tick: float) -> list[str]:
    """A watched number as a filled step line, with its title above and its top value at the left."""
    th = scene.theme
    base = top + height
    out = [
        f'<text x="{left:.1f}" y="{top - tick * 0.6:.1f}" font-size="{_px(th.small_size, th):.1f}" '
        f'fill="{th.text_color}">{escape(watched.name)}</text>',
        f'<line x1="{left:.1f}" y1="{base:.1f}" x2="{x(scene.t_end):.1f}" y2="{base:.1f}" '
        f'stroke="{th.grid_color}" stroke-width="0.8"/>',
        f'<text x="{left - 8:.1f}" y="{top + tick * 0.35:.1f}" font-size="{tick:.1f}" text-anchor="end" '
        f'fill="{th.text_color}">{br(watched.top, 0)}</text>',
        f'<text x="{left - 8:.1f}" y="{base + tick * 0.35:.1f}" font-size="{tick:.1f}" text-anchor="end" '
        f'fill="{th.text_color}">0</text>',
    ]
    if not len(watched.times):
        return out
    times = [*watched.times.tolist(), max(scene.now, float(watched.times[-1]))]
    values = watched.values.tolist()

    def y(value: float) -> float:
        return base - min(max(value / watched.top, 0.0), 1.0) * height

    steps = " ".join(f"{x(times[i]):.1f},{y(v):.1f} {x(times[i + 1]):.1f},{y(v):.1f}" for i, v in enumerate(values))
    out.append(f'<polygon points="{x(times[0]):.1f},{base:.1f} {steps} {x(times[-1]):.1f},{base:.1f}" '
               f'fill="{th.cpu_color}" fill-opacity="0.25" stroke="none"/>')
    out.append(f'<polyline points="{steps}" fill="none" stroke="{th.cpu_color}" stroke-width="1.2"/>')
    return out


def _cpu_strip(scene: Scene, x: Callable[[float], float], top: float, core_h: float, left: float,
               plot_width: float, tick: float) -> list[str]:
    th = scene.theme
    strip = scene.cpu
    assert strip is not None
    out = []
    fill = core_h * 0.85
    light = to_hex(lighten(th.cpu_color, 0.9))
    for core in range(strip.cores):
        base = top + (core + 1) * core_h
        out.append(
            f'<rect x="{left:.1f}" y="{base - fill:.1f}" width="{plot_width:.1f}" height="{fill:.1f}" fill="{light}"/>'
            f'<text x="{left - 8:.1f}" y="{base - core_h / 2 + tick * 0.35:.1f}" font-size="{tick:.1f}" '
            f'text-anchor="end" fill="{th.text_color}">núcleo {core}</text>'
        )
    if len(strip.edges) < 2:
        return out
    layers = [(strip.busy, 0.35 if strip.ours is not None else 0.75)]
    if strip.ours is not None:
        layers.append((strip.ours, 0.85))
    for values, opacity in layers:
        edges, columns = _columns(strip.edges, values)
        for core in range(min(strip.cores, columns.shape[1])):
            base = top + (core + 1) * core_h
            points = [f"{x(edges[0]):.1f},{base:.1f}"]
            for i, value in enumerate(columns[:, core].tolist()):
                y = base - min(max(value, 0.0), 1.0) * fill
                points.append(f"{x(edges[i]):.1f},{y:.1f} {x(edges[i + 1]):.1f},{y:.1f}")
            points.append(f"{x(edges[-1]):.1f},{base:.1f}")
            out.append(f'<polygon points="{" ".join(points)}" fill="{th.cpu_color}" fill-opacity="{opacity}" '
                       f'stroke="{th.cpu_color}" stroke-width="0.6"/>')
    return out


def _columns(edges: np.ndarray, values: np.ndarray) -> tuple[list[float], np.ndarray]:
    """Sample edges and per-core values, averaged down to at most MAX_CPU_COLUMNS."""
    group = math.ceil(len(values) / MAX_CPU_COLUMNS)
    if group <= 1:
        return edges.tolist(), values
    starts = list(range(0, len(values), group))
    merged = np.array([values[i : i + group].mean(axis=0) for i in starts])
    merged_edges = [float(edges[0])] + [float(edges[min(i + group, len(values))]) for i in starts]
    return merged_edges, merged


def _legend(scene: Scene, left: float, top: float, width: float, font: float) -> list[str]:
    th = scene.theme
    out = []
    per_row = max(1, int(width // (font * 9)))
    for k, entry in enumerate(scene.legend):
        row, column = divmod(k, per_row)
        x0 = left + column * (width / per_row)
        y0 = top + row * font * 1.6
        box = f'x="{x0:.1f}" y="{y0 - font * 0.8:.1f}" width="{font * 1.2:.1f}" height="{font * 0.8:.1f}"'
        if entry.style in ("task", "running"):
            out.append(f'<rect {box} fill="{entry.color}"/>')
        elif entry.style == "waiting":
            out.append(f'<rect {box} fill="{to_hex(lighten(entry.color, th.wait_lighten))}" stroke="{entry.color}"/>')
            if entry.hatch and entry.state in _PATTERN_IDS:
                out.append(f'<rect {box} fill="url(#{_PATTERN_IDS[entry.state]})"/>')
        else:
            out.append(f'<rect {box} fill="none" stroke="{entry.color}" stroke-width="2"/>')
        out.append(f'<text x="{x0 + font * 1.6:.1f}" y="{y0:.1f}" font-size="{font * 0.9:.1f}" '
                   f'fill="{th.text_color}">{escape(entry.label)}</text>')
    return out
