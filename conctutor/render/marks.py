"""Instants drawn on the lanes: what a tool outside the recording measured on a thread at a moment.

    fig = timeline.plot(marks=[Mark(0.0123, thread_id, "perdeu o GIL"), ...])

A mark is a time (seconds from the block's start, as the spans' times), the thread
it happened on (``span.thread_id``) and what it was, in the words the legend shows.
`conctutor.course.microscope` makes them from the instructions a thread ran.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import NamedTuple

MARK_STYLES = (("v", "text_color"), ("X", "error_color"), ("D", "interrupted_color"))
"""The marker and theme colour of the first, second and third kind of mark (in order of first appearance)."""


class Mark(NamedTuple):
    time: float
    thread_id: int
    label: str


def check_marks(value: object) -> tuple[Mark, ...]:
    """``plot(marks=...)``: marks, or ``(tempo, thread_id, texto)`` triples, or a clear error in Portuguese."""
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"marks deve ser uma lista de (tempo em segundos, thread_id, texto); recebido {value!r}")
    marks = []
    for item in value:
        if not isinstance(item, tuple) or len(item) != 3:
            raise TypeError(f"cada marca deve ser (tempo em segundos, thread_id, texto); recebido {item!r}")
        time, thread, label = item
        if not isinstance(time, numbers.Real) or isinstance(time, bool) or not math.isfinite(time) or time < 0:
            raise ValueError(f"o tempo de uma marca deve ser um número de segundos finito, a partir de 0; "
                             f"recebido {time!r}")
        if not isinstance(thread, int) or isinstance(thread, bool):
            raise TypeError(f"o thread_id de uma marca deve ser um inteiro (o span.thread_id); recebido {thread!r}")
        if not isinstance(label, str) or not label.strip():
            raise TypeError(f"o texto de uma marca deve ser um texto não vazio (o que a legenda diz); "
                            f"recebido {label!r}")
        marks.append(Mark(float(time), thread, label))
    if len({m.label for m in marks}) > len(MARK_STYLES):
        raise ValueError(f"as marcas podem ter no máximo {len(MARK_STYLES)} textos diferentes (um símbolo para "
                         f"cada); recebidos {sorted({m.label for m in marks})}")
    return tuple(marks)
