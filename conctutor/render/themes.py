"""Themes for timeline figures: how big, which colours, which hatches. No matplotlib import here.

    import conctutor
    conctutor.use_theme("projetor")    # every later figure: big, for a projector
    timeline.plot(theme="padrao")      # one figure in another theme

This module is light on purpose: ``import conctutor`` (which every worker
process does) must not pay for importing matplotlib.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..engine.model import State

__all__ = ["OKABE_ITO", "STATE_HATCHES", "THEMES", "Theme", "get_theme", "hatch_of", "use_theme"]

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
"""Okabe & Ito (2008): blue, orange, bluish green, reddish purple, sky blue,
vermilion, yellow, black — distinguishable with every common colour-vision
deficiency."""

@dataclass(frozen=True)
class Theme:
    """How a timeline figure looks. Sizes are in inches and points.

    Make a variant with `dataclasses.replace`, e.g.
    ``replace(get_theme("padrao"), figure_width=14)``, and pass it as
    ``theme=`` or to `use_theme`.
    """

    name: str = "padrao"
    figure_width: float = 10.0
    dpi: float = 100.0
    max_height: float = 12.0
    """The figure never gets taller than this; lanes get thinner instead."""
    lane_height: float = 0.42
    """Height of one lane while there is room (it shrinks when there are many)."""
    bar_fill: float = 0.72
    """Fraction of a lane's height covered by its bars."""
    cpu_row_height: float = 0.3
    max_cpu_height: float = 2.0
    title_size: float = 14.0
    font_size: float = 11.0
    """Stats line, axis labels, legend."""
    tick_size: float = 10.0
    """Time ticks, lane and core labels (lane labels shrink for many lanes)."""
    min_font_size: float = 5.0
    bar_label_size: float = 9.0
    small_size: float = 9.0
    """Secondary text: the CPU strip's heading and notes."""
    palette: tuple[str, ...] = OKABE_ITO[:7]
    wait_lighten: float = 0.62
    """How much a waiting bar is mixed with white (0: same as running, 1: white)."""
    hatch: str | None = "////"
    """The hatch of waiting for I/O; the other reasons to wait have hatches of their own (`STATE_HATCHES`)."""
    hatch_max_spans: int = 300
    """Hatch waiting bars only when there are at most this many spans (hatching is slow)."""
    edge_width: float = 0.8
    status_width: float = 2.0
    """Width of the outline of failed and interrupted tasks."""
    marker_size: float = 9.0
    error_color: str = "#B2182B"
    interrupted_color: str = "#333333"
    text_color: str = "#1A1A1A"
    grid_color: str = "#D0D0D0"
    cpu_color: str = "#4D4D4D"
    background: str = "white"
    bar_labels: bool = True
    """Write task names on bars that are wide enough for them."""
    max_bar_labels: int = 40
    """No names on bars when there are more spans than this."""
    legend: str = "right"
    """Where the legend goes: ``"right"`` of the lanes or ``"bottom"`` of the figure."""


THEMES: dict[str, Theme] = {
    "padrao": Theme(),
    "projetor": Theme(
        name="projetor",
        # 1024 × 768 pixels at this dpi: fonts are >= 20 pt at that size.
        figure_width=10.24,
        dpi=100.0,
        max_height=7.68,
        lane_height=0.95,
        bar_fill=0.8,
        cpu_row_height=0.42,
        max_cpu_height=1.7,
        title_size=26.0,
        font_size=21.0,
        tick_size=20.0,
        min_font_size=9.0,
        bar_label_size=20.0,
        small_size=20.0,
        # no yellow or sky blue: too pale on a washed-out projector image
        palette=("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9"),
        wait_lighten=0.55,
        hatch="///",
        edge_width=2.0,
        status_width=4.0,
        marker_size=20.0,
        error_color="#B2182B",
        interrupted_color="#000000",
        text_color="#000000",
        grid_color="#B0B0B0",
        cpu_color="#222222",
        bar_labels=True,
        max_bar_labels=30,
        legend="bottom",
    ),
}
"""The built-in themes: ``"padrao"`` (laptop screen) and ``"projetor"`` (1024×768 projector)."""

_current: Theme = THEMES["padrao"]
_ALLOWED = f"use um destes: {', '.join(repr(name) for name in THEMES)} (ou um objeto Theme)"


def get_theme(theme: str | Theme | None = None) -> Theme:
    """The `Theme` with this name (``None``: the one chosen with `use_theme`)."""
    if theme is None:
        return _current
    if isinstance(theme, Theme):
        return theme
    if isinstance(theme, str):
        key = theme.strip().lower().replace("ã", "a")
        if key in THEMES:
            return THEMES[key]
    raise ValueError(f"tema desconhecido: {theme!r}; {_ALLOWED}")


def use_theme(theme: str | Theme) -> Theme:
    """Use this theme for every figure drawn from now on; returns it.

    ``use_theme("projetor")`` before class, ``use_theme("padrao")`` after.
    """
    global _current
    if theme is None:  # get_theme(None) means "the current one": here it would change nothing, silently
        raise ValueError(f"use_theme precisa do nome de um tema; {_ALLOWED}")
    _current = get_theme(theme)
    return _current


STATE_HATCHES = {
    State.IO: "/",
    State.BLOCKED: "x",
    State.GIL: ".",
    State.READY: "\\",
    State.QUEUED: "-",
    State.WAITING: "",
}
"""Each reason to wait has its own hatch (repeated to the theme's density); "esperando" has none."""


def hatch_of(state: State, theme: Theme) -> str:
    base = STATE_HATCHES[state]
    if not base or not theme.hatch:
        return ""
    return base * max(1, len(theme.hatch) // (2 if base in ".x" else 1))
