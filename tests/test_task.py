"""`@task` on any function, and the recorder's defects found when tried on purpose.

Every test here records real calls. Timing assertions, where there are any,
are about order and overlap with wide margins: the machine is small and busy.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import pytest

import conctutor
from conctutor import calcula, checks, consulta_dados, grava_log, processa_dados, record, task
from conctutor import recorder as recorder_module
from conctutor.widgets import panel, run_and_show, run_recorded

SCALE = 0.05
START_METHODS = [m for m in ("fork", "spawn", "forkserver") if m in multiprocessing.get_all_start_methods()]


pytestmark = pytest.mark.usefixtures("fast_tasks")  # tests/conftest.py


def quietly(function, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()):
        return function(*args, **kwargs)


# --- any function, any signature --------------------------------------------------------


def soma(a, b=2, *resto, escala=1, **extras):
    return (a + b + sum(resto)) * escala + len(extras)


soma_gravada = task(soma)


@task
def dorme(segundos):
    """A user's function with a parameter called segundos: it is never scaled."""
    time.sleep(segundos)
    return segundos


class Conta:
    def __init__(self, saldo):
        self.saldo = saldo

    @task
    def deposita(self, valor, *, motivo=""):
        self.saldo += valor
        return self.saldo

    @task(kind="cpu")
    def juros(self, taxa):
        return self.saldo * taxa


@task(kind="io")
async def busca(nome, atraso=0.01):
    await asyncio.sleep(atraso)
    return nome.upper()


def test_any_signature_records_and_returns_the_same():
    calls = [((1,), {}), ((1, 5, 6, 7), {"escala": 2, "x": 1, "y": 2}), ((), {"a": 3, "b": 4})]
    with record() as timeline:
        for args, kwargs in calls:
            assert soma_gravada(*args, **kwargs) == soma(*args, **kwargs)
    spans = timeline.spans
    assert [s.name for s in spans] == ["soma"] * 3
    assert all(s.status == "ok" and s.kind == "measured" for s in spans)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((), {}), ((1,), {"a": 2}), ((1,), {"nada": 1, "a": 2}), ((1, 2), {"b": 3})],
)
def test_wrong_arguments_fail_exactly_like_the_plain_function(args, kwargs):
    with pytest.raises(TypeError) as plain:
        soma(*args, **kwargs)
    with record():
        with pytest.raises(TypeError) as recorded:
            soma_gravada(*args, **kwargs)
    assert str(recorded.value) == str(plain.value)


def test_chapter_tasks_refuse_wrong_arguments_like_the_chapters_functions():
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'dados'"):
        processa_dados()
    with pytest.raises(TypeError, match="takes from 0 to 1 positional arguments but 2 were given"):
        calcula(1, 2)
    with pytest.raises(TypeError, match="multiple values"):
        grava_log(1, segundos=2)
    with pytest.raises(TypeError, match="unexpected keyword"):
        consulta_dados(dado=1)
    with record() as timeline:
        with pytest.raises(TypeError):
            processa_dados()
    assert timeline.spans == []  # it never started: nothing to draw


def test_a_users_own_arguments_are_never_scaled():
    with record() as timeline:
        assert dorme(0.2) == 0.2
    (span,) = timeline.spans
    assert span.duration >= 0.19  # not 0.2 * SCALE
    assert span.seconds is None


def test_methods_record_and_keep_their_instance():
    conta = Conta(100)
    with record() as timeline:
        assert conta.deposita(50, motivo="salário") == 150
        assert Conta.deposita(conta, 10) == 160
        assert conta.juros(0.5) == 80
    assert [(s.name, s.kind) for s in timeline.spans] == [("deposita", "measured"), ("deposita", "measured"),
                                                         ("juros", "cpu")]


def test_bare_task_and_its_messages_are_in_portuguese():
    with pytest.raises(ValueError, match="kind deve ser 'io'"):
        task(kind="rede")
    with pytest.raises(TypeError, match="decora uma função"):
        task(42)
    assert task(soma_gravada) is soma_gravada
    assert soma_gravada.__name__ == "soma" and soma_gravada.__wrapped__ is soma


def test_an_exception_reaches_the_caller_unchanged_and_marks_the_span():
    @task
    def quebra():
        raise KeyError("chave")

    with record() as timeline:
        with pytest.raises(KeyError, match="chave"):
            quebra()
    (span,) = timeline.spans
    assert span.status == "error" and "KeyError" in span.error


