"""Which colour each task gets, and the arithmetic of colours. No matplotlib or NumPy here.

The tasks named in `keep_colours` take the palette's first colours, in that
order, in every figure: the chapter's tasks (`conctutor.course.tasks`
registers them when it is imported) are drawn alike in every notebook and
image. Other tasks take the next free colours.
"""

from __future__ import annotations

from collections.abc import Sequence

_kept: tuple[str, ...] = ()


def keep_colours(names: Sequence[str]) -> None:
    """The tasks that take the palette's first colours, in this order, in every figure from now on."""
    global _kept
    _kept = tuple(names)


def kept_colours() -> tuple[str, ...]:
    """The tasks given to `keep_colours`, in order."""
    return _kept


def task_colors(names: Sequence[str], palette: Sequence[str]) -> list[str]:
    """A colour per task: the kept tasks always take the same ones; others the next free ones."""
    kept = {name: position for position, name in enumerate(_kept) if position < len(palette)}
    colors = {name: palette[kept[name]] for name in names if name in kept}
    taken = {kept[name] for name in colors}
    free = [i for i in range(len(palette)) if i not in taken] or list(range(len(palette)))
    others = [name for name in names if name not in colors]
    for k, name in enumerate(others):
        colors[name] = palette[free[k % len(free)]]
    return [colors[name] for name in names]


def lighten(color: str, amount: float) -> tuple[float, float, float]:
    """`color` mixed with white: 0 keeps it, 1 makes it white."""
    r, g, b = hex_rgb(color)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)


def hex_rgb(color: str) -> tuple[float, float, float]:
    named = {"white": "#FFFFFF", "black": "#000000"}
    text = named.get(color, color).lstrip("#")
    return (int(text[0:2], 16) / 255, int(text[2:4], 16) / 255, int(text[4:6], 16) / 255)


def to_hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(c * 255):02x}" for c in rgb)
