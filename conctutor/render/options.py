"""The options of a figure (``timeline.plot()``, a live view), checked at the call with a clear error in Portuguese."""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..engine import validate

MAX_FIGSIZE = 50.0
"""The widest and tallest figure, in inches."""
MAX_PREDICTION = 3600.0
"""The longest prediction drawn, in seconds (an hour)."""

PLOT_OPTIONS = ("title", "theme", "figsize", "fig", "cpu", "series", "ideal", "prediction", "lanes", "marks")
"""The keywords of ``timeline.plot()`` (`conctutor.render.drawing.plot_timeline`)."""


def check_prediction(value: object, what: str = "a previsão") -> float:
    """A predicted total time in seconds, or a clear error."""
    return validate.number(value, what, 0, MAX_PREDICTION, unit="segundos", note="como 6 ou 2.5")


LANE_MODES = ("auto", "all")
"""``plot(lanes=...)``: fold lanes into bands when there are more than a figure shows, or draw them all."""


def check_lanes(value: object) -> str:
    """``lanes=``: ``"auto"`` (fold lanes into bands when there are too many to show) or ``"all"``."""
    if not isinstance(value, str) or value not in LANE_MODES:
        raise ValueError(f'lanes deve ser "auto" (agrupa as faixas quando há mais do que a figura mostra) ou '
                         f'"all" (uma faixa para cada tarefa ou thread, por mais que sejam); recebido {value!r}')
    return value


def check_options(options: Mapping[str, object], function: str = "plot()",
                  allowed: Sequence[str] = PLOT_OPTIONS) -> None:
    """A clear error for keywords that `function` does not take, naming the ones it does."""
    unknown = [name for name in options if name not in allowed]
    if not unknown:
        return
    hints = [f"{name!r} (seria {close[0]!r}?)" if (close := difflib.get_close_matches(name, allowed, 1)) else repr(name)
             for name in unknown]
    raise TypeError(f"{function} não tem a opção {', '.join(hints)}; as opções são: {', '.join(allowed)}")


def check_figsize(figsize: object) -> tuple[float, float] | None:
    """`figsize` as (width, height) in inches, or a clear error."""
    if figsize is None:
        return None
    if isinstance(figsize, (str, bytes)) or not isinstance(figsize, Sequence) or len(figsize) != 2 or not all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) for v in figsize):
        raise TypeError(f"figsize deve ser (largura, altura) em polegadas, como (10, 4); recebido {figsize!r}")
    width, height = (float(v) for v in figsize)
    if not (0 < width <= MAX_FIGSIZE and 0 < height <= MAX_FIGSIZE) or math.isnan(width + height):
        raise ValueError(f"figsize: largura e altura devem estar entre 0 e {MAX_FIGSIZE:g} polegadas (sem incluir 0); "
                         f"recebido {figsize!r}")
    return width, height


def scene_options(options: Mapping[str, Any], keep: Iterable[str] = ("title", "theme", "cpu", "series", "ideal",
                                                                       "prediction", "lanes")) -> dict[str, Any]:
    """The plot options that shape a scene (what the live frames take from ``timeline.plot``'s)."""
    return {name: options[name] for name in keep if name in options}