def test_a_function_defined_in_a_cell_records_in_threads():
    @task
    def da_celula(x):
        time.sleep(0.01)
        return x * 2

    with record() as timeline:
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            assert list(pool.map(da_celula, range(6))) == [0, 2, 4, 6, 8, 10]
    assert len(timeline.spans) == 6
    assert all(s.worker.startswith("thread ") for s in timeline.spans)


# --- coroutines ---------------------------------------------------------------------------


def test_coroutines_get_a_lane_per_asyncio_task_on_one_thread():
    async def main():
        return await asyncio.gather(busca("a"), busca("b", 0.02), busca("c", 0.03))

    with record() as timeline:
        assert asyncio.run(main()) == ["A", "B", "C"]
    spans = timeline.spans
    assert [s.name for s in spans] == ["busca"] * 3
    assert len({s.worker for s in spans}) == 3
    assert len({s.thread_id for s in spans}) == 1
    assert all(s.task for s in spans)
    for span in spans:  # awaiting asyncio.sleep is waiting, not running
        assert span.waits and sum(b - a for a, b, _ in span.waits) > 0.5 * span.duration
    first, _, last = spans
    assert min(first.end, last.end) > max(first.start, last.start)  # they overlapped


def test_a_coroutine_cancelled_when_its_loop_ends_is_interrupted():
    @task
    async def esquecida():
        await asyncio.sleep(10)

    async def main():
        asyncio.get_running_loop().create_task(esquecida())  # never awaited
        await asyncio.sleep(0.02)

    with record() as timeline:
        asyncio.run(main())
    (span,) = timeline.spans
    assert span.status == "interrupted" and "Cancelled" in span.error


def test_inspect_sees_a_coroutine_function():
    import inspect

    assert inspect.iscoroutinefunction(busca) or asyncio.iscoroutinefunction(busca)


# --- worker processes ------------------------------------------------------------------------


def indireta(vezes: int) -> int:
    """Module level, not a task: calls recorded tasks inside whatever process runs it."""
    for _ in range(vezes):
        grava_log()
    return os.getpid()


@pytest.mark.parametrize("method", START_METHODS)
def test_indirect_calls_in_any_worker_are_recorded_with_adjusted_durations(method):
    conctutor.set_durations(grava_log=0.5)
    with record() as timeline:
        context = multiprocessing.get_context(method)
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context, initializer=_silence) as pool:
            worker = pool.submit(indireta, 2).result()
    spans = timeline.spans
    assert [s.name for s in spans] == ["grava_log", "grava_log"]
    assert {s.pid for s in spans} == {worker}
    assert all(s.seconds == pytest.approx(0.5 * SCALE) for s in spans)


def test_a_blocks_own_durations_reach_its_workers():
    with record(durations={"grava_log": 0.25}) as timeline:
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context, initializer=_silence) as pool:
            pool.submit(indireta, 1).result()
            pool.submit(grava_log).result()
    assert [s.seconds for s in timeline.spans] == pytest.approx([0.25 * SCALE] * 2)
    assert conctutor.get_durations()["grava_log"] == 2.0  # only for that block


def _silence():
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115


@pytest.mark.skipif("fork" not in START_METHODS, reason="needs fork")
def test_a_forked_child_leaving_the_block_does_not_end_the_parents_recording():
    for leave in ("exception", "exit"):
        try:
            with record() as timeline:
                pid = os.fork()
                if pid == 0:  # the child leaves the parent's block
                    if leave == "exit":
                        sys.exit(0)
                    raise RuntimeError("o filho sai com erro")
                os.waitpid(pid, 0)
                context = multiprocessing.get_context("spawn")
                with concurrent.futures.ProcessPoolExecutor(1, mp_context=context, initializer=_silence) as pool:
                    pool.submit(grava_log).result()
        except BaseException:
            if os.getpid() != pid_of_test:
                os._exit(0)
            raise
        assert [s.name for s in timeline.spans] == ["grava_log"], leave


pid_of_test = os.getpid()


def falha_com_surrogate():
    raise ValueError("arquivo \udc80 ilegível")


surrogate_task = task(falha_com_surrogate)


