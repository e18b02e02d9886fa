"""A `Scene` as SVG text: the frames of the live timeline.

Why SVG written here and not matplotlib: on the 2-core development box,
``timeline.plot()`` plus its PNG costs about 100 ms, and even a stripped-down
figure that reuses its artists about 30 ms, all of it holding the GIL in the
notebook's kernel. Ten of those a second would take a third of a core from
the program being recorded. Writing this text takes about a millisecond for
the chapter's programs; the browser draws it.

It draws the same `Scene` as `conctutor.render.drawing` (lanes, colours, reasons to
wait, CPU strip, stats line, legend), so when the run ends and the final
matplotlib figure replaces the last frame, nothing jumps. It draws nothing with
matplotlib: the scene measures its texts with matplotlib's fonts, loaded before
the run (`conctutor.render.typeset.warm_up`). Every text is XML-escaped, and laid out
by the scene to fit the frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from html import escape

import numpy as np

from ..engine.model import RUNNING_STATE, STATES, STATUSES, State, Status
from .colours import lighten, to_hex
from .geometry import merge
from .legend import LEGEND_COLUMN_GAP, LEGEND_HANDLE, LEGEND_ROW, LEGEND_TEXT_PAD, LegendEntry, legend_layout
from .scene import DONE_COLOR, Scene, SeriesStrip, nice_ceiling
from .themes import Theme, hatch_of
from .typeset import LINE, text_width
from .words import decimal_comma

MAX_CPU_COLUMNS = 240
"""The CPU strip is averaged down to at most this many columns (a long run
would otherwise make every frame bigger)."""

MERGE_ABOVE = 400
"""More bars than this are drawn merged where they share a pixel, as the figure draws them."""

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


def _text(x: float, y: float, size: float, text: str, color: str, extra: str = "") -> str:
    """One line of text, escaped: whatever a name holds is shown as written."""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:.1f}" fill="{color}"{extra}>'
            f"{escape(text)}</text>")


def render(scene: Scene) -> str:
    """The SVG text of `scene`."""
    th = scene.theme
    font, tick = _px(th.font_size, th), _px(th.tick_size, th)
    small, header = _px(th.small_size, th), _px(scene.header_size, th)
    big = _px(th.title_size, th)
    lane_font, core_font = _px(scene.lane_font, th), _px(scene.cpu_label_font or th.tick_size, th)
    width = scene.width * th.dpi
    left, right = scene.text_left * th.dpi, tick * 1.6
    plot_width = max(width - left - right, 100.0)
    # from the top: title, stats (and prediction, notes), the prediction's label, the lanes
    y = big * 0.3
    out_top: list[str] = []
    for line in scene.title_lines:
        y += big * LINE
        out_top.append(_text(width / 2, y - big * 0.25, big, line, th.text_color,
                             ' font-weight="bold" text-anchor="middle"'))
    for k, line in enumerate(scene.header):
        y += header * LINE
        out_top.append(_stats_line(scene, line, left, y - header * 0.25, header) if k == 0 else
                       _text(left, y - header * 0.25, header, line, th.text_color))
    prediction_row = y + small * LINE if scene.prediction is not None else y
    top = prediction_row + header * 0.4
    lane_h = max(scene.lanes_height * th.dpi / scene.n_lanes, lane_font * 1.3)
    lanes_h = scene.n_lanes * lane_h
    strip = scene.cpu
    n_cores = strip.cores if strip is not None else 0
    core_h = max(scene.cpu_height * th.dpi / max(n_cores, 1), core_font * 1.1) if strip is not None else 0.0
    # under the lanes: one strip per watched number, then the CPU strip, each under its title
    series_h = max(scene.series_height * th.dpi / len(scene.series), tick * 2.5) if scene.series else 0.0
    below = top + lanes_h + tick * 0.6
    series_tops = []
    for watched in scene.series:
        below += (watched.title.count("\n") + 1) * small * LINE + tick * 0.4
        series_tops.append(below)
        below += series_h
    cpu_top = below
    if strip is not None:
        cpu_top += (strip.title.count("\n") + 1) * small * LINE + small * 0.3
    cpu_h = n_cores * core_h
    axis_bottom = cpu_top + cpu_h if strip is not None else below
    legend, legend_columns, _ = _legend_layout(scene)
    legend_top = axis_bottom + tick * 1.4 + font * 2.6
    legend_height = legend_height_px(legend, legend_columns, font)
    height = legend_top + legend_height + font * 0.5
    end = scene.t_end

    def x(t: float) -> float:
        return left + max(0.0, min(t, end)) / end * plot_width

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="DejaVu Sans, Arial, sans-serif" '
        f'data-conctutor-frame="{len(scene.start)}">',
        _patterns(th),
        f'<rect width="100%" height="100%" fill="{th.background}"/>',
        *out_top,
    ]
    for t in _ticks(end):
        out.append(
            f'<line x1="{x(t):.1f}" y1="{top:.1f}" x2="{x(t):.1f}" y2="{top + lanes_h:.1f}" '
            f'stroke="{th.grid_color}" stroke-width="0.8"/>'
            + _text(x(t), axis_bottom + tick * 1.2, tick, decimal_comma(t, 2 if end < 1 else 1).rstrip("0").rstrip(","),
                    th.text_color, ' text-anchor="middle"')
        )
    out.append(_text(left + plot_width / 2, axis_bottom + tick * 1.4 + font * 1.2, font, "tempo (s)", th.text_color,
                     ' text-anchor="middle"'))
    centres = scene.row_centre if len(scene.row_centre) == len(scene.lanes) else np.arange(len(scene.lanes))
    for i in range(0, len(scene.lanes), scene.label_every):
        out.append(_text(left - 8, top + (float(centres[i]) + 0.5) * lane_h + lane_font * 0.35, lane_font,
                         scene.lanes[i], th.text_color, ' text-anchor="end"'))
    if scene.empty_message:
        out.append(_text(left + plot_width / 2, top + lanes_h / 2 + font * 0.35, font, scene.empty_message,
                         th.text_color, ' text-anchor="middle" font-style="italic"'))
    out.extend(_bars(scene, x, top, lane_h, plot_width))
    out.extend(_bands(scene, x, top, lane_h))
    if strip is not None:
        lines = strip.title.split("\n")
        for k, line in enumerate(lines):
            out.append(_text(left, cpu_top - small * 0.55 - (len(lines) - 1 - k) * small * LINE, small, line,
                             th.text_color))
        out.extend(_cpu_strip(scene, x, cpu_top, core_h, left, plot_width, core_font))
    for watched, strip_top in zip(scene.series, series_tops):
        out.extend(_series_strip(watched, scene, x, strip_top, series_h, left, tick))
    if scene.prediction is not None:
        px = x(scene.prediction)
        out.append(f'<line x1="{px:.1f}" y1="{top - 2:.1f}" x2="{px:.1f}" y2="{top + lanes_h:.1f}" '
                   f'stroke="{th.text_color}" stroke-width="{max(1.5, th.edge_width * 1.2):.1f}" '
                   f'stroke-dasharray="7 4"/>')
        anchor, gap = ("end", -small * 0.3) if scene.prediction_side == "left" else ("start", small * 0.3)
        out.append(_text(px + gap, prediction_row - small * 0.2, small, scene.prediction_label, th.text_color,
                         f' text-anchor="{anchor}"'))
    if scene.live:  # "now", across the lanes and each strip (not across their headings)
        now = x(scene.now)
        stretches = [(top - 4, top + lanes_h), *((t, t + series_h) for t in series_tops)]
        if strip is not None:
            stretches.append((cpu_top, cpu_top + cpu_h))
        out.extend(f'<line x1="{now:.1f}" y1="{y0:.1f}" x2="{now:.1f}" y2="{y1:.1f}" '
                   f'stroke="{th.error_color}" stroke-width="2"/>' for y0, y1 in stretches)
    out.extend(_legend(scene, legend, legend_columns, width, legend_top, font))
    out.append("</svg>")
    return "".join(out)


def _stats_line(scene: Scene, line: str, left: float, y: float, size: float) -> str:
    """The first line above the lanes, with the clock in bold (red while recording) and, while
    recording, a red dot before it where the lane labels leave room."""
    th = scene.theme
    before, clock, after = line.partition(f"{scene.clock} s")
    out = ""
    if scene.live:
        dot = text_width("● ", scene.header_size) * th.dpi
        if left - dot >= 2:
            out = _text(left - dot, y, size, "● ", th.error_color)
    if not clock:
        return out + _text(left, y, size, line, th.text_color)
    clock_color = th.error_color if scene.live else th.text_color
    return out + (f'<text x="{left:.1f}" y="{y:.1f}" font-size="{size:.1f}" fill="{th.text_color}">'
                  f'{escape(before)}<tspan font-weight="bold" fill="{clock_color}">{escape(scene.clock)}</tspan>'
                  f' s{escape(after)}</text>')


def _bars(scene: Scene, x: Callable[[float], float], top: float, lane_h: float, plot_width: float) -> list[str]:
    th = scene.theme
    if len(scene.start) > MERGE_ABOVE:
        return _merged_bars(scene, x, top, lane_h, plot_width)
    out: list[str] = []
    bar_h = lane_h * th.bar_fill
    offset = (lane_h - bar_h) / 2
    for i in range(len(scene.start)):
        task, lane = int(scene.task[i]), float(scene.lane[i])
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
        if code == RUNNING_STATE:
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
        y = top + float(scene.lane[i]) * lane_h + offset
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


def _merged_bars(scene: Scene, x: Callable[[float], float], top: float, lane_h: float,
                 plot_width: float) -> list[str]:
    """Thousands of bars: per task, the pieces that would share a pixel drawn as one rectangle, light
    for the spans and solid where they ran (without hatches or outlines, as the figure draws them)."""
    th = scene.theme
    bar_h = lane_h * th.bar_fill
    offset = (lane_h - bar_h) / 2
    pixel = scene.t_end / max(plot_width, 1.0)
    out: list[str] = []
    running = scene.seg_state == RUNNING_STATE
    pieces = ((scene.start, scene.end, scene.lane, scene.task, scene.light_colors),
              (scene.seg_start[running], scene.seg_end[running], scene.seg_lane[running], scene.seg_task[running],
               scene.colors))
    for task in np.unique(scene.task).tolist():
        for starts, ends, lanes, tasks, fills in pieces:
            pick = tasks == task
            fill = fills[task]
            a, b, rows = merge(starts[pick], ends[pick], lanes[pick], pixel * 0.5)
            out.extend(f'<rect x="{x(p):.1f}" y="{top + row * lane_h + offset:.1f}" '
                       f'width="{max(x(q) - x(p), 1):.1f}" height="{bar_h:.1f}" fill="{fill}"/>'
                       for p, q, row in zip(a.tolist(), b.tolist(), rows.tolist()))
    return out


def _bands(scene: Scene, x: Callable[[float], float], top: float, lane_h: float) -> list[str]:
    """Each band of folded lanes as stacked areas: running, waiting by reason, done (as `drawing` draws them)."""
    th = scene.theme
    out: list[str] = []
    for band in scene.bands:
        bottom = top + (band.centre + 0.5 + band.half) * lane_h - lane_h * (1 - th.bar_fill) / 2
        height = 2 * band.half * lane_h - lane_h * (1 - th.bar_fill)
        edges, states = _columns(band.edges, band.states.T)
        _, done = _columns(band.edges, band.done[:, None])
        scale = height / max(band.total, 1)
        xs = [x(edge) for edge in edges]
        layers = [(states[:, RUNNING_STATE], band.color, "")]
        layers += [(states[:, code], band.light,
                    _PATTERN_IDS.get(STATES[code], "") if scene.hatch and hatch_of(STATES[code], th) else "")
                   for code in range(len(STATES)) if code != RUNNING_STATE and states[:, code].any()]
        layers.append((done[:, 0], DONE_COLOR, ""))
        below = np.zeros(len(edges) - 1)
        for values, colour, pattern in layers:
            above = below + values
            upper = " ".join(f"{xs[i]:.1f},{bottom - v * scale:.1f} {xs[i + 1]:.1f},{bottom - v * scale:.1f}"
                             for i, v in enumerate(above.tolist()))
            lower = " ".join(f"{xs[i + 1]:.1f},{bottom - v * scale:.1f} {xs[i]:.1f},{bottom - v * scale:.1f}"
                             for i, v in reversed(list(enumerate(below.tolist()))))
            out.append(f'<polygon points="{upper} {lower}" fill="{colour}" stroke="none"/>')
            if pattern:
                out.append(f'<polygon points="{upper} {lower}" fill="url(#{pattern})" stroke="none"/>')
            below = above
        out.append(f'<rect x="{xs[0]:.1f}" y="{bottom - height:.1f}" width="{xs[-1] - xs[0]:.1f}" '
                   f'height="{height:.1f}" fill="none" stroke="{band.color}" stroke-width="0.8"/>')
    return out


def _series_strip(watched: SeriesStrip, scene: Scene, x: Callable[[float], float], top: float, height: float,
                  left: float, tick: float) -> list[str]:
    """A watched number as a filled step line, with its title above and its top value at the left."""
    th = scene.theme
    base = top + height
    small = _px(th.small_size, th)
    lines = (watched.title or watched.name).split("\n")
    out = [_text(left, top - tick * 0.4 - small * 0.25 - (len(lines) - 1 - k) * small * LINE, small, line,
                 th.text_color) for k, line in enumerate(lines)]
    out += [
        f'<line x1="{left:.1f}" y1="{base:.1f}" x2="{x(scene.t_end):.1f}" y2="{base:.1f}" '
        f'stroke="{th.grid_color}" stroke-width="0.8"/>',
        f'<text x="{left - 8:.1f}" y="{top + tick * 0.35:.1f}" font-size="{tick:.1f}" text-anchor="end" '
        f'fill="{th.text_color}">{decimal_comma(watched.top, 0)}</text>',
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
    starts = np.arange(0, len(values), group)
    sizes = np.diff(np.append(starts, len(values)))
    merged = np.add.reduceat(values, starts, axis=0) / sizes[:, None]
    merged_edges = [float(edges[0]), *edges[np.minimum(starts + group, len(values))].tolist()]
    return merged_edges, merged


def _legend_layout(scene: Scene) -> tuple[list[LegendEntry], int, float]:
    """The legend under the frame (where a right-hand legend would squeeze the lanes): entries, columns."""
    th = scene.theme
    if th.legend == "bottom":
        return list(scene.legend), scene.legend_columns, 0.0
    entries, _, columns, height = legend_layout(scene.legend, scene.width, replace(th, legend="bottom"))
    return entries, columns, height


def legend_height_px(entries: list[LegendEntry], columns: int, font: float) -> float:
    rows = math.ceil(len(entries) / max(columns, 1)) or 1
    return max((sum(_entry_height(entry, font) for entry in entries[k:k + rows])
                for k in range(0, len(entries), rows)), default=0.0)


def _entry_height(entry: LegendEntry, font: float) -> float:
    return (entry.label.count("\n") * LINE + LEGEND_ROW) * font


def _legend(scene: Scene, entries: list[LegendEntry], columns: int, width: float, top: float,
            font: float) -> list[str]:
    """Column by column, as matplotlib lays out a legend, centred under the frame."""
    th = scene.theme
    handle, pad, gap = LEGEND_HANDLE * font, LEGEND_TEXT_PAD * font, LEGEND_COLUMN_GAP * font
    rows = math.ceil(len(entries) / max(columns, 1)) or 1
    groups = [entries[k:k + rows] for k in range(0, len(entries), rows)]
    widths = [max(handle + pad + text_width(entry.label, th.font_size) * th.dpi for entry in group)
              for group in groups]
    x0 = (width - sum(widths) - gap * (len(groups) - 1)) / 2
    out = []
    for group, column_width in zip(groups, widths):
        y0 = top
        for entry in group:
            out.extend(_legend_entry(scene, entry, x0, y0, font))
            y0 += _entry_height(entry, font)
        x0 += column_width + gap
    return out


def _legend_entry(scene: Scene, entry: LegendEntry, x0: float, y0: float, font: float) -> list[str]:
    th = scene.theme
    handle_w, handle_h = LEGEND_HANDLE * font, font * 0.7
    box_y = y0 - font * 0.35 - handle_h / 2
    out = []
    if entry.style == "task":
        out.append(f'<rect x="{x0:.1f}" y="{box_y:.1f}" width="{handle_w:.1f}" height="{handle_h:.1f}" '
                   f'fill="{entry.color}"/>')
    elif entry.style in ("running", "waiting"):
        colors = entry.colors or (entry.color,)
        stripe = handle_w / len(colors)
        for k, color in enumerate(colors):
            fill = color if entry.style == "running" else to_hex(lighten(color, th.wait_lighten))
            out.append(f'<rect x="{x0 + k * stripe:.1f}" y="{box_y:.1f}" width="{stripe:.1f}" '
                       f'height="{handle_h:.1f}" fill="{fill}"/>')
        box = f'x="{x0:.1f}" y="{box_y:.1f}" width="{handle_w:.1f}" height="{handle_h:.1f}"'
        if entry.style == "waiting":
            if entry.hatch and entry.state in _PATTERN_IDS:
                out.append(f'<rect {box} fill="url(#{_PATTERN_IDS[entry.state]})"/>')
            out.append(f'<rect {box} fill="none" stroke="{entry.color}" stroke-width="0.6"/>')
    else:
        out.append(f'<rect x="{x0:.1f}" y="{box_y:.1f}" width="{handle_w:.1f}" height="{handle_h:.1f}" '
                   f'fill="none" stroke="{entry.color}" stroke-width="2"/>')
    for k, line in enumerate(entry.label.split("\n")):
        out.append(_text(x0 + handle_w + LEGEND_TEXT_PAD * font, y0 + k * font * LINE, font, line, th.text_color))
    return out
