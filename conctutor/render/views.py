"""What the engine asks of the render layer, in one place: a figure, a Perfetto trace and the lanes' labels.

The engine imports this module when a timeline is drawn, exported or labelled
(`Timeline.plot`, `Timeline.to_perfetto`, `Timeline.labels`), never at its
own import. matplotlib loads only when a figure is drawn: `drawing` and
`perfetto` are imported inside the functions that use them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .labels import lane_labels, process_labels

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..engine.timeline import Timeline

__all__ = ["lane_labels", "plot", "process_labels", "to_perfetto"]


def plot(timeline: Timeline, **options: Any) -> Figure:
    """`Timeline.plot`: see `conctutor.render.drawing.plot_timeline` for the options."""
    from .drawing import plot_timeline

    return plot_timeline(timeline, **options)


def to_perfetto(timeline: Timeline, path: str | os.PathLike[str]) -> None:
    """`Timeline.to_perfetto`: see `conctutor.render.perfetto.write_perfetto`."""
    from .perfetto import write_perfetto

    write_perfetto(timeline, path)
