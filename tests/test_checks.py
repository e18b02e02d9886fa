"""conctutor.checks: the helpers the exercises' check cells use.

Most tests use hand-made spans (only the public fields), so they say exactly
what each helper computes; a few run the chapter's tasks, with generous
tolerances, to show the helpers agree with a real recording.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest

from conctutor import calcula, checks, consulta_dados, grava_log, processa_dados, record

pytestmark = pytest.mark.usefixtures("fast_tasks")  # tests/conftest.py


@dataclass
class FakeSpan:
    name: str
    start: float
    end: float
    worker: str = "thread 1"
    running: tuple = ()
    cpu_time: float = 0.0
    pid: int = 1
    status: str = "ok"


@dataclass
class FakeTimeline:
    spans: list
    makespan: float
    ideal_time: float


def test_overlap_counts_only_time_both_were_in_progress():
    a, b = FakeSpan("a", 0.0, 2.0), FakeSpan("b", 1.5, 4.0)
    assert checks.overlap(a, b) == pytest.approx(0.5)
    assert checks.overlap(b, a) == pytest.approx(0.5)
    assert checks.overlap(a, FakeSpan("c", 2.0, 3.0)) == 0.0  # one ends as the other starts
    assert checks.overlap(a, FakeSpan("d", 5.0, 6.0)) == 0.0


def test_running_overlap_and_running_time_use_the_running_intervals():
    a = FakeSpan("a", 0, 1, running=((0.0, 0.2), (0.4, 0.6)))
    b = FakeSpan("b", 0, 1, running=((0.1, 0.5),))
    assert checks.running_time(a) == pytest.approx(0.4)
    assert checks.running_overlap(a, b) == pytest.approx(0.1 + 0.1)
    assert checks.running_overlap(a, FakeSpan("c", 0, 1)) == 0.0


def test_max_concurrent_does_not_count_back_to_back_tasks():
    back_to_back = [FakeSpan("a", 0, 1), FakeSpan("b", 1, 2), FakeSpan("c", 2, 3)]
    assert checks.max_concurrent(back_to_back) == 1
    three = [FakeSpan("a", 0, 3), FakeSpan("b", 1, 2), FakeSpan("c", 1.5, 4), FakeSpan("d", 3.5, 5)]
    assert checks.max_concurrent(FakeTimeline(three, 5, 5)) == 3
    assert checks.max_concurrent([]) == 0


def test_named_first_and_workers():
    timeline = FakeTimeline(
        [FakeSpan("g", 2, 3, "thread 2"), FakeSpan("c", 0, 1, "thread 1"), FakeSpan("g", 1, 2, "thread 1")], 3, 3
    )
    assert [s.start for s in checks.named(timeline, "g")] == [1, 2]
    assert checks.first(timeline, "g").start == 1
    assert checks.workers(timeline) == ["thread 1", "thread 2"]
    with pytest.raises(LookupError, match=r"nenhuma tarefa 'x'.*c, g"):
        checks.first(timeline, "x")


def test_is_close_and_near_ideal_have_slack():
    assert checks.is_close(4.1, 4.0)
    assert checks.is_close(4.9, 4.0)
    assert not checks.is_close(6.0, 4.0)
    assert checks.near_ideal(FakeTimeline([], 4.3, 4.0))
    assert not checks.near_ideal(FakeTimeline([], 8.0, 4.0))
    assert checks.near_ideal(FakeTimeline([], 8.0, 4.0), tolerance=1.0)
    with pytest.raises(ValueError, match="negativas"):
        checks.is_close(1, 1, tolerance=-1)


def test_report_and_conclude_print_portuguese(capsys):
    assert checks.report(True, "feito", "falta") is True
    assert checks.report(False, "feito", "falta") is False
    assert checks.conclude([True, False]) is False
    assert checks.conclude([True, True]) is True
    out = capsys.readouterr().out.splitlines()
    assert out == ["✔ feito", "✘ ainda não: falta", "Falta pouco: 1 de 2 conferências passaram.",
                   "Exercício resolvido!"]


def test_run_says_not_yet_for_unwritten_code_and_errors(capsys):
    def not_written():
        raise NotImplementedError("escreva o seu programa aqui")

    def broken():
        raise ZeroDivisionError("divisão por zero")

    assert checks.run(not_written) is None
    assert checks.run(broken) is None
    out = capsys.readouterr().out
    assert "ainda não: escreva o seu programa aqui" in out
    assert "ZeroDivisionError: divisão por zero" in out


def test_run_records_a_real_program_quietly(capsys):
    def chapter_threads():
        with concurrent.futures.ThreadPoolExecutor() as executor:
            future = executor.submit(consulta_dados)
            dados = future.result()
            executor.submit(grava_log)
            executor.submit(processa_dados, dados)

    timeline = checks.run(chapter_threads)
    assert capsys.readouterr().out == ""  # the tasks' prints are left out
    assert sorted(s.name for s in timeline.spans) == ["consulta_dados", "grava_log", "processa_dados"]
    g, c, p = (checks.first(timeline, n) for n in ("grava_log", "consulta_dados", "processa_dados"))
    assert checks.overlap(g, c) == 0.0
    assert checks.overlap(g, p) > 0.5 * checks.duration(p)
    assert checks.max_concurrent(timeline) == 2
    assert checks.near_ideal(timeline, tolerance=0.5)


def test_run_catching_keeps_the_spans_recorded_before_the_error():
    def fails_after_a_task():
        grava_log()
        raise ValueError("dados corrompidos")

    timeline, error = checks.run_catching(fails_after_a_task)
    assert isinstance(error, ValueError)
    assert [s.name for s in timeline.spans] == ["grava_log"]


@pytest.fixture(scope="module")
def measured_run():
    """A real run of the chapter's grava_log: its makespan is what the predictions are compared with."""
    timeline, error = checks.run_catching(grava_log)
    assert error is None
    return timeline