@pytest.mark.parametrize("where", ["here", "thread", "spawn"])
def test_lone_surrogates_in_messages_and_thread_names_break_nothing(where):
    with record() as timeline:
        if where == "here":
            with pytest.raises(ValueError, match="ilegível"):
                surrogate_task()
        elif where == "thread":
            errors = []

            def run():
                try:
                    surrogate_task()
                except ValueError as error:
                    errors.append(error)

            thread = threading.Thread(target=run, name="trabalhador \udc80")
            thread.start()
            thread.join()
            assert isinstance(errors[0], ValueError)
        else:
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                assert isinstance(pool.submit(surrogate_task).exception(), ValueError)
    (span,) = timeline.spans
    assert span.status == "error" and "\udc80" in span.error
    if where == "thread":
        assert span.thread_name == "trabalhador \udc80"


def test_a_stray_file_in_the_spool_is_ignored():
    with record() as timeline:
        directory = recorder_module.current_collector().directory
        with open(os.path.join(directory, "123.4.0.ev"), "wb") as stray:
            stray.write(b"\x07garbage that is no event")
        with open(os.path.join(directory, "notas.txt"), "w") as stray:
            stray.write("isto não é um evento")
        quietly(grava_log)
        assert len(timeline.spans) == 1
    assert [s.name for s in timeline.spans] == ["grava_log"]


# --- two recordings at once, in two threads --------------------------------------------------


def test_two_threads_recording_at_once_each_get_exactly_their_own_work():
    results: dict[str, object] = {}
    barrier = threading.Barrier(2)

    def session(name: str, task_function, durations) -> None:
        barrier.wait()
        with record(durations=durations, quiet=True) as timeline:
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                for _ in range(3):
                    pool.submit(task_function)
            task_function()
            helper = threading.Thread(target=task_function)
            helper.start()
            helper.join()
        results[name] = timeline.final

    first = threading.Thread(target=session, args=("a", grava_log, {"grava_log": 1.0}))
    second = threading.Thread(target=session, args=("b", consulta_dados, {"consulta_dados": 3.0}))
    first.start(), second.start()
    first.join(), second.join()
    a, b = results["a"], results["b"]
    assert [s.name for s in a.spans] == ["grava_log"] * 5
    assert [s.name for s in b.spans] == ["consulta_dados"] * 5
    assert [s.seconds for s in a.spans] == pytest.approx([1.0 * SCALE] * 5)
    assert [s.seconds for s in b.spans] == pytest.approx([3.0 * SCALE] * 5)
    assert sys.stdout is sys.__stdout__ or not type(sys.stdout).__name__.startswith("_Quiet")


def test_a_quiet_block_does_not_silence_another_threads_prints(capsys):
    started, finish = threading.Event(), threading.Event()

    def quiet_session() -> None:
        with record(quiet=True):
            started.set()
            grava_log(0)
            finish.wait(5)

    thread = threading.Thread(target=quiet_session)
    thread.start()
    started.wait(5)
    print("o notebook continua falando")
    finish.set()
    thread.join()
    out = capsys.readouterr().out
    assert "o notebook continua falando" in out
    assert "Gravando log" not in out


@pytest.mark.parametrize("method", START_METHODS)
def test_a_quiet_block_silences_its_worker_processes_under_every_start_method(method, tmp_path):
    # A spawned worker writes to the file descriptor it inherited, not to the parent's
    # sys.stdout: only the recording's invitation can tell it to keep quiet. In a script of
    # its own: a forkserver started by an earlier test would write to that test's capture.
    script = tmp_path / "quiet_workers.py"
    script.write_text(textwrap.dedent(f'''
        import concurrent.futures, multiprocessing
        from conctutor import grava_log, record

        def run_one(**options):
            with record(**options) as timeline:
                context = multiprocessing.get_context({method!r})
                with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
                    pool.submit(grava_log, 0).result()
            return [s.name for s in timeline.spans]

        if __name__ == "__main__":
            print("quiet:", flush=True)
            print(run_one(quiet=True), flush=True)
            print("not quiet:", flush=True)
            print(run_one(), flush=True)
    '''), encoding="utf-8")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    quiet, not_quiet = result.stdout.split("not quiet:")
    assert quiet.split() == ["quiet:", "['grava_log']"]
    assert "Gravando log" in not_quiet  # the same kind of worker, in a recording that is not quiet, prints


@pytest.mark.skipif(sys.version_info < (3, 12) or "fork" not in START_METHODS,
                    reason="the warning exists from Python 3.12 on")
