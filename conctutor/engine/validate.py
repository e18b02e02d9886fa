"""One validator for what a student passes in: numbers in a range, and choices among a few.

Every check of the package goes through here, so every refusal reads the same
way, in Portuguese, at the call, saying what is allowed::

    number(0, "workers", 1, 64, whole=True)
    # ValueError: workers deve ser um número inteiro de 1 a 64; recebido 0

A bool is no number here (``True`` is not 1 worker), NaN and infinities are
refused, and a whole number must be an int (``2.0`` is not 2 workers).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")


def _words(low: float, high: float, whole: bool, unit: str) -> str:
    kind = "um número inteiro" if whole else "um número"
    return f"{kind}{f' de {unit}' if unit else ''} de {low:g} a {high:g}"


def number(value: object, what: str, low: float, high: float, *, whole: bool = False, unit: str = "",
           note: str = "") -> float:
    """`value` as a float (an int if `whole`) when it lies in ``[low, high]``; else a TypeError (not a
    number) or ValueError (out of range, NaN, infinite) naming `what` and what is allowed. `unit`
    (``"segundos"``) and `note` (why the limits, or an example) go into the message."""
    allowed = _words(low, high, whole, unit) + (f" ({note})" if note else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral if whole else numbers.Real):
        raise TypeError(f"{what} deve ser {allowed}; recebido {type(value).__name__}: {value!r}")
    given = float(value)
    if not math.isfinite(given):
        raise ValueError(f"{what} deve ser {allowed}; recebido {value!r}, que não é um número finito")
    if not low <= given <= high:
        why = "não pode ser negativo" if given < 0 <= low else f"é menor que {low:g}" if given < low else \
            f"é maior que {high:g}"
        raise ValueError(f"{what} deve ser {allowed}; recebido {value!r}, que {why}")
    return int(value) if whole else float(value)  # type: ignore[call-overload]


def choice(value: object, what: str, options: Iterable[T]) -> T:
    """`value` when it is one of `options`; else a ValueError naming them."""
    allowed = list(options)
    for option in allowed:
        if value == option and type(value) is type(option):
            return option
    raise ValueError(f"{what} deve ser {_either(allowed)}; recebido {value!r}")


def _either(options: Sequence[object]) -> str:
    shown = [repr(option) for option in options]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} ou {shown[-1]}"
