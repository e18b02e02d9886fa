"""asyncio on the timeline: TaskGroup, asyncio.to_thread, and a recording entered inside a running loop.

What notebook 06 shows, asserted on recorded runs. Order and overlap are
forced by the programs themselves (events, awaits) wherever a busy machine
could otherwise reorder things; no assertion compares a measured time with
an exact value.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import conctutor
from conctutor import Timeline, aio, checks, record, task

SCALE = 0.05
STEP = 2.0 * SCALE  # what one chapter task waits under the time scale

needs_task_group = pytest.mark.skipif(not hasattr(asyncio, "TaskGroup"), reason="asyncio.TaskGroup: Python 3.11+")


pytestmark = pytest.mark.usefixtures("fast_tasks")  # tests/conftest.py


def quietly(function, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()):
        return function(*args, **kwargs)


# --- asyncio.TaskGroup (3.11+) -------------------------------------------------------------------


@needs_task_group
def test_a_task_group_gives_one_lane_per_task_all_on_the_loops_thread_and_they_overlap():
    async def main():
        async with asyncio.TaskGroup() as grupo:
            grupo.create_task(aio.consulta_dados(), name="consulta")
            grupo.create_task(aio.processa_dados("dados"), name="processa")
            grupo.create_task(aio.grava_log(), name="log")

    with record() as timeline:
        quietly(asyncio.run, main())
    spans = {s.name: s for s in timeline.spans}
    assert set(spans) == {"consulta_dados", "processa_dados", "grava_log"}
    assert {s.task for s in spans.values()} == {"consulta", "processa", "log"}
    assert len({s.worker for s in spans.values()}) == 3  # one lane per asyncio task
    assert all(s.task in s.worker for s in spans.values())
    assert {s.thread_id for s in spans.values()} == {threading.get_ident()}  # asyncio.run's loop: this thread
    assert all(s.status == "ok" for s in spans.values())
    # the three started before any of them ended: they waited together, not one after another
    assert max(s.start for s in spans.values()) < min(s.end for s in spans.values())
    assert checks.max_concurrent(timeline) == 3


@needs_task_group
def test_a_failing_task_in_a_task_group_interrupts_its_siblings():
    @task
    async def falha():
        await asyncio.sleep(0)
        raise ValueError("dados corrompidos")

    async def main():
        async with asyncio.TaskGroup() as grupo:
            grupo.create_task(aio.grava_log(segundos=100))  # would wait 5 s under the scale: it is cancelled
            grupo.create_task(falha())

    with record() as timeline:
        with pytest.raises(Exception) as raised:
            quietly(asyncio.run, main())
    assert type(raised.value).__name__ == "ExceptionGroup"
    assert [type(e) for e in raised.value.exceptions] == [ValueError]
    spans = {s.name: s for s in timeline.spans}
    assert spans["falha"].status == "error" and "dados corrompidos" in spans["falha"].error
    assert spans["grava_log"].status == "interrupted" and "Cancelled" in spans["grava_log"].error
    assert spans["grava_log"].duration < 100 * SCALE / 2


# --- asyncio.to_thread ---------------------------------------------------------------------------------


def test_to_thread_records_a_function_in_a_worker_thread_while_the_loop_goes_on():
    @task
    def bloqueia(comecou, pode_terminar):
        comecou.set()
        assert pode_terminar.wait(30), "the loop never let the thread finish"
        return threading.get_ident()

    async def main():
        comecou, pode_terminar = threading.Event(), threading.Event()
        em_thread = asyncio.create_task(asyncio.to_thread(bloqueia, comecou, pode_terminar))
        while not comecou.is_set():  # the thread is now blocked inside bloqueia
            await asyncio.sleep(0.001)
        await aio.grava_log()  # a recorded task runs on the loop meanwhile
        pode_terminar.set()
        return await em_thread

    with record() as timeline:
        worker_ident = quietly(asyncio.run, main())
    spans = {s.name: s for s in timeline.spans}
    assert set(spans) == {"bloqueia", "grava_log"}
    blocked, log = spans["bloqueia"], spans["grava_log"]
    assert blocked.thread_id == worker_ident != threading.get_ident()
    assert log.thread_id == threading.get_ident()
    assert blocked.worker != log.worker
    assert blocked.status == log.status == "ok"
    # by construction: the loop ran grava_log from start to end while bloqueia held its thread
    assert blocked.start <= log.start and log.end <= blocked.end
    assert checks.overlap(blocked, log) == pytest.approx(checks.duration(log))


def test_to_thread_of_the_chapters_blocking_task_lets_the_loop_run_its_coroutine_version():
    async def main():
        await asyncio.gather(asyncio.to_thread(conctutor.grava_log), aio.consulta_dados())

    with record() as timeline:
        quietly(asyncio.run, main())
    spans = {s.name: s for s in timeline.spans}
    assert set(spans) == {"grava_log", "consulta_dados"}
    assert spans["grava_log"].thread_id != spans["consulta_dados"].thread_id == threading.get_ident()
    assert spans["grava_log"].seconds == pytest.approx(STEP) == spans["consulta_dados"].seconds
    assert checks.overlap(spans["grava_log"], spans["consulta_dados"]) > 0


# --- a recording entered where a loop already runs -------------------------------------------------------------


def test_a_recording_entered_inside_a_running_loop_records_the_tasks_awaited_in_it():
    async def main():
        await aio.grava_log(segundos=0)  # before the block: not recorded
        with record() as timeline:
            dados = await aio.consulta_dados()
            await asyncio.gather(aio.processa_dados(dados), aio.grava_log())
        await aio.grava_log(segundos=0)  # after the block: not recorded either
        return timeline

    timeline = quietly(asyncio.run, main())
    spans = {s.name: s for s in timeline.spans}
    assert len(timeline.spans) == 3
    assert set(spans) == {"consulta_dados", "processa_dados", "grava_log"}
    assert {s.thread_id for s in spans.values()} == {threading.get_ident()}
    assert len({s.worker for s in spans.values()}) == 3  # main's task, and one per task gather made
    consulta, processa, log = spans["consulta_dados"], spans["processa_dados"], spans["grava_log"]
    assert processa.start >= consulta.end - 1e-3  # it needed the data
    assert checks.overlap(processa, log) > 0  # gather: they waited together
    assert all(s.status == "ok" and s.seconds == pytest.approx(STEP) for s in spans.values())


def test_a_recording_inside_one_task_does_not_take_another_tasks_calls():
    calls = []

    async def vizinha(comecou, pode_terminar):
        comecou.set()
        await pode_terminar.wait()
        await aio.grava_log()  # created before the block, in a context with no recording
        calls.append("vizinha")

    async def main():
        comecou, pode_terminar = asyncio.Event(), asyncio.Event()
        outra = asyncio.create_task(vizinha(comecou, pode_terminar))
        await comecou.wait()
        with record() as timeline:
            pode_terminar.set()
            await aio.consulta_dados()
            await outra  # the neighbour's grava_log ran during the block, but it is not this block's
        return timeline

    timeline = quietly(asyncio.run, main())
    assert calls == ["vizinha"]
    assert [s.name for s in timeline.spans] == ["consulta_dados"]


def test_record_and_plot_inside_a_running_loop_draw_one_lane_per_task():
    async def main():
        with record() as timeline:
            await asyncio.gather(aio.grava_log(), aio.grava_log(), aio.grava_log())
        return timeline

    timeline = quietly(asyncio.run, main())
    assert len(checks.workers(timeline)) == 3
    figure = timeline.plot(cpu=False)
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert sorted(labels) == sorted(checks.workers(timeline))


def test_a_blocking_sleep_in_a_coroutine_runs_the_tasks_one_after_another():
    @task
    async def bloqueia():
        time.sleep(0.05)  # the notebook's mistake: nobody else runs meanwhile

    async def main():
        await asyncio.gather(bloqueia(), bloqueia(), bloqueia())

    with record() as timeline:
        asyncio.run(main())
    assert [s.name for s in timeline.spans] == ["bloqueia"] * 3
    assert len(checks.workers(timeline)) == 3
    assert checks.max_concurrent(timeline) == 1  # a staircase: each began after the previous ended


# --- the forgotten task (notebook 06, section 6) -------------------------------------------------------------

ESQUECIDA = """
import asyncio

