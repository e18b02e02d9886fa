"""Conferências pequenas para os exercícios dos notebooks.

Cada exercício termina com uma célula que roda o código do aluno dentro de
`record()` e pergunta à linha do tempo se ela mostra o que foi pedido:

    from conctutor import checks

    linha = checks.run(main_exercicio)          # None se ainda não foi escrito
    if linha is not None:
        juntas = checks.overlap(checks.first(linha, "grava_log"), checks.first(linha, "consulta_dados"))
        checks.report(juntas > 0, "as duas tarefas esperaram juntas", "grava_log ainda espera consulta_dados")

As funções leem só os campos públicos de cada tarefa gravada (`name`,
`start`, `end`, `worker`, `pid`, `status`, `cpu_time`, `running`) e, da
linha do tempo, `spans`, `makespan` e `ideal_time`. As comparações de tempo
têm folga: num notebook, outro programa pode atrasar uma tarefa em alguns
por cento, e isso é ruído, não erro do aluno.
"""

from __future__ import annotations

import contextlib
import inspect
import io
from collections.abc import Callable, Iterable
from typing import Any


def _spans(timeline_or_spans: Any) -> list[Any]:
    spans = getattr(timeline_or_spans, "spans", timeline_or_spans)
    return list(spans)


def duration(span: Any) -> float:
    """Quanto tempo a tarefa ficou em andamento (do início ao fim), em segundos."""
    return span.end - span.start


def running_time(span: Any) -> float:
    """Quanto tempo a tarefa foi vista rodando numa CPU, em segundos."""
    return sum(fim - inicio for inicio, fim in span.running)


def named(timeline: Any, name: str) -> list[Any]:
    """As tarefas gravadas com este nome, na ordem em que começaram."""
    return sorted((s for s in _spans(timeline) if s.name == name), key=lambda s: s.start)


def first(timeline: Any, name: str) -> Any:
    """A primeira tarefa gravada com este nome; `LookupError` se não houver nenhuma."""
    found = named(timeline, name)
    if not found:
        names = sorted({s.name for s in _spans(timeline)}) or ["nenhuma"]
        raise LookupError(f"nenhuma tarefa {name!r} foi gravada; as gravadas foram: {', '.join(names)}")
    return found[0]


def overlap(a: Any, b: Any) -> float:
    """Segundos em que as duas tarefas estavam em andamento ao mesmo tempo (0 se nunca)."""
    return max(0.0, min(a.end, b.end) - max(a.start, b.start))


def running_overlap(a: Any, b: Any) -> float:
    """Segundos em que as duas tarefas estavam, no mesmo instante, rodando numa CPU."""
    return sum(
        max(0.0, min(fim_a, fim_b) - max(inicio_a, inicio_b))
        for inicio_a, fim_a in a.running
        for inicio_b, fim_b in b.running
    )


def status(span: Any) -> str:
    """Como a tarefa terminou, com as palavras da legenda das figuras: ``"concluída"``,
    ``"erro (exceção)"``, ``"interrompida"`` (cancelada, ou o seu worker morreu) ou ``"ainda rodando"``.

    Os dados guardam o código em inglês (``span.status == "interrupted"``); esta é a palavra para mostrar.
    """
    from ..engine.model import Status
    from ..render.scene import STATUS_LABELS

    code = getattr(span, "status", span)
    try:
        known = Status(code)
    except ValueError:
        known_ones = [f"{s.value!r} ({_STATUS_WORD.get(s) or STATUS_LABELS[s]})" for s in Status]
        raise ValueError(f"status desconhecido: {code!r}; os conhecidos são {', '.join(known_ones[:-1])} "
                         f"e {known_ones[-1]}") from None
    return _STATUS_WORD.get(known) or STATUS_LABELS[known]


_STATUS_WORD = {"ok": "concluída"}
"""The one status the legend never names (a bar that ended well has no marker)."""


def max_concurrent(timeline_or_spans: Any) -> int:
    """O maior número de tarefas em andamento no mesmo instante.

    Uma tarefa que termina exatamente quando outra começa não conta como
    simultânea a ela. Uma mensagem esperando numa fila de tarefas ("na fila")
    ainda não é uma tarefa em andamento.
    """
    spans = [s for s in _spans(timeline_or_spans) if not getattr(s, "queued", False)]
    events = sorted(
        [(s.start, 1) for s in spans] + [(s.end, -1) for s in spans]
    )  # no mesmo instante, -1 vem antes de +1: quem termina sai antes de quem entra
    now = most = 0
    for _, change in events:
        now += change
        most = max(most, now)
    return most