def test_forking_inside_record_gives_no_multithreading_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        with record() as timeline:
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
                quietly(lambda: pool.submit(calcula, 0).result())
    assert [s.name for s in timeline.spans] == ["calcula"]


# --- bad input fails at the call ------------------------------------------------------------------


def test_bad_panel_and_run_input_fails_before_anything_runs():
    from conctutor import programs

    with pytest.raises(TypeError, match="dicionário"):
        run_and_show(programs.sequential, durations="x")
    with pytest.raises(ValueError, match="desconhecida"):
        run_recorded(programs.sequential, durations={"baixa": 1.0})
    with pytest.raises(TypeError, match="não tem o"):
        run_recorded(programs.sequential, workers=2)
    pytest.importorskip("ipywidgets")
    with pytest.raises(ValueError, match="método de início"):
        panel(programs.with_processes, start_method=["fork", "nenhum"])
    with pytest.raises(TypeError, match="não tem o"):
        panel(programs.sequential, workers=(1, 4, 2))
    with pytest.raises(TypeError, match="lista de nomes"):
        panel(programs.sequential, tasks="grava_log")


def test_a_notebook_cell_task_records_in_forked_workers_and_fails_under_spawn_like_a_plain_function(tmp_path):
    """A script's __main__ stands for a notebook cell: module-level names of __main__."""
    script = tmp_path / "celula.py"
    script.write_text(textwrap.dedent('''
        import concurrent.futures, multiprocessing, sys
        from conctutor import record, task

        @task
        def quadrado(x):
            return x * x

        if __name__ == "__main__":
            with record() as timeline:
                with concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
                    print(list(pool.map(quadrado, range(4))))
            workers = {s.pid for s in timeline.spans} - {multiprocessing.current_process().pid}
            print(len(timeline.spans), len(workers) > 0)
    '''), encoding="utf-8")
    if "fork" not in START_METHODS:
        pytest.skip("needs fork")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["[0, 1, 4, 9]", "4 True"]


def test_an_inner_block_can_have_its_own_durations_and_quietness(capsys):
    with record() as outer:
        grava_log(0)
        with record(durations={"grava_log": 0.5}, quiet=True) as inner:
            grava_log()
        grava_log()
    assert [s.seconds for s in inner.spans] == pytest.approx([0.5 * SCALE])
    assert [s.seconds for s in outer.spans] == pytest.approx([0.0, 0.5 * SCALE, 2.0 * SCALE])
    assert capsys.readouterr().out.count("Gravando log") == 2


# --- conctutor.aio and the event loop --------------------------------------------------------------


def test_the_chapters_coroutines_wait_together_on_one_thread(capsys):
    from conctutor import aio

    async def main():
        dados = await aio.consulta_dados()
        await asyncio.gather(aio.processa_dados(dados), aio.grava_log())

    with record() as timeline:
        asyncio.run(main())
    spans = {s.name: s for s in timeline.spans}
    assert set(spans) == {"consulta_dados", "processa_dados", "grava_log"}
    assert len({s.thread_id for s in spans.values()}) == 1
    assert spans["processa_dados"].worker != spans["grava_log"].worker
    step = 2.0 * SCALE
    assert spans["processa_dados"].start >= spans["consulta_dados"].end - 1e-3
    # two steps, not three: the last two waited together (their overlap, not the makespan, which
    # a stall of the busy machine around asyncio.run once stretched to 5.5 steps)
    together = checks.overlap(spans["processa_dados"], spans["grava_log"])
    assert together > 0.5 * min(spans["processa_dados"].duration, spans["grava_log"].duration)
    for span in spans.values():
        assert span.seconds == pytest.approx(step)
        assert any(str(state) == "io" for _, _, state in span.waits)
    assert capsys.readouterr().out.count("...") == 3