from conctutor.aio import consulta_dados, grava_log


async def main():
    asyncio.create_task(grava_log())  # criada e esquecida: ninguém faz await nela
    await consulta_dados(segundos=1)
    print("main terminou")


asyncio.run(main())
print("asyncio.run terminou")
"""


def test_a_scripts_forgotten_task_is_saved_as_interrupted_when_asyncio_run_ends(tmp_path):
    """What the notebook tells the student to try: the program as a file, through the command line."""
    (tmp_path / "esquecida.py").write_text(textwrap.dedent(ESQUECIDA), encoding="utf-8")
    env = dict(os.environ, CONCTUTOR_TIME_SCALE=str(SCALE), MPLBACKEND="Agg", PYTHONIOENCODING="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "conctutor", "run", "esquecida.py", "-o", "esquecida.png", "--save", "run.json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Consultando dados...\nGravando log...\nmain terminou\nasyncio.run terminou\n"
    spans = {s.name: s for s in Timeline.load(tmp_path / "run.json").spans}
    assert spans["consulta_dados"].status == "ok"
    assert spans["grava_log"].status == "interrupted" and "Cancelled" in spans["grava_log"].error  # cut short


def test_asyncio_run_in_another_thread_ends_like_a_script():
    """The notebook's way to show a script's end: asyncio.run in a thread of its own, with its own loop."""

    async def main():
        asyncio.create_task(aio.grava_log())  # noqa: RUF006 (forgotten on purpose)
        await aio.consulta_dados(segundos=1)

    with record() as timeline:
        other = threading.Thread(target=quietly, args=(asyncio.run, main()))
        other.start()
        other.join()
    spans = {s.name: s for s in timeline.spans}
    assert spans["consulta_dados"].status == "ok"
    assert spans["grava_log"].status == "interrupted"
    assert spans["grava_log"].thread_id == spans["consulta_dados"].thread_id == other.ident
    assert spans["grava_log"].worker != spans["consulta_dados"].worker


def test_tasks_kept_in_a_set_and_awaited_before_main_ends_are_not_cut():
    pending = set()

    def dispara(corrotina):
        tarefa = asyncio.create_task(corrotina)
        pending.add(tarefa)
        tarefa.add_done_callback(pending.discard)
        return tarefa

    async def main():
        dispara(aio.grava_log())
        await aio.consulta_dados(segundos=1)
        await asyncio.gather(*pending)

    with record() as timeline:
        quietly(asyncio.run, main())
    assert sorted((s.name, s.status) for s in timeline.spans) == [("consulta_dados", "ok"), ("grava_log", "ok")]
    assert not pending


def test_a_coroutine_awaiting_a_thread_is_blocked_on_it_not_waiting_for_io():
    import time as plain_time

    from conctutor import task

    @task
    async def espera_a_thread() -> None:
        await asyncio.to_thread(plain_time.sleep, 0.1)

    async def main() -> None:
        await asyncio.gather(espera_a_thread(), espera_a_thread())

    with record() as timeline:
        asyncio.run(main())
    for span in timeline.spans:
        blocked = sum(b - a for a, b, state in span.waits if state == "blocked")
        io = sum(b - a for a, b, state in span.waits if state == "io")
        assert blocked > 0.08 and io < 0.01, span.waits
