"""Rectangles for many bars at once, and fewer of them where they would share a pixel (numpy only:
the live frames use it without matplotlib)."""

from __future__ import annotations

from typing import Any

import numpy as np


def rects(starts: np.ndarray, ends: np.ndarray, lanes: np.ndarray, half: float) -> Any:
    """Vertices (n, 4, 2) of the rectangles [start, end] × [lane - half, lane + half]."""
    verts = np.empty((len(starts), 4, 2))
    verts[:, 0, 0] = verts[:, 1, 0] = starts
    verts[:, 2, 0] = verts[:, 3, 0] = ends
    verts[:, 0, 1] = verts[:, 3, 1] = lanes - half
    verts[:, 1, 1] = verts[:, 2, 1] = lanes + half
    return verts


def merge(starts: np.ndarray, ends: np.ndarray, lanes: np.ndarray, gap: float) -> tuple[np.ndarray, ...]:
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