def processes_at_once(timeline_or_spans: Any) -> int:
    """O maior número de processos diferentes com tarefas em andamento no mesmo instante.

    Conta processos (``pid``), não tarefas: quatro threads de um processo
    contam um. Olha o andamento de cada tarefa, do início ao fim, e não os
    instantes em que ela estava numa CPU: com outro programa ocupando um
    núcleo, duas contas em processos diferentes se revezam no núcleo que
    sobrou, mas continuam em andamento juntas, e isso já mostra que o
    programa as repartiu entre processos. Um programa que roda uma tarefa
    depois da outra dá 1, mesmo que cada uma rode num processo diferente:
    uma tarefa que termina exatamente quando outra começa não conta como
    simultânea a ela.
    """
    spans = [s for s in _spans(timeline_or_spans) if not getattr(s, "queued", False)]
    # at the same instant, an end (-1) comes before a start (+1)
    events = sorted([(s.start, 1, s.pid) for s in spans] + [(s.end, -1, s.pid) for s in spans],
                    key=lambda event: (event[0], event[1]))
    in_progress: dict[Any, int] = {}
    most = 0
    for _, change, pid in events:
        in_progress[pid] = in_progress.get(pid, 0) + change
        if not in_progress[pid]:
            del in_progress[pid]
        most = max(most, len(in_progress))
    return most


def workers(timeline_or_spans: Any) -> list[str]:
    """As faixas (threads ou processos) que rodaram alguma tarefa, sem repetição."""
    seen: dict[str, None] = {}
    for span in sorted(_spans(timeline_or_spans), key=lambda s: s.start):
        if not getattr(span, "queued", False):  # the lanes of a task queue's waiting messages
            seen.setdefault(span.worker, None)
    return list(seen)


def is_close(measured: float, expected: float, tolerance: float = 0.25, slack: float = 0.02) -> bool:
    """`measured` está perto de `expected`? Aceita `tolerance` (25 %) de diferença, mais `slack` segundos."""
    if tolerance < 0 or slack < 0:
        raise ValueError("a tolerância e a folga não podem ser negativas")
    return abs(measured - expected) <= tolerance * abs(expected) + slack


def near_ideal(timeline: Any, tolerance: float = 0.25, slack: float = 0.05) -> bool:
    """O tempo total ficou perto do ideal? No máximo `tolerance` (25 %) acima, mais `slack` segundos.

    O tempo total nunca fica abaixo do ideal (a não ser por arredondamento),
    por isso só o excesso conta.
    """
    if tolerance < 0 or slack < 0:
        raise ValueError("a tolerância e a folga não podem ser negativas")
    return timeline.makespan <= timeline.ideal_time * (1 + tolerance) + slack


def compare_prediction(timeline: Any, predicted: float) -> str:
    """Compara a previsão do aluno (segundos) com o tempo total medido; devolve uma frase.

    ``"Você previu 6,00 s; o programa levou 4,01 s → 1,99 s a mais, um pouco mais que o medido"``:
    os dois tempos, e depois de ``→`` a diferença e uma leitura ("quase igual", "cerca do dobro",
    "bem menos"…). A previsão vale para as durações do capítulo e, como elas, é multiplicada por
    ``CONCTUTOR_TIME_SCALE``. Uma previsão negativa, NaN ou que não é um número dá um erro claro.
    """
    from ..engine.settings import time_scale
    from ..render.scene import check_prediction, format_seconds

    predicted = check_prediction(predicted) * time_scale()
    measured = getattr(timeline, "makespan", None)
    if not isinstance(measured, (int, float)):
        raise TypeError(f"compare_prediction recebe a linha do tempo de uma execução (o que record() devolve); "
                        f"recebido {type(timeline).__name__}")
    difference = predicted - measured
    head = f"Você previu {format_seconds(predicted)}; o programa levou {format_seconds(measured)}"
    reading = _reading(predicted, measured)
    if reading == "quase igual":
        return f"{head} → quase igual"
    side = "a mais" if difference > 0 else "a menos"
    return f"{head} → {format_seconds(abs(difference))} {side}, {reading}"


def _reading(predicted: float, measured: float) -> str:
    """What a prediction was, next to the measured time, in words."""
    if abs(predicted - measured) <= max(0.1 * measured, 0.005):
        return "quase igual"
    if measured <= 0:
        return "bem mais que o medido"
    ratio = predicted / measured
    for low, high, words in ((1.8, 2.25, "cerca do dobro do medido"), (0.4, 0.56, "cerca da metade do medido"),
                             (2.7, 3.3, "cerca do triplo do medido")):
        if low <= ratio <= high:
            return words
    if ratio > 1:
        return "um pouco mais que o medido" if ratio < 1.5 else "bem mais que o medido"
    return "um pouco menos que o medido" if ratio > 0.67 else "bem menos que o medido"


def run_catching(
    program: Callable[..., Any], *args: Any, quiet: bool = True, **kwargs: Any
) -> tuple[Any, BaseException | None]:
    """Roda ``program(*args, **kwargs)`` dentro de `record()`.

    Devolve ``(linha_do_tempo, erro)``: o erro que o programa levantou, ou
    None. A linha do tempo guarda o que foi gravado até o erro. Com
    ``quiet=True`` as mensagens que o programa imprime não aparecem.
    """
    import conctutor

    error: BaseException | None = None
    # A quiet recording silences worker processes too, spawned ones included.
    with conctutor.record(quiet=quiet) as timeline:
        try:
            program(*args, **kwargs)
        except Exception as exc:
            error = exc
    return timeline, error