def test_a_blocking_call_in_a_coroutine_holds_the_loop():
    from conctutor import aio

    @task
    async def bloqueia():
        time.sleep(0.3)  # the mistake: the whole loop stops here

    async def main():
        await asyncio.gather(aio.grava_log(segundos=1), bloqueia())

    with record() as timeline:
        quietly(asyncio.run, main())
    spans = {s.name: s for s in timeline.spans}
    blocked, other = spans["bloqueia"], spans["grava_log"]
    # grava_log started first and asked for 1 s * SCALE = 0.05 s, but could only finish after the 0.3 s block
    assert other.start <= blocked.start and other.end >= blocked.end - 0.01
    assert other.duration > 0.25
    if timeline.cpu.ours is not None:  # Linux: the sampler saw the loop's thread asleep, not running
        slept = sum(b - a for a, b, state in blocked.waits if str(state) == "io")
        assert slept > 0.5 * blocked.duration, blocked


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sampler reads /proc")
def test_short_sleeps_in_a_users_function_show_as_waiting_not_running():
    # 20 ms sleeps are shorter than the sampler's interval on a busy machine; the span's own
    # CPU time says it mostly waited, so the waiting state the sampler saw before holds
    @task
    def produz(segundos: float) -> None:
        time.sleep(segundos)

    with record() as timeline:
        for _ in range(15):
            produz(0.02)
    spans = timeline.spans
    running = sum(span.running_time for span in spans)
    total = sum(span.duration for span in spans)
    assert running < 0.3 * total


def test_a_plain_task_called_from_a_coroutine_shows_in_that_asyncio_tasks_lane():
    async def conta(segundos: float) -> None:
        calcula(segundos)  # a plain function: it holds the loop while it runs

    async def main() -> None:
        await asyncio.gather(conta(0.02), conta(0.02))

    with record() as timeline:
        asyncio.run(main())
    spans = timeline.spans
    assert [s.name for s in spans] == ["calcula", "calcula"]
    assert len({s.worker for s in spans}) == 2 and all(" · Task-" in s.worker for s in spans)
    assert len({s.thread_id for s in spans}) == 1
    first, second = spans
    assert second.start >= first.end - 1e-3  # one after the other: the loop was held


def test_the_task_that_entered_record_keeps_the_threads_lane():
    # a notebook cell runs inside the kernel's asyncio task: its own calls are "principal",
    # only the tasks it starts get lanes of their own
    from conctutor import aio

    async def cell() -> None:
        with record() as timeline:
            calcula(0.01)
            await aio.grava_log(0.01)
            await asyncio.gather(aio.grava_log(0.01), aio.grava_log(0.01))
        workers = [span.worker for span in timeline.spans]
        assert workers[:2] == ["principal", "principal"]
        assert len(set(workers[2:])) == 2 and all(" · Task-" in w for w in workers[2:])

    with contextlib.redirect_stdout(io.StringIO()):
        asyncio.run(cell())


def test_a_task_cut_short_counts_in_the_ideal_time_for_what_it_took():
    async def forgotten() -> None:
        asyncio.get_running_loop().create_task(grava_log(segundos=5.0 / float(os.environ["CONCTUTOR_TIME_SCALE"])))
        await asyncio.sleep(0.05)  # the loop ends and cancels the task, which asked for 5 s

    from conctutor.aio import grava_log

    with contextlib.redirect_stdout(io.StringIO()), record() as timeline:
        asyncio.run(forgotten())
    (span,) = timeline.spans
    assert span.status == "interrupted"
    assert timeline.ideal_time < 1.0




# --- @task keeps Python's behaviour (issue 20, item 10) ----------------------------------------------


class Calculadora:
    @task
    @staticmethod
    def soma(a: int, b: int) -> int:
        return a + b

    @task
    @classmethod
    def nome(cls) -> str:
        return cls.__name__


def test_task_over_staticmethod_and_classmethod_keeps_their_calls():
    calculadora = Calculadora()
    with record() as timeline:
        assert calculadora.soma(2, 3) == 5
        assert Calculadora.soma(1, 1) == 2
        assert calculadora.nome() == "Calculadora" and Calculadora.nome() == "Calculadora"
    assert [s.name for s in timeline.spans] == ["soma", "soma", "nome", "nome"]


@task
def contagem(n: int):
    for i in range(n):
        time.sleep(0.02)
        yield i
    return "fim"


def test_a_generators_span_lasts_its_iteration_and_its_pauses_are_waits():
    with record() as timeline:
        gerador = contagem(3)
        consumed = []
        for value in gerador:
            consumed.append(value)
            time.sleep(0.03)  # the consumer's time: the generator waits at its yield
    assert consumed == [0, 1, 2]
    (span,) = timeline.spans
    assert span.status == "ok"
    assert span.duration > 0.12  # three steps of 0.02 s and three pauses of 0.03 s, not its creation
    waited = sum(b - a for a, b, _ in span.waits)
    assert waited > 0.06


