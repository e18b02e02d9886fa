"""Tasks called in subinterpreters (Python 3.14's `concurrent.interpreters`) land on the timeline, on lanes
of their own, with running and waiting from the sampler (issue 22).

The 3.14 tests run in `.ci/run`'s 3.14 sessions (noxfile.py); below 3.14 they skip and say why.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from interpreter_tasks import chama_laco, duas_threads, ids_here, laco

from conctutor import calcula, record
from conctutor.checks import overlap
from conctutor.engine.model import Lane, State
from conctutor.render.labels import lane_labels

needs_interpreters = pytest.mark.skipif(sys.version_info < (3, 14),
                                        reason="concurrent.interpreters e InterpreterPoolExecutor: Python 3.14+")
GIL_ON = getattr(sys, "_is_gil_enabled", lambda: True)()
ON_PATH = f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})"
"""A new interpreter's ``sys.path`` is the one the process started with, without the folder pytest adds:
what it runs first so that `interpreter_tasks`, whose functions are sent by name, is found there."""


def waited_for_the_gil(span) -> float:
    return sum(end - start for start, end, state in span.waits if state == State.GIL)


@needs_interpreters
@pytest.mark.parametrize("pool_made", ["before the block", "inside the block"])
def test_two_calcula_in_an_interpreter_pool_run_side_by_side_on_lanes_of_their_own(pool_made):
    from concurrent.futures import InterpreterPoolExecutor

    seconds = 4.0 * float(os.environ["CONCTUTOR_TIME_SCALE"])
    made_before = pool_made == "before the block"
    pool = InterpreterPoolExecutor(2, initializer=exec, initargs=(ON_PATH,)) if made_before else None
    try:
        if pool is not None:
            list(pool.map(time.sleep, [0.05, 0.05]))  # both its interpreters exist before the block
        with record() as timeline:
            executor = pool or InterpreterPoolExecutor(2, initializer=exec, initargs=(ON_PATH,))
            try:
                # an interpreter starts in tens of milliseconds: start both before the two loops
                list(executor.map(time.sleep, [0.05, 0.05]))
                for future in [executor.submit(calcula, 4.0) for _ in range(2)]:
                    future.result()
            finally:
                if pool is None:
                    executor.shutdown()
    finally:
        if pool is not None:
            pool.shutdown()
    first, second = timeline.spans
    assert first.pid == second.pid == os.getpid()
    assert first.lane != second.lane
    assert first.lane.interpreter and second.lane.interpreter
    assert first.lane.interpreter != second.lane.interpreter
    assert first.worker.startswith("interpretador ") and second.worker.startswith("interpretador ")
    # each used its seconds of CPU, in parallel: in progress together almost all along (with another
    # program on a core, both go on in turns with it), and neither waited for a GIL: each has its own
    for span in (first, second):
        assert 0.9 * seconds < span.cpu_time < 1.1 * seconds, span
        assert waited_for_the_gil(span) == 0.0, span.waits
    assert overlap(first, second) > 0.7 * min(first.duration, second.duration)
    if timeline.sampled:
        assert sum(end - start for start, end in first.running) > 0.5 * seconds


@needs_interpreters
def test_threads_in_one_interpreter_share_its_gil_and_are_drawn_waiting_for_it():
    from concurrent import interpreters

    interpreter = interpreters.create()
    interpreter.exec(ON_PATH)
    try:
        with record() as timeline:
            interpreter.call(laco, 1000)
            interpreter.call(duas_threads, 4.0)
    finally:
        interpreter.close()
    names = [span.name for span in timeline.spans]
    assert sorted(names) == ["calcula", "calcula", "duas_threads", "laco"], names
    assert {span.lane.interpreter for span in timeline.spans} == {interpreter.id}
    loops = [span for span in timeline.spans if span.name == "calcula"]
    assert loops[0].lane != loops[1].lane
    assert loops[0].lane.native_id != loops[1].lane.native_id
    if GIL_ON and timeline.sampled:
        # one GIL for the interpreter's two threads: they take turns, and the sampler sees them wait for it
        # (not "bloqueada": its GIL lies in its own state, on the heap), or lose a core to another program
        assert sum(waited_for_the_gil(span) for span in loops) > 0.1 * sum(span.duration for span in loops), \
            [span.waits[:5] for span in loops]


@needs_interpreters
def test_a_plain_function_sent_to_an_interpreter_pool_records_the_tasks_it_calls():
    from concurrent.futures import InterpreterPoolExecutor

    with InterpreterPoolExecutor(1, initializer=exec, initargs=(ON_PATH,)) as pool:
        with record() as timeline:
            assert pool.submit(chama_laco, 10_000).result() == laco.__wrapped__(10_000)
        outside = pool.submit(chama_laco, 10).result()
    assert outside == laco.__wrapped__(10)
    (span,) = timeline.spans
    assert span.name == "laco" and span.lane.interpreter


@needs_interpreters
def test_a_task_sent_to_an_interpreter_after_the_block_records_nothing_and_runs():
    from concurrent.futures import InterpreterPoolExecutor

    with InterpreterPoolExecutor(1, initializer=exec, initargs=(ON_PATH,)) as pool:
        with record() as first:
            pool.submit(laco, 100).result()
        assert pool.submit(laco, 100).result() == laco.__wrapped__(100)
        with record() as second:
            pool.submit(laco, 200).result()
    assert len(first.spans) == 1 and len(second.spans) == 1


def test_a_subinterpreters_lanes_say_which_interpreter_and_which_thread():
    pid = 4242
    lanes = [
        Lane(pid, 1, pid, "MainThread", True),
        Lane(pid, 2, 4300, "ThreadPoolExecutor-0_0", False),
        Lane(pid, 3, 4301, "Dummy-1", False, interpreter=5),
        Lane(pid, 2, 4300, "Dummy-1", False, interpreter=7),
        Lane(pid, 1, pid, "MainThread", True, interpreter=5),
        Lane(777, 1, 778, "Dummy-1", False, interpreter=2),
    ]
    assert lane_labels(lanes, pid) == [
        "principal",
        "thread 1",
        "interpretador 1 · thread 2",
        "interpretador 2 · thread 1",  # the same OS thread as the main interpreter's thread 1
        "interpretador 1 · principal",
        "processo 1 (pid 777) · interpretador 1 · thread 1",
    ]


def test_ids_start_apart_in_each_interpreter():
    from conctutor.engine import subinterpreters

    assert subinterpreters.INTERPRETER_ID == 0 and subinterpreters.ID_BASE == 0
    assert not subinterpreters.IN_SUBINTERPRETER
    assert subinterpreters.own_gil_address() == 0


@needs_interpreters
def test_ids_and_the_gils_address_in_a_subinterpreter():
    from concurrent import interpreters

    interpreter = interpreters.create()
    interpreter.exec(ON_PATH)
    try:
        answer = interpreter.call(ids_here)
    finally:
        interpreter.close()
    interpreter_id, base, address = answer
    assert interpreter_id == interpreter.id
    assert base == (interpreter.id % 4096) << 20
    assert address > 0


@needs_interpreters
def test_an_interpreter_pool_job_that_fails_still_leaves_its_span():
    from concurrent.futures import InterpreterPoolExecutor

    with InterpreterPoolExecutor(1, initializer=exec, initargs=(ON_PATH,)) as pool, record() as timeline:
        future = pool.submit(laco, "não é um número")
        with pytest.raises(TypeError):
            future.result()
    (span,) = timeline.spans
    assert span.name == "laco" and span.status.value == "error" and "str" in span.error
    assert concurrent.futures.wait([future]).done


def test_a_lanes_interpreter_is_saved_and_a_run_saved_without_one_loads_in_the_main_interpreter():
    from conctutor import Timeline

    saved = json.loads((Path(__file__).parent / "data" / "run-threads.json").read_text(encoding="utf-8"))
    assert all(len(lane) == 7 for lane in saved["lanes"])  # saved before lanes had an interpreter
    run = Timeline.from_dict(saved)
    assert {lane.interpreter for lane in run.lanes} == {0}
    data = run.to_dict()
    assert all(len(lane) == 8 for lane in data["lanes"])
    data["lanes"][-1][7] = 3
    again = Timeline.from_dict(data)
    assert again.lanes[-1].interpreter == 3
    assert again.labels[-1].startswith("interpretador 1 · ")
    data["lanes"][-1][7] = -1
    with pytest.raises(ValueError, match="interpreter"):
        Timeline.from_dict(data)


@needs_interpreters
def test_a_scripts_own_function_that_crosses_as_code_records_the_threads_it_starts(tmp_path):
    # A function of a script's __main__ that uses no globals crosses to another interpreter as its code;
    # Interpreter.call hands the interpreter the recording first, so the tasks its threads call are recorded.
    script = tmp_path / "programa.py"
    script.write_text(textwrap.dedent("""
        from concurrent import interpreters
        from conctutor import record

        def duas_threads(segundos):
            import threading
            from conctutor import calcula
            threads = [threading.Thread(target=calcula, args=(segundos,)) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

        if __name__ == "__main__":
            outro = interpreters.create()
            try:
                with record() as timeline:
                    outro.call(duas_threads, 1.0)
            finally:
                outro.close()
            for span in timeline.spans:
                print(span.name, span.lane.interpreter == outro.id, span.worker)
    """))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("calcula True interpretador 1 · thread ") for line in lines), \
        result.stdout
    assert lines[0] != lines[1]  # two threads, two lanes
