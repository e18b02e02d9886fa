"""The live timeline: the figure grows in the notebook while the program runs.

    with record(live=True) as timeline:
        main()                  # bars appear and lengthen, the clock ticks
    # when the block ends, the final figure (timeline.plot()) takes its place

How it stays out of the program's way:

* the recorded code keeps the main thread; a daemon thread of the kernel
  takes a snapshot of the timeline about 15 times a second
  (``timeline.spans``, ``timeline.cpu``, ``timeline.makespan``);
* each frame is SVG text (`conctutor.render.svg`): about a millisecond of
  Python per frame, snapshot and sending included (``timeline.plot()`` as a
  PNG costs ~100 ms), so the GIL is almost always free when a task wakes up and the
  CPU strip does not fill with our own drawing; the browser draws;
* the block's end time is taken before the drawing thread is stopped and
  before the final figure is drawn, so neither counts in ``makespan``.

`benchmarks/bench_live.py` measures the result: the chapter's programs with
the live view on and off, and the refreshes per second achieved.

Where frames go is a *target*: a notebook cell output (`NotebookTarget`, the
default inside a Jupyter kernel), an ipywidgets ``HTML`` or ``Image`` widget
(`WidgetTarget`, for the slider panel), or anything with the same two methods
(the tests use a fake one). `auto_target` picks the cell output in a cell and
an ``HTML`` widget in a widget callback or inside an ``Output`` widget (which
ignores display updates). Outside a kernel there is no target: the program
runs normally and only the final timeline exists.

Entry points: ``record(live=True)``, or ``record(live=open_view(target,
**plot_options))`` with a chosen target; `conctutor.widgets.show_live` shows
live a function that records itself (what the panel's ``run_and_show`` uses).
Each frame is one snapshot of the timeline, laid out once (`conctutor.render.scene`)
and written as SVG (`conctutor.render.svg`).

For stored notebooks and nbval: the cell output is created once, at the start,
holding only a fixed ``text/plain``; every frame and the final figure replace
it in place (``update_display_data``). A front-end that applies updates
(JupyterLab, nbclient) ends with the normal PNG figure; nbval, which ignores
updates and skips PNG comparison, sees the same ``text/plain`` either way.
``CONCTUTOR_LIVE=0`` turns the frames off (the output is the same).
"""

from __future__ import annotations

import base64
import contextvars
import os
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..engine.model import STATUSES, Status
from .options import check_figsize, check_options, scene_options
from .scene import build_scene
from .svg import render
from .typeset import warm_up

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..engine.recording import LiveTimeline
    from ..engine.timeline import Timeline

RUNNING_STATUS = STATUSES.index(Status.RUNNING)
"""The code of `Status.RUNNING` in a timeline's status column (a task still running in a frame)."""

REFRESH_PER_SECOND = 15.0
"""Frames per second the live view aims at (at least 10 is the goal)."""

MAX_SHARE_INVERSE = 10.0
"""When the last frames took at least c seconds each, the next comes at least 10·c later."""

TEXT = "<Figure: linha do tempo do conctutor>"
"""The text/plain of the live output, the same from the first frame to the final figure."""


class Target(Protocol):
    """Where the live frames and the final figure go."""

    def show(self, svg: str, snapshot: Timeline) -> None: ...

    def finish(self, figure: Figure) -> None: ...


def live_enabled() -> bool:
    """False when ``CONCTUTOR_LIVE`` is ``0``/``false``/``off``/``no`` (frames off)."""
    return os.environ.get("CONCTUTOR_LIVE", "").strip().lower() not in ("0", "false", "off", "no", "nao", "não")


