"""The words and numbers a figure, a live frame and a printed summary show, in Portuguese.

Numbers are written the Brazilian way (``9,00 s``). The words of the states
(`STATE_WORDS`) and of the marked statuses (`STATUS_LABELS`) are the
drawing's: the data keep the model's English codes. Names from a run (tasks,
lanes, watched numbers) may hold anything: `shown` makes them drawable.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..engine.contention import noticeable_delay
from ..engine.model import Lane, LaneRole, State, Status

if TYPE_CHECKING:
    from ..engine.timeline import Timeline
    from .folding import Row

STATUS_LABELS = {Status.ERROR: "erro (exceção)", Status.INTERRUPTED: "interrompida", Status.RUNNING: "ainda rodando"}
"""What the legend calls the statuses marked at a bar's end (`legend.MARKED`)."""

STATE_WORDS: dict[State, str] = {
    State.RUNNING: "rodando (na CPU)",
    State.GIL: "esperando o GIL",
    State.READY: "pronta (sem núcleo livre)",
    State.IO: "E/S",
    State.BLOCKED: "bloqueada (trava, fila, evento)",
    State.QUEUED: "na fila",
    State.WAITING: "esperando",
}
"""What each state is called on screen, the same in every figure and in the notebooks' prose; in this
order in a legend. The data (events, saved runs) keep `State`'s English codes."""

CPU_TITLE = "uso de cada núcleo da CPU (0–100 %)"
CPU_TITLE_OURS = "uso de cada núcleo da CPU (0–100 %): escuro = este programa, claro = outros programas"
CPU_TITLE_SHADED = "uso de cada núcleo da CPU (mais escuro = mais ocupado)"
NO_TASKS = "nenhuma tarefa gravada (ainda)"
NOT_SAMPLED = "sem amostras do sistema aqui: rodando e esperando vêm só do que as tarefas anotaram"


def decimal_comma(value: float, digits: int = 2) -> str:
    """A number the Brazilian way, with `digits` decimals after a comma: ``decimal_comma(9.5) == "9,50"``."""
    return f"{value:.{digits}f}".replace(".", ",")


def format_seconds(seconds: float, digits: int = 2) -> str:
    """Seconds as every figure and panel prints them: ``"9,00 s"`` (decimal comma)."""
    return f"{decimal_comma(seconds, digits)} s"


def thousands(count: int) -> str:
    """A whole number the Brazilian way: ``thousands(9990) == "9.990"``."""
    return f"{count:,}".replace(",", ".")


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    return f"{count} {singular if count == 1 else (plural_form or singular + 's')}"


def shown(text: str) -> str:
    """`text` as it can be drawn: lone surrogates and control characters become ``�``, tabs and
    line breaks spaces (a name from a run is one line, and fonts and XML take neither)."""
    return "".join(
        " " if char in "\t\n\r" else "\ufffd" if unicodedata.category(char) in ("Cs", "Cc") else char
        for char in text
    )


OTHERS_LIMIT_CORES = 0.25
"""Without the sampler (macOS): other programs using more than a quarter of one core, on average, get a
warning, as nothing tells whether our tasks waited for them."""


def others_warning(timeline: Timeline, short: bool = False) -> str:
    """A warning in Portuguese when other programs took cores that our runnable tasks wanted (they
    waited "pronta" for them: `Timeline.others_delay`), else ``""``. Programs that only wait, or
    that keep a core free, get none: JupyterLab and the browser are always busy."""
    delay = timeline.others_delay
    if delay is not None:
        delay = noticeable_delay(timeline)
        if not delay:
            return ""
        waited = format_seconds(delay, 1 if delay >= 1 else 2)
        head = f"⚠ outros programas ocuparam os núcleos: as tarefas esperaram a vez por {waited}"
        return head if short else f"{head}, e os tempos medidos ficaram maiores do que numa máquina livre"
    share = timeline.others_cpu_share
    if share is None or share * timeline.cores <= OTHERS_LIMIT_CORES:
        return ""
    head = f"⚠ outros programas usaram {decimal_comma(share * 100, 0)} % da CPU"
    if short:
        return head
    return (f"{head} durante a gravação (cerca de {decimal_comma(share * timeline.cores, 1)} núcleo): "
            "os tempos medidos podem ficar maiores do que numa máquina livre")


def stats_line(timeline: Timeline, live: bool, ideal: bool = True) -> str:
    """``tempo total: 4,01 s · ideal: 4,00 s · 2 núcleos`` (without the ideal time when `ideal` is False)."""
    head = "gravando… tempo até agora" if live else "tempo total"
    parts = [f"{head}: {format_seconds(timeline.makespan)}"]
    if ideal:
        parts.append(f"ideal: {format_seconds(timeline.ideal_time)}")
    parts.append(plural(timeline.cores, "núcleo") + ("" if timeline.gil_enabled else " · sem GIL"))
    return " · ".join(parts)


def prediction_line(predicted: float, measured: float | None) -> str:
    """``previsto 6,00 s · medido 4,01 s · 1,99 s a mais`` (only the prediction while still recording)."""
    if measured is None:
        return f"previsto {format_seconds(predicted)}"
    difference = predicted - measured
    if abs(difference) < 0.005:
        reading = "igual ao medido"
    else:
        reading = f"{format_seconds(abs(difference))} a {'mais' if difference > 0 else 'menos'}"
    return f"previsto {format_seconds(predicted)} · medido {format_seconds(measured)} · {reading}"


def folded_note(bands: Sequence[Row], lanes: Sequence[Lane]) -> str:
    """What the figure folded, and how to read a band: ``9.990 tarefas agrupadas: ...``."""
    tasks = threads = rows = workers = 0
    for band in bands:
        for index in band.lanes:
            lane = lanes[index]
            if lane.role == LaneRole.QUEUE:
                rows += 1
            elif lane.role == LaneRole.WORKER:
                workers += 1
            elif lane.task:
                tasks += 1
            else:
                threads += 1
    parts = [f"{thousands(count)} {word}" for count, word in ((tasks, "tarefas"), (threads, "threads"),
                                                              (rows, "linhas da fila")) if count]
    head = " e ".join(parts) + (" agrupadas" if parts else "")
    if workers:
        head = f"{head} e {thousands(workers)} workers agrupados" if head else f"{thousands(workers)} workers agrupados"
    return (f"{head} · cada faixa agrupada mostra quantas rodavam (cor forte), esperavam (cor clara) e já "
            f'tinham terminado (cinza) · uma faixa para cada: plot(lanes="all")')
