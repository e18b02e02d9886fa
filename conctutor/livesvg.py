"""One frame of the live timeline, as SVG text.

Why SVG built by hand and not matplotlib: on the 2-core development box,
``timeline.plot()`` plus its PNG costs about 100 ms, and even a stripped-down
figure that reuses its artists about 30 ms, all of it holding the GIL in the
notebook's kernel. Ten of those a second would take a third of a core or more
from the program being recorded, and would show up in the per-core CPU strip
as work that the program never did. Writing this SVG text takes about 0.2 ms
for the chapter's programs; the browser draws it.

The frame copies the look of `conctutor.drawing.plot_timeline` (same theme,
colours, lanes, CPU strip, stats line), so when the run ends and the final
matplotlib figure replaces it, nothing jumps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from .cpu import CpuUsage
from .drawing import Theme, _br, _lighten, _task_colors, get_theme
from .spans import ERROR, INTERRUPTED, RUNNING, Span
from .timeline import ideal_time

MAX_CPU_COLUMNS = 240
"""The CPU strip is averaged down to at most this many columns (a long run
would otherwise make every frame bigger)."""

_NICE = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)


@dataclass(frozen=True)
class Snapshot:
    """What one frame shows: the timeline as it was at one moment."""

    spans: list[Span]
    cpu: CpuUsage
    makespan: float
    cores: int
    live: bool = True


def nice_ceiling(value: float) -> float:
    """The smallest 'round' number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k) >= value."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in _NICE:
        if step * power >= value * (1 - 1e-9):
            return step * power
    return 10 * power


def axis_end(snapshot: Snapshot) -> float:
    """Where the time axis ends: past 'now' and past the end each running task asked for.

    It moves in round steps, so the picture does not rescale on every frame.
    """
    latest = snapshot.makespan
    for span in snapshot.spans:
        latest = max(latest, span.end)
        if span.status == RUNNING and span.seconds is not None:
            latest = max(latest, span.start + span.seconds)
    return nice_ceiling(latest * 1.05)


def _ticks(end: float) -> list[float]:
    step = nice_ceiling(end / 6)
    count = int(end / step + 1e-9)
    return [i * step for i in range(count + 1)]


def _px(points: float, theme: Theme) -> float:
    return points * theme.dpi / 72


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(c * 255):02x}" for c in rgb)