def in_kernel() -> bool:
    """True inside a Jupyter kernel (where rich output reaches a front-end)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


# --- targets ----------------------------------------------------------------------


class NotebookTarget:
    """The live figure as one cell output, replaced in place on every frame."""

    def __init__(self) -> None:
        from IPython.display import display

        self.handle = display({"text/plain": TEXT}, raw=True, display_id=True)

    def show(self, svg: str, snapshot: Timeline) -> None:
        self.handle.update({"image/svg+xml": svg, "text/plain": TEXT}, raw=True)

    def finish(self, figure: Figure) -> None:
        data, metadata = figure_bundle(figure)
        self.handle.update(data, metadata=metadata, raw=True)


class WidgetTarget:
    """Frames and the final figure into an ipywidgets ``HTML`` or ``Image`` widget.

    Widget updates reach the browser from any thread, also while a widget
    callback runs (an ``Output`` widget cannot take display updates).
    """

    def __init__(self, widget: Any) -> None:
        self.widget = widget
        self.is_image = type(widget).__name__ == "Image"

    def show(self, svg: str, snapshot: Timeline) -> None:
        if self.is_image:
            self.widget.format = "svg+xml"
            self.widget.value = svg.encode()
        else:
            self.widget.value = svg

    def finish(self, figure: Figure) -> None:
        png = _png(figure)
        if self.is_image:
            self.widget.format = "png"
            self.widget.value = png
        else:
            self.widget.value = (
                f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}" '
                f'alt="linha do tempo" style="max-width:100%"/>'
            )


def _png(figure: Figure) -> bytes:
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=figure.dpi, facecolor=figure.get_facecolor())
    return buffer.getvalue()


def figure_bundle(figure: Figure) -> tuple[dict[str, Any], dict[str, Any]]:
    """The figure as Jupyter shows it (IPython's formatters), with our fixed text/plain."""
    data: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None:
            data, metadata = shell.display_formatter.format(figure)
    except Exception:  # no IPython, or a formatter failed: plain PNG below
        data, metadata = {}, {}
    if not any(key.startswith("image/") for key in data):
        data = {"image/png": base64.b64encode(_png(figure)).decode()}
    data = dict(data)
    data["text/plain"] = TEXT
    return data, metadata


# --- the view ---------------------------------------------------------------------


@dataclass
class FrameInfo:
    """What one frame showed (kept for the benchmark and the tests)."""

    at: float
    """perf_counter() when the frame was sent."""
    spans: int
    running: int
    makespan: float
    cost: float
    """Seconds spent making and sending the frame."""


@dataclass
class LiveView:
    """Sends frames of a live `Timeline` to a target from a daemon thread.

    `start` begins, `stop` ends the frames (joining the thread), `finish`
    shows the final figure. ``frames`` describes every frame sent.
    """

    target: Target | None
    interval: float = 1.0 / REFRESH_PER_SECOND
    plot_options: dict[str, Any] = field(default_factory=dict)
    frames: list[FrameInfo] = field(default_factory=list)
    error: BaseException | None = None
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.target is not None and live_enabled():
            warm_up()  # the fonts that lay out texts load now, not in the drawing thread during the run

    def start(self, timeline: LiveTimeline) -> None:
        if self.target is None or not live_enabled():
            return
        # The copied context carries the kernel's "current cell" (ipykernel keeps
        # it in a context variable), so the frames reach this cell's output.
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._loop, timeline), name="conctutor-live", daemon=True
        )
        self._thread.start()

    def _loop(self, timeline: LiveTimeline) -> None:
        deadline = time.perf_counter()
        while True:
            try:
                self.frame(timeline)
            except Exception as error:  # never disturb the program: stop drawing, report at the end
                self.error = error
                return
            # costly frames (hundreds of spans) space the next ones out, so that
            # drawing takes no more than about a tenth of the time; one slow frame
            # (the first, a busy moment) does not
            recent = min(frame.cost for frame in self.frames[-3:]) if len(self.frames) > 1 else 0.0
            deadline += max(self.interval, MAX_SHARE_INVERSE * recent)
            delay = deadline - time.perf_counter()
            if delay < 0:  # late (a slow frame or a busy machine): do not try to catch up
                deadline, delay = time.perf_counter(), 0.0
            if self._stop.wait(delay):
                return

    def frame(self, timeline: LiveTimeline | Timeline) -> None:
        """Make one frame of `timeline` (live or finished) and send it to the target."""
        started = time.perf_counter()
        snapshot = timeline.snapshot() if hasattr(timeline, "snapshot") else timeline
        scene = build_scene(snapshot, **scene_options(self.plot_options))
        svg = render(scene)
        assert self.target is not None
        self.target.show(svg, snapshot)
        now = time.perf_counter()
        running = int((snapshot.columns.status == RUNNING_STATUS).sum())
        self.frames.append(FrameInfo(now, len(snapshot), running, snapshot.makespan, now - started))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def finish(self, timeline: LiveTimeline | Timeline) -> Figure | None:
        """Replace the live frame with the final figure; returns that figure."""
        if self.error is not None:
            warnings.warn(f"a linha do tempo ao vivo parou: {self.error!r}", RuntimeWarning, stacklevel=2)
        if self.target is None:
            return None
        figure = timeline.plot(**self.plot_options)
        self.target.finish(figure)
        return figure

    @property
    def refresh_rate(self) -> float:
        """Frames per second over the time the frames were sent."""
        if len(self.frames) < 2:
            return 0.0
        return (len(self.frames) - 1) / (self.frames[-1].at - self.frames[0].at)