@pytest.mark.parametrize(
    ("factor", "reading"),
    [(1.0, "quase igual"), (1.05, "quase igual"), (2.0, "cerca do dobro do medido"),
     (0.5, "cerca da metade do medido"), (3.0, "cerca do triplo do medido"),
     (1.3, "um pouco mais que o medido"), (5.0, "bem mais que o medido"), (0.8, "um pouco menos que o medido"),
     (0.2, "bem menos que o medido")],
)
def test_compare_prediction_says_both_times_the_difference_and_a_reading(measured_run, factor, reading):
    measured = measured_run.makespan
    # a prediction is of the chapter's durations, which the time scale shortens in the tests
    scale = float(os.environ["CONCTUTOR_TIME_SCALE"])
    predicted = measured * factor
    sentence = checks.compare_prediction(measured_run, predicted / scale)
    assert sentence.startswith(f"Você previu {br(predicted)} s; o programa levou {br(measured)} s → ")
    assert sentence.endswith(reading)
    if reading != "quase igual":
        side = "a mais" if factor > 1 else "a menos"
        assert f"→ {br(abs(predicted - measured))} s {side}, " in sentence


def br(seconds: float) -> str:
    return f"{seconds:.2f}".replace(".", ",")


@pytest.mark.parametrize(("predicted", "error"), [(-1, ValueError), (float("nan"), ValueError), ("seis", TypeError),
                                                  (None, TypeError), (False, TypeError)])
def test_compare_prediction_refuses_what_is_not_a_number_of_seconds(measured_run, predicted, error):
    with pytest.raises(error, match="a previsão deve ser um número de segundos"):
        checks.compare_prediction(measured_run, predicted)
    with pytest.raises(TypeError, match="compare_prediction recebe a linha do tempo"):
        checks.compare_prediction("linha", 1.0)


def test_status_says_how_a_span_ended_in_the_legends_words():
    from conctutor.model import Status
    from conctutor.scene import STATUS_LABELS

    assert checks.status(FakeSpan("a", 0, 1, status="ok")) == "concluída"
    assert checks.status(FakeSpan("a", 0, 1, status="interrupted")) == "interrompida"
    assert checks.status(FakeSpan("a", 0, 1, status="error")) == "erro (exceção)"
    assert checks.status(FakeSpan("a", 0, 1, status=Status.RUNNING)) == "ainda rodando"
    for code, words in STATUS_LABELS.items():  # the same words as the figure's legend
        assert checks.status(FakeSpan("a", 0, 1, status=code)) == words
    with pytest.raises(ValueError, match="concluída"):
        checks.status(FakeSpan("a", 0, 1, status="cancelled"))


def test_status_of_a_recorded_span_is_in_portuguese():
    with record() as timeline:
        consulta_dados()
    assert checks.status(timeline.spans[0]) == "concluída"


def test_processes_at_once_counts_processes_in_progress_together_not_tasks():
    threads_of_one_process = [FakeSpan("a", 0, 2, pid=1), FakeSpan("b", 0.5, 1.5, pid=1)]
    assert checks.processes_at_once(threads_of_one_process) == 1
    one_after_another = [FakeSpan("a", 0, 1, pid=1), FakeSpan("b", 1, 2, pid=2), FakeSpan("c", 2, 3, pid=1)]
    assert checks.processes_at_once(one_after_another) == 1
    together = [FakeSpan("a", 0, 2, pid=1), FakeSpan("b", 0.1, 2.1, pid=2), FakeSpan("c", 0.2, 0.3, pid=1)]
    assert checks.processes_at_once(FakeTimeline(together, 2.1, 2.0)) == 2
    assert checks.processes_at_once([]) == 0


