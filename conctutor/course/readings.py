"""Conclusões que os notebooks imprimem: o número medido, a sua leitura e, se for o caso, um aviso.

    print(conclusao("threads / processos", com_threads.makespan / com_processos.makespan,
                    esperado=2.0, execucoes=[com_threads, com_processos]))
    # threads / processos: 2,03× → quase o dobro
    # ... or, on a busy laptop:
    # threads / processos: 1,21× → um pouco mais ⚠ outros programas ocuparam os núcleos que estas tarefas
    #   queriam (elas esperaram a vez por cerca de 1,9 s): com os núcleos livres, seria cerca de 2×

Every line has the same shape, ``<o que> <número> → <leitura>[ ⚠ <aviso>]``, so
that a reader sees the number and what it means together, and so that the
notebooks' tests (nbval) can set aside what a run decides: the number, the
reading after ``→``, and the warning after ``⚠`` (``tests/sanitize.cfg``).
The reading and the warning are in Portuguese; the names of the functions are
the notebooks' (``conclusao``) and the package's (``ratio_reading``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from ..engine.contention import NOTICEABLE_S, NOTICEABLE_SHARE
from ..render.words import decimal_comma

OFF_THE_LESSON = 0.3
"""How far (as a share) a measured ratio may be from the lesson's before the line says so."""


def ratio_reading(ratio: float) -> str:
    """A ratio in words: ``"quase igual"``, ``"quase o dobro"``, ``"cerca de 3 vezes"``, ``"cerca da metade"``."""
    if not math.isfinite(ratio) or ratio <= 0:
        return "sem comparação"
    larger = ratio >= 1
    times = ratio if larger else 1 / ratio
    if times < 1.12:
        return "quase igual"
    if times < 1.6:
        return "um pouco mais" if larger else "um pouco menos"
    if times < 1.9:
        return "quase o dobro" if larger else "quase a metade"
    if times < 2.2:
        return "cerca do dobro" if larger else "cerca da metade"
    return f"cerca de {round(times)} vezes" if larger else f"cerca de 1/{round(times)}"


def delay_warning(runs: Iterable[Any]) -> str:
    """``"⚠ outros programas ocuparam ..."`` when, in any of the runs, our runnable tasks waited for a core
    that another program held (`Timeline.others_delay`) long enough to change the numbers; else ``""``."""
    worst = 0.0
    for run in runs:
        delay = getattr(run, "others_delay", None)
        makespan = getattr(run, "makespan", 0.0) or 0.0
        if delay is not None and delay > max(NOTICEABLE_SHARE * makespan, NOTICEABLE_S):
            worst = max(worst, delay)
    if not worst:
        return ""
    return ("⚠ outros programas ocuparam os núcleos que estas tarefas queriam "
            f"(elas esperaram a vez por cerca de {decimal_comma(worst, 1 if worst >= 1 else 2)} s)")


def conclusao(o_que: str, razao: float, *, esperado: float | None = None, execucoes: Iterable[Any] = (),
              unidade: str = "×") -> str:
    """Uma linha com o número medido, a sua leitura e um aviso quando a execução não mostra a lição.

    o_que:     o que foi comparado, como ``"threads / processos"``.
    razao:     o número medido (uma razão entre dois tempos, por exemplo).
    esperado:  o que a lição espera numa máquina livre (``2.0``: o dobro), para o aviso dizer.
    execucoes: as linhas do tempo comparadas: o aviso olha se outros programas atrasaram as tarefas.
    """
    line = f"{o_que}: {decimal_comma(razao)}{unidade} → {ratio_reading(razao)}"
    lesson = "" if esperado is None else decimal_comma(esperado, 0 if esperado == round(esperado) else 1) + unidade
    warning = delay_warning(execucoes)
    if warning:
        return f"{line} {warning}" + (f": com os núcleos livres, seria cerca de {lesson}" if lesson else "")
    if esperado is not None and razao > 0 and abs(razao / esperado - 1) > OFF_THE_LESSON:
        return f"{line} ⚠ a lição espera cerca de {lesson}: esta execução não mostrou isso; rode de novo"
    return line