def run(program: Callable[..., Any], *args: Any, quiet: bool = True, **kwargs: Any) -> Any:
    """Roda o programa do aluno gravado e devolve a linha do tempo.

    Se o programa ainda não foi escrito (levanta `NotImplementedError`) ou
    parou com um erro, escreve uma mensagem amigável e devolve None.
    """
    timeline, error = run_catching(program, *args, quiet=quiet, **kwargs)
    return _unless_failed(timeline, error)


PROCESS_COUNT_INTERVAL_S = 0.005
"""How often `run_counting_processes` looks at the program's processes (a pool's live for its tasks' time)."""


def run_counting_processes(
    program: Callable[..., Any], *args: Any, quiet: bool = True, **kwargs: Any
) -> tuple[Any, int]:
    """Como `run`, e conta também quantos processos o programa manteve abertos ao mesmo tempo, no máximo.

    ``linha, processos = checks.run_counting_processes(main_uma_rodada)``: `linha` é o que `run`
    devolve (None, com uma mensagem, se o programa ainda não foi escrito ou parou com um erro), e
    `processos` conta os processos de `multiprocessing` que o programa abriu (os de um
    `ProcessPoolExecutor`, por exemplo) e que estavam abertos no mesmo instante, com tarefa ou sem.
    É o tamanho do grupo que o programa pediu, mesmo quando um processo novo demorou a começar
    (com spawn, numa máquina ocupada) e a tarefa que seria dele foi para outro processo.
    """
    import multiprocessing
    import threading

    before = {id(process) for process in multiprocessing.active_children()}
    most = 0
    stop = threading.Event()

    def count() -> None:
        nonlocal most
        while True:
            opened = sum(id(process) not in before for process in multiprocessing.active_children())
            most = max(most, opened)
            if stop.wait(PROCESS_COUNT_INTERVAL_S):
                return

    watcher = threading.Thread(target=count, name="conctutor-conta-processos", daemon=True)
    watcher.start()
    try:
        timeline, error = run_catching(program, *args, quiet=quiet, **kwargs)
    finally:
        stop.set()
        watcher.join()
    return _unless_failed(timeline, error), most


async def run_async(program: Callable[..., Any], *args: Any, quiet: bool = True, **kwargs: Any) -> Any:
    """Como `run`, para uma corrotina do aluno: ``linha = await checks.run_async(programa, url)``.

    Espera ``program(*args, **kwargs)`` dentro de `record()` e devolve a
    linha do tempo, ou None (com uma mensagem amigável) se a corrotina ainda
    não foi escrita (levanta `NotImplementedError`) ou parou com um erro.
    """
    import conctutor

    error: BaseException | None = None
    with conctutor.record(quiet=quiet) as timeline:
        try:
            result = program(*args, **kwargs)
            if not inspect.isawaitable(result):
                name = getattr(program, "__name__", "o programa")
                raise TypeError(f"{name} precisa ser uma corrotina (async def), para o laço de eventos esperá-la")
            await result
        except Exception as exc:
            error = exc
    return _unless_failed(timeline, error)


def run_queue(app: Any, program: Callable[..., Any], *args: Any, quiet: bool = True, **kwargs: Any) -> Any:
    """Como `run`, para um programa que publica numa fila de tarefas (notebook 07).

    Roda ``program(*args, **kwargs)`` dentro de ``record_queue(app)`` e
    devolve a linha do tempo das mensagens que ele publicou, ou None (com uma
    mensagem amigável) se o programa ainda não foi escrito ou parou com um erro.
    """
    from ..queue.queue_timeline import record_queue

    error: BaseException | None = None
    output = contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext()
    with output, record_queue(app) as timeline:
        try:
            program(*args, **kwargs)
        except Exception as exc:
            error = exc
    return _unless_failed(timeline, error)


def _unless_failed(timeline: Any, error: BaseException | None) -> Any:
    if isinstance(error, NotImplementedError):
        print(f"⏳ ainda não: {error or 'o programa ainda não foi escrito'}")
        return None
    if error is not None:
        print(f"✘ ainda não: o programa parou com um erro. {type(error).__name__}: {error}")
        return None
    return timeline


def report(condition: bool, ok: str, not_yet: str) -> bool:
    """Escreve ``✔ ok`` se a condição vale, ou ``✘ ainda não: not_yet``; devolve a condição."""
    print(f"✔ {ok}" if condition else f"✘ ainda não: {not_yet}")
    return bool(condition)


def conclude(results: Iterable[bool], done: str = "Exercício resolvido!") -> bool:
    """Depois de várias conferências: uma linha final, `done` se todas passaram."""
    results = list(results)
    passed = all(results) and bool(results)
    print(done if passed else f"Falta pouco: {sum(results)} de {len(results)} conferências passaram.")
    return passed
