"""Text as the figures set it: how wide it is, and where it breaks to fit.

Every text is measured with the font the figures use (DejaVu Sans, which
matplotlib ships; the widest of the fonts the SVG names) and wrapped onto more
lines where the figure is too narrow for it. matplotlib is imported when the
first text is measured (`warm_up` does it ahead of time).
"""

from __future__ import annotations

import functools
import re
import threading
from typing import Any

LINE = 1.25
"""Height of a line of text, in font sizes."""

_advances: dict[tuple[str, bool], float] = {}
_advances_lock = threading.Lock()


@functools.cache
def _fonts() -> tuple[Any, Any]:
    """DejaVu Sans and DejaVu Sans Bold as matplotlib ships them (imported here, lazily: see `warm_up`)."""
    import os

    import matplotlib
    from matplotlib import ft2font

    folder = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
    fonts = []
    for file in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"):
        font = ft2font.FT2Font(os.path.join(folder, file))
        font.set_size(72, 72)  # one point per pixel: advances come out in points at 72 pt, i.e. in ems × 72
        fonts.append(font)
    return fonts[0], fonts[1]


def warm_up() -> None:
    """Load the fonts that measure text now, not in the middle of a recording (the live view's thread)."""
    _fonts()


def _advance(char: str, bold: bool) -> float:
    """The width of `char` in ems; a character the font lacks counts as a wide one (1 em)."""
    key = (char, bold)
    width = _advances.get(key)
    if width is None:
        from matplotlib import ft2font

        font = _fonts()[bold]
        with _advances_lock:  # FT2Font keeps state between calls
            if font.get_char_index(ord(char)) == 0:
                width = 1.0
            else:
                glyph = font.load_char(ord(char), flags=ft2font.LoadFlags.NO_HINTING)
                width = glyph.linearHoriAdvance / 65536 / 72
        _advances[key] = width
    return width


@functools.lru_cache(maxsize=4096)  # a frame measures the same texts as the one before
def text_width(text: str, size: float, bold: bool = False) -> float:
    """How wide `text` is at `size` points, in inches (the widest of its lines; kerning not counted)."""
    return max((sum(_advance(char, bold) for char in line) for line in text.split("\n")), default=0.0) * size / 72


_BREAKS = (" · ", ": ", " (", " ")
"""Where a line may break, best first: between the parts of a stats line, after a colon, before a
parenthesis, at a space."""


def wrap(text: str, width: float, size: float, bold: bool = False) -> tuple[str, ...]:
    """`text` broken into lines no wider than `width` inches at `size` points."""
    if not text or text_width(text, size, bold) <= width:
        return (text,)
    return tuple(_wrap(text, width, size, bold, 0))


def _wrap(text: str, width: float, size: float, bold: bool, level: int) -> list[str]:
    if text_width(text, size, bold) <= width:
        return [text]
    if level == len(_BREAKS):  # one word wider than the room: break it anywhere
        lines, line = [], ""
        for char in text:
            if line and text_width(line + char, size, bold) > width:
                lines.append(line)
                line = ""
            line += char
        return [*lines, line]
    separator = _BREAKS[level]
    if separator == " (":
        pieces, joint = re.split(r" (?=\()", text), " "
    elif separator == ": ":
        pieces, joint = re.split(r"(?<=:) ", text), " "
    else:
        pieces, joint = text.split(separator), separator
    if len(pieces) == 1:
        return _wrap(text, width, size, bold, level + 1)
    lines = []
    line = ""
    for piece in pieces:
        candidate = f"{line}{joint}{piece}" if line else piece
        if line and text_width(candidate, size, bold) > width:
            lines.extend(_wrap(line, width, size, bold, level + 1))
            line = piece
        else:
            line = candidate
    lines.extend(_wrap(line, width, size, bold, level + 1))
    return lines