def render(snapshot: Snapshot, theme: str | Theme | None = None) -> str:
    """The SVG text of one frame."""
    th = get_theme(theme)
    spans = snapshot.spans
    workers = list(dict.fromkeys(span.worker for span in spans))
    names = list(dict.fromkeys(span.name for span in spans))
    colors = _task_colors(names, th.palette)
    font, tick, small = _px(th.font_size, th), _px(th.tick_size, th), _px(th.title_size * 0.85, th)

    width = th.figure_width * th.dpi
    label_width = max([len(w) for w in workers] + [10]) * tick * 0.56 + 14
    left, right = label_width, tick * 1.6
    plot_width = max(width - left - right, 100.0)
    top = small * 1.9
    lane_h = max(_px(th.lane_height * 72, th), tick * 1.5)
    lanes_h = max(len(workers), 1) * lane_h
    n_cores = snapshot.cpu.cores or snapshot.cores
    core_h = max(_px(th.cpu_row_height * 72, th), tick * 1.1)
    cpu_top = top + lanes_h + tick * 0.8 + small * 1.4
    cpu_h = n_cores * core_h
    height = cpu_top + cpu_h + tick * 2.6

    end = axis_end(snapshot)

    def x(t: float) -> float:
        return left + max(0.0, min(t, end)) / end * plot_width

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="DejaVu Sans, Arial, sans-serif" '
        f'data-conctutor-frame="{len(spans)}">',
        f'<defs><pattern id="espera" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" stroke="{th.text_color}" '
        f'stroke-opacity="0.35" stroke-width="1"/></pattern></defs>',
        f'<rect width="100%" height="100%" fill="{th.background}"/>',
    ]
    # the stats line, with the clock in it: shrunk to fit the width
    ideal = ideal_time(spans, snapshot.cores) if spans else 0.0
    cores = f"{snapshot.cores} núcleo" + ("s" if snapshot.cores != 1 else "")
    state = "● gravando… tempo até agora" if snapshot.live else "tempo total"
    rest = f" s · ideal: {_br(ideal)} s · {cores}"
    chars = len(state) + 2 + len(_br(snapshot.makespan)) + len(rest)
    size = min(small, (width - left - right) / (chars * 0.56))
    clock_color = th.error_color if snapshot.live else th.text_color
    out.append(
        f'<text x="{left:.1f}" y="{small * 1.2:.1f}" font-size="{size:.1f}" fill="{th.text_color}">'
        f'{state}: <tspan font-weight="bold" fill="{clock_color}">{_br(snapshot.makespan)}</tspan>{rest}</text>'
    )
    # grid and time ticks
    axis_bottom = cpu_top + cpu_h
    for t in _ticks(end):
        out.append(
            f'<line x1="{x(t):.1f}" y1="{top:.1f}" x2="{x(t):.1f}" y2="{top + lanes_h:.1f}" '
            f'stroke="{th.grid_color}" stroke-width="0.8"/>'
            f'<text x="{x(t):.1f}" y="{axis_bottom + tick * 1.2:.1f}" font-size="{tick:.1f}" text-anchor="middle" '
            f'fill="{th.text_color}">{_br(t, 2 if end < 1 else 1).rstrip("0").rstrip(",")}</text>'
        )
    out.append(
        f'<text x="{left + plot_width / 2:.1f}" y="{axis_bottom + tick * 2.4:.1f}" font-size="{font:.1f}" '
        f'text-anchor="middle" fill="{th.text_color}">tempo (s)</text>'
    )
    # lanes
    bar_h = lane_h * th.bar_fill
    lane_of = {worker: i for i, worker in enumerate(workers)}
    for i, worker in enumerate(workers):
        y = top + (i + 0.5) * lane_h
        out.append(
            f'<text x="{left - 8:.1f}" y="{y + tick * 0.35:.1f}" font-size="{tick:.1f}" text-anchor="end" '
            f'fill="{th.text_color}">{escape(worker)}</text>'
        )
    if not spans:
        out.append(
            f'<text x="{left + plot_width / 2:.1f}" y="{top + lanes_h / 2 + font * 0.35:.1f}" font-size="{font:.1f}" '
            f'text-anchor="middle" font-style="italic" fill="{th.text_color}">nenhuma tarefa gravada (ainda)</text>'
        )
    for span in spans:
        color = colors[span.name]
        y = top + lane_of[span.worker] * lane_h + (lane_h - bar_h) / 2
        x0, x1 = x(span.start), max(x(span.end), x(span.start) + 1)
        out.append(
            f'<rect x="{x0:.1f}" y="{y:.1f}" width="{x1 - x0:.1f}" height="{bar_h:.1f}" '
            f'fill="{_hex(_lighten(color, th.wait_lighten))}" stroke="{color}" stroke-width="{th.edge_width:.1f}"/>'
        )
        if th.hatch and len(spans) <= th.hatch_max_spans:
            out.append(f'<rect x="{x0:.1f}" y="{y:.1f}" width="{x1 - x0:.1f}" height="{bar_h:.1f}" fill="url(#espera)"/>')
        for a, b in span.running:
            ra, rb = x(a), max(x(b), x(a) + 1)
            out.append(f'<rect x="{ra:.1f}" y="{y:.1f}" width="{rb - ra:.1f}" height="{bar_h:.1f}" fill="{color}"/>')
        outline = {ERROR: (th.error_color, ""), INTERRUPTED: (th.interrupted_color, ' stroke-dasharray="6 4"'),
                   RUNNING: (th.text_color, ' stroke-dasharray="2 3"')}.get(span.status)
        if outline:
            out.append(
                f'<rect x="{x0:.1f}" y="{y:.1f}" width="{x1 - x0:.1f}" height="{bar_h:.1f}" fill="none" '
                f'stroke="{outline[0]}" stroke-width="{th.status_width:.1f}"{outline[1]}/>'
            )
        label = _px(th.bar_label_size, th)
        if th.bar_labels and len(spans) <= th.max_bar_labels and x1 - x0 > (len(span.name) * 0.6 + 1.2) * label:
            out.append(
                f'<text x="{(x0 + x1) / 2:.1f}" y="{y + bar_h / 2 + label * 0.35:.1f}" font-size="{label:.1f}" '
                f'text-anchor="middle" fill="{th.text_color}" stroke="white" stroke-width="3" paint-order="stroke">'
                f"{escape(span.name)}</text>"
            )
    # the CPU strip
    out.append(
        f'<text x="{left:.1f}" y="{cpu_top - small * 0.45:.1f}" font-size="{_px(th.small_size, th):.1f}" '
        f'fill="{th.text_color}">uso de cada núcleo da CPU (0–100 %)</text>'
    )
    out.extend(_cpu_strip(snapshot.cpu, n_cores, x, cpu_top, core_h, left, plot_width, tick, th))
    # now
    if snapshot.live:
        now = x(snapshot.makespan)
        out.append(
            f'<line x1="{now:.1f}" y1="{top - 4:.1f}" x2="{now:.1f}" y2="{axis_bottom:.1f}" '
            f'stroke="{th.error_color}" stroke-width="2"/>'
        )
    out.append("</svg>")
    return "".join(out)