@pytest.fixture
def other_core_busy():
    """Another program keeps a core busy during the test (a busy loop), as a second notebook running beside
    notebook 08 did when its exercise-2 check said 'as contas nunca rodaram ao mesmo tempo'."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
    try:
        time.sleep(0.1)
        yield
    finally:
        hog.kill()
        hog.wait()


CONTA = 3.0  # calcula's seconds of CPU: 0.15 s at the tests' time scale (fast_tasks)


async def _contas_in_processes_and_downloads_waiting():
    """Notebook 08's exercise 2, answered right: the sums in processes, through the event loop."""
    loop = asyncio.get_running_loop()
    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as executor:
        await asyncio.gather(*(loop.run_in_executor(executor, calcula, CONTA) for _ in range(2)),
                             asyncio.sleep(0.05))


async def _contas_in_the_loop():
    for _ in range(2):
        calcula(CONTA)


async def _contas_in_threads():
    await asyncio.gather(*(asyncio.to_thread(calcula, CONTA) for _ in range(2)))


async def _contas_in_processes_one_after_another():
    loop = asyncio.get_running_loop()
    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as executor:
        for _ in range(2):
            await loop.run_in_executor(executor, calcula, CONTA)


def test_processes_at_once_sees_two_processes_computing_with_the_other_core_busy(other_core_busy):
    timeline = asyncio.run(checks.run_async(_contas_in_processes_and_downloads_waiting))
    contas = checks.named(timeline, "calcula")
    assert len(contas) == 2
    assert checks.processes_at_once(contas) == 2


@pytest.mark.parametrize("program", [_contas_in_the_loop, _contas_in_threads, _contas_in_processes_one_after_another])
def test_processes_at_once_is_one_for_sums_that_do_not_run_side_by_side_in_processes(other_core_busy, program):
    timeline = asyncio.run(checks.run_async(program))
    contas = checks.named(timeline, "calcula")
    assert len(contas) == 2
    assert checks.processes_at_once(contas) == 1


def test_run_async_says_not_yet_for_unwritten_coroutines_plain_functions_and_errors(capsys):
    async def not_written():
        raise NotImplementedError("escreva baixa_e_calcula() aqui")

    def not_a_coroutine():
        grava_log()

    async def broken():
        raise ZeroDivisionError("divisão por zero")

    for program in (not_written, not_a_coroutine, broken):
        assert asyncio.run(checks.run_async(program)) is None
    out = capsys.readouterr().out
    assert "⏳ ainda não: escreva baixa_e_calcula() aqui" in out
    assert "not_a_coroutine precisa ser uma corrotina (async def)" in out
    assert "ZeroDivisionError: divisão por zero" in out


def test_run_async_records_a_coroutine_quietly(capsys):
    async def chapter_in_asyncio():
        await asyncio.gather(asyncio.to_thread(grava_log), asyncio.to_thread(consulta_dados))

    timeline = asyncio.run(checks.run_async(chapter_in_asyncio))
    assert capsys.readouterr().out == ""
    assert sorted(s.name for s in timeline.spans) == ["consulta_dados", "grava_log"]
    assert checks.max_concurrent(timeline) == 2


def _six_logs_in_a_pool(workers, context=None):
    """Notebook 04's exercise 2, reduced: six grava_log handed to a pool at once."""
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as executor:
        for _ in range(6):
            executor.submit(grava_log, segundos=0.02)


def test_run_counting_processes_counts_the_pool_a_program_opened_even_when_new_processes_start_late(other_core_busy):
    """With spawn on a busy machine a new process can come up after the tasks it was opened for went to
    another one (notebook 04's exercise-2 check then saw five processes at work for max_workers=6, 2 runs of 4):
    the count is of the processes the program opened, not of those that happened to get a task."""
    import multiprocessing

    timeline, processes = checks.run_counting_processes(
        _six_logs_in_a_pool, 6, multiprocessing.get_context("spawn"))
    assert len(checks.named(timeline, "grava_log")) == 6
    assert processes == 6


def test_run_counting_processes_counts_a_smaller_pool_and_no_process_for_threads():
    timeline, processes = checks.run_counting_processes(_six_logs_in_a_pool, 5)
    assert (len(timeline.spans), processes) == (6, 5)

    def in_threads():
        with concurrent.futures.ThreadPoolExecutor(max_workers=6) as executor:
            for _ in range(6):
                executor.submit(grava_log, segundos=0.02)

    timeline, processes = checks.run_counting_processes(in_threads)
    assert (len(timeline.spans), processes) == (6, 0)


def test_run_counting_processes_says_not_yet_like_run(capsys):
    def not_written():
        raise NotImplementedError("escreva main_uma_rodada() aqui")

    assert checks.run_counting_processes(not_written) == (None, 0)
    assert "⏳ ainda não: escreva main_uma_rodada() aqui" in capsys.readouterr().out