def _current_request() -> tuple[str, str]:
    """(msg_type, msg_id) of what the kernel is handling: a cell or a widget callback."""
    from IPython import get_ipython

    kernel = get_ipython().kernel
    try:
        parent = kernel.get_parent("shell")
    except TypeError:  # older ipykernel
        parent = kernel.get_parent()
    header = (parent or {}).get("header", {})
    return header.get("msg_type", "execute_request"), header.get("msg_id", "")


def _captured_by_output_widget(msg_id: str) -> bool:
    """True inside ``with output:`` of an ipywidgets ``Output`` (it takes what we display)."""
    if not msg_id:
        return False
    try:
        from ipywidgets import Output
        from ipywidgets.widgets import widget as widget_module
    except ImportError:
        return False
    instances = getattr(widget_module, "_instances", None)
    if instances is None:  # ipywidgets 7
        instances = getattr(widget_module.Widget, "widgets", {})
    return any(isinstance(w, Output) and w.msg_id == msg_id for w in list(instances.values()))


def auto_target() -> Target | None:
    """Where frames go by default.

    In a cell: the cell's output (`NotebookTarget`). In a widget callback
    (a button of the panel) or inside ``with output:`` of an ``Output``
    widget: an ``HTML`` widget shown there, since an ``Output`` widget
    ignores display updates. Outside a Jupyter kernel: nowhere.
    """
    if not in_kernel():
        return None
    msg_type, msg_id = _current_request()
    if msg_type == "execute_request" and not _captured_by_output_widget(msg_id):
        return NotebookTarget()
    try:
        import ipywidgets
    except ImportError:
        return None
    from IPython.display import display

    html = ipywidgets.HTML(layout=ipywidgets.Layout(max_width="100%", overflow="auto"))
    display(html)
    return WidgetTarget(html)


def open_view(target: Target | str | None = "auto", **plot_options: Any) -> LiveView:
    """A `LiveView` for `target` (``"auto"``: see `auto_target`); `plot_options` go to ``timeline.plot``.

    Bad options raise here, before anything runs, as ``timeline.plot`` would raise them.
    """
    check_plot_options(plot_options)
    if target == "auto":
        target = auto_target()
    return LiveView(target, plot_options=plot_options)  # type: ignore[arg-type]


def check_plot_options(plot_options: dict[str, Any]) -> None:
    """The error ``timeline.plot(**plot_options)`` would give at the end of a run, now."""
    from ..engine.timeline import Timeline

    check_options(plot_options)
    check_figsize(plot_options.get("figsize"))
    build_scene(Timeline(), **scene_options(plot_options))