def test_a_generator_keeps_send_throw_close_and_its_return_value():
    def consumidor():
        total = 0
        while True:
            try:
                value = yield total
            except ValueError:
                total = -1
                continue
            if value is None:
                return total
            total += value

    gravado = task(consumidor)
    with record() as timeline:
        plain, recorded = consumidor(), gravado()
        for generator in (plain, recorded):
            next(generator)
        assert plain.send(5) == recorded.send(5) == 5
        assert plain.throw(ValueError) == recorded.throw(ValueError) == -1
        with pytest.raises(StopIteration) as stop_plain:
            plain.send(None)
        with pytest.raises(StopIteration) as stop_recorded:
            recorded.send(None)
        assert stop_plain.value.value == stop_recorded.value.value == -1
        closed = gravado()
        next(closed)
        closed.close()
    assert [s.status for s in timeline.spans] == ["ok", "interrupted"]


def test_an_async_generators_span_lasts_its_iteration():
    @task
    async def tiques(n: int):
        for i in range(n):
            await asyncio.sleep(0.02)
            yield i

    async def main() -> list[int]:
        return [value async for value in tiques(3)]

    with record() as timeline:
        assert asyncio.run(main()) == [0, 1, 2]
    (span,) = timeline.spans
    assert span.duration > 0.05 and span.status == "ok"


@task
def profundidade(n: int) -> int:
    return 0 if n == 0 else 1 + profundidade(n - 1)


def _deepest(function) -> int:
    low, high = 1, 5000
    while low < high:
        middle = (low + high + 1) // 2
        try:
            function(middle)
            low = middle
        except RecursionError:
            high = middle - 1
    return low


def test_recursion_under_task_goes_about_as_deep_as_without_it():
    def plain(n: int) -> int:
        return 0 if n == 0 else 1 + plain(n - 1)

    limit = sys.getrecursionlimit()
    without = _deepest(plain)
    assert _deepest(profundidade) >= 0.85 * without
    with record():
        assert _deepest(profundidade) >= 0.85 * without
    assert sys.getrecursionlimit() == limit  # given back


# --- settings and arguments (issue 20, item 13) ---------------------------------------------------------


def test_watching_a_function_that_waits_fails_at_once_with_a_portuguese_error():
    import queue

    fila: queue.Queue[int] = queue.Queue()
    started = time.perf_counter()
    with pytest.raises(TypeError, match="qsize"):
        with record(watch={"fila": fila.get}):
            pass
    with pytest.raises(ValueError, match="não devolveu um número em 1 s"):
        with record(watch={"fila": lambda: fila.get()}):
            pass
    assert time.perf_counter() - started < 5
    fila.put(1)  # the reader left waiting takes it: the reason to refuse get before calling it
    assert conctutor.engine.routing.open_collectors == []


def test_the_ptrace_right_given_to_a_sidecar_is_taken_back_when_it_stops(monkeypatch):
    from conctutor import sampling

    calls: list[int] = []
    monkeypatch.setattr(sampling, "_prctl_set_ptracer", lambda pid: calls.append(pid) or True)
    monkeypatch.setattr(sampling, "_ptracer_granted", False)
    with record() as timeline:
        sampling.allow_sampler(timeline._source.sampler.pid)  # what register_thread does under Yama
        grava_log(0.01)
    assert calls[0] != 0 and calls[-1] == 0


def test_a_students_functions_named_like_the_chapters_tasks_need_nothing_of_each_other():
    # issue 21: the ideal time took the chapter's dependency by name, and two of a student's own functions
    # called consulta_dados and processa_dados got an ideal of 0.60 s where 0.30 s is right
    @task(kind="io")
    def consulta_dados() -> str:
        time.sleep(0.3)
        return "dados"

    @task(kind="io")
    def processa_dados(dados: str) -> None:
        time.sleep(0.3)

    with record() as timeline, concurrent.futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(consulta_dados)
        second = pool.submit(processa_dados, "outros dados")
        first.result(), second.result()
    assert timeline.ideal_time < 0.45, timeline.ideal_time  # the two waited together: about 0.3 s
    assert set(timeline.needs) == {()}
    with record() as chapter:  # the chapter's own processa_dados needs consulta_dados's data
        conctutor.processa_dados(conctutor.consulta_dados())
    assert dict(zip(chapter.names, chapter.needs))["processa_dados"] == ("consulta_dados",)
