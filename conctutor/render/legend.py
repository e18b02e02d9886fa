"""The legend of a figure: its entries (only what the figure draws) and how they fit beside or under it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..engine.model import STATES, STATUSES, State, Status
from .themes import Theme, hatch_of
from .typeset import LINE, text_width, wrap
from .words import STATE_WORDS, STATUS_LABELS

MARKED = (Status.ERROR, Status.INTERRUPTED, Status.RUNNING)
"""Statuses drawn with an outline and a marker at the bar's end."""

SWATCH_COLOURS = 4
"""A legend entry of a state shows at most this many of the colours of the tasks drawn in it."""

LEGEND_ROW = 1.7
"""Height of a row of the legend, in font sizes (the text, and matplotlib's label spacing)."""
LEGEND_HANDLE = 1.4
"""A legend swatch's width, in font sizes; then `LEGEND_TEXT_PAD` before its label."""
LEGEND_TEXT_PAD = 0.8
LEGEND_COLUMN_GAP = 1.0
LEGEND_BORDER = 0.4
RIGHT_LEGEND_SHARE = 0.22
"""A legend to the right takes at most this share of the figure's width: longer labels wrap."""


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


def legend_entries(status: np.ndarray, seg_state: np.ndarray, seg_length: np.ndarray, seg_task: np.ndarray,
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
        seen = np.flatnonzero(per_task >= least) if (per_task >= least).any() else [int(np.argmax(per_task))]
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