def _cpu_strip(
    usage: CpuUsage, n_cores: int, x, top: float, core_h: float, left: float, plot_width: float, tick: float, th: Theme
) -> list[str]:
    out = []
    fill = core_h * 0.85
    light = _hex(_lighten(th.cpu_color, 0.9))
    for core in range(n_cores):
        base = top + (core + 1) * core_h
        out.append(
            f'<rect x="{left:.1f}" y="{base - fill:.1f}" width="{plot_width:.1f}" height="{fill:.1f}" fill="{light}"/>'
            f'<text x="{left - 8:.1f}" y="{base - core_h / 2 + tick * 0.35:.1f}" font-size="{tick:.1f}" '
            f'text-anchor="end" fill="{th.text_color}">núcleo {core}</text>'
        )
    edges, percent = _columns(usage)
    for core in range(min(n_cores, usage.cores)):
        base = top + (core + 1) * core_h
        points = [f"{x(edges[0]):.1f},{base:.1f}"]
        for i, row in enumerate(percent):
            y = base - min(max(row[core], 0.0), 100.0) / 100 * fill
            points.append(f"{x(edges[i]):.1f},{y:.1f} {x(edges[i + 1]):.1f},{y:.1f}")
        points.append(f"{x(edges[-1]):.1f},{base:.1f}")
        out.append(
            f'<polygon points="{" ".join(points)}" fill="{th.cpu_color}" fill-opacity="0.75" '
            f'stroke="{th.cpu_color}" stroke-width="0.6"/>'
        )
    return out


def _columns(usage: CpuUsage) -> tuple[list[float], list[Sequence[float]]]:
    """Sample edges and per-core percentages, averaged down to at most MAX_CPU_COLUMNS."""
    if not usage.times:
        return [usage.start], []
    edges = [usage.start, *usage.times]
    percent: list[Sequence[float]] = list(usage.percent)
    group = math.ceil(len(percent) / MAX_CPU_COLUMNS)
    if group > 1:
        merged_edges, merged = [edges[0]], []
        for i in range(0, len(percent), group):
            rows = percent[i : i + group]
            merged.append([sum(column) / len(rows) for column in zip(*rows)])
            merged_edges.append(edges[min(i + group, len(percent))])
        edges, percent = merged_edges, merged
    return edges, percent
