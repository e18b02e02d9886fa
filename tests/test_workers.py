"""Worker processes and the recording: a pool made before the block, the invitation as plain data,
subinterpreters left alone, spool directories of killed recorders (issue 20, items 5 to 8)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import io
import multiprocessing
import multiprocessing.pool
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conctutor import grava_log, record, recorder, spool, task
from conctutor.engine import invitation, routing

ROOT = Path(__file__).resolve().parent.parent
START_METHODS = [m for m in ("fork", "spawn", "forkserver") if m in multiprocessing.get_all_start_methods()]


def _silence() -> None:
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115


@task
def dobro(x: int) -> int:
    return 2 * x


# --- a pool made before the block -----------------------------------------------------------


@pytest.mark.parametrize("method", START_METHODS)
def test_a_process_pool_made_before_the_block_is_recorded(method):
    context = multiprocessing.get_context(method)
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=context, initializer=_silence) as pool:
        assert list(pool.map(dobro, [1, 2])) == [2, 4]  # its workers are up before the block
        with record() as timeline:
            assert pool.submit(dobro, 3).result() == 6
            assert list(pool.map(dobro, [4, 5])) == [8, 10]
            pool.submit(grava_log, 0.1).result()
        after = pool.submit(dobro, 6).result()
    assert after == 12
    spans = timeline.spans
    assert sorted(s.name for s in spans) == ["dobro", "dobro", "dobro", "grava_log"]
    assert all(s.pid != os.getpid() for s in spans)


@pytest.mark.parametrize("method", START_METHODS)
def test_a_multiprocessing_pool_made_before_the_block_is_recorded(method):
    with multiprocessing.get_context(method).Pool(2, initializer=_silence) as pool:
        assert pool.map(dobro, [1, 2]) == [2, 4]
        with record() as timeline:
            assert pool.apply_async(dobro, (3,)).get(timeout=60) == 6
            assert pool.map(dobro, [4, 5]) == [8, 10]
            assert sorted(pool.imap_unordered(dobro, [6])) == [12]
            assert pool.starmap(dobro, [(7,)]) == [14]
    assert [s.name for s in timeline.spans] == ["dobro"] * 5


def test_blocks_in_two_threads_stay_apart_with_one_pool():
    import threading

    context = multiprocessing.get_context("spawn")
    timelines = {}
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=context, initializer=_silence) as pool:
        pool.submit(dobro, 0).result()

        def block(name: str, value: int) -> None:
            with record() as timeline:
                pool.submit(dobro, value).result()
            timelines[name] = timeline

        threads = [threading.Thread(target=block, args=(str(i), i)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert [len(timelines[name].spans) for name in ("0", "1")] == [1, 1]


# --- the invitation is plain data -------------------------------------------------------------


def _python_without_conctutor(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """This Python with no site-packages (``-S``, so the editable install of conctutor is not seen),
    and only numpy and psutil on PYTHONPATH: conctutor is found only through ``sys.path.insert``."""
    site = Path(np_path()).parent
    packages = tmp_path / "packages"
    packages.mkdir()
    for name in ("numpy", "numpy.libs", "psutil"):
        if (site / name).exists():
            (packages / name).symlink_to(site / name)
    env = dict(os.environ, PYTHONPATH=str(packages))
    return [sys.executable, "-S"], env


def np_path() -> str:
    import numpy

    return os.path.dirname(numpy.__file__)


@pytest.mark.parametrize("method", [m for m in START_METHODS if m != "fork"])
def test_a_program_that_finds_conctutor_through_sys_path_records_its_spawned_workers(tmp_path, method):
    script = tmp_path / "programa.py"
    script.write_text(textwrap.dedent(f"""
        import concurrent.futures, multiprocessing, sys
        sys.path.insert(0, {str(ROOT)!r})
        from conctutor import grava_log, record

        if __name__ == "__main__":
            context = multiprocessing.get_context({method!r})
            with record() as timeline:
                with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
                    pool.submit(grava_log, 0.05).result()
            print("spans:", len(timeline.spans))
    """))
    command, env = _python_without_conctutor(tmp_path)
    result = subprocess.run([*command, str(script)], capture_output=True, text=True, timeout=120, env=env,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "spans: 1" in result.stdout


def test_the_invitation_holds_plain_types_only():
    with record():
        here = invitation.invitation_here()
    assert here is not None
    directory, owner, durations, scale, quiet = here
    assert type(directory) is str and type(owner) is int and type(durations) is dict and type(scale) is str
    assert all(type(k) is str and type(v) is float for k, v in durations.items())
    assert type(quiet) is bool


@pytest.mark.parametrize("bad", [None, (), ("x",), ("d", "não é pid", {}, "", False), 42, ("d", 1, [], "", True)])
def test_a_bad_invitation_never_fails_a_worker(bad):
    recorder.accept_invitation(bad)  # nothing raised


def test_a_bad_time_scale_fails_only_the_chapters_tasks(tmp_path):
    script = tmp_path / "programa.py"
    script.write_text(textwrap.dedent("""
        import concurrent.futures, multiprocessing
        from conctutor import record, task, grava_log

        @task
        def soma(a, b):
            return a + b

        if __name__ == "__main__":
            context = multiprocessing.get_context("spawn")
            with record() as timeline:
                with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
                    print("soma:", pool.submit(soma, 2, 3).result())
            print("spans:", len(timeline.spans))
            try:
                grava_log()
            except ValueError as error:
                print("erro:", error)
    """))
    env = dict(os.environ, CONCTUTOR_TIME_SCALE="abc")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "soma: 5" in result.stdout and "spans: 1" in result.stdout
    assert "erro: CONCTUTOR_TIME_SCALE deve ser um número" in result.stdout


def test_a_decimal_comma_in_the_time_scale_is_understood(monkeypatch):
    from conctutor.settings import time_scale

    monkeypatch.setenv("CONCTUTOR_TIME_SCALE", "0,5")
    assert time_scale() == 0.5


# --- subinterpreters are left as they are (3.14+) -----------------------------------------------------


needs_interpreters = pytest.mark.skipif(sys.version_info < (3, 14), reason="InterpreterPoolExecutor: Python 3.14+")


@needs_interpreters
def test_an_interpreter_pool_runs_inside_a_block_as_without_conctutor(tmp_path):
    script = tmp_path / "programa.py"
    script.write_text(textwrap.dedent("""
        from concurrent.futures import InterpreterPoolExecutor
        from conctutor import record, task

        def quadrado(x):
            return x * x

        @task
        def cubo(x):
            return x * x * x

        if __name__ == "__main__":
            with InterpreterPoolExecutor(2) as pool:
                print("fora:", list(pool.map(quadrado, [1, 2, 3])), pool.submit(cubo, 2).result())
                with record():
                    print("dentro:", list(pool.map(quadrado, [1, 2, 3])), pool.submit(cubo, 3).result())
            with record(), InterpreterPoolExecutor(2) as pool:
                print("feito dentro:", pool.submit(quadrado, 4).result(), pool.submit(cubo, 4).result())
    """))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "fora: [1, 4, 9] 8" in result.stdout
    assert "dentro: [1, 4, 9] 27" in result.stdout
    assert "feito dentro: 16 64" in result.stdout


RECORDING_MODULES = ["conctutor", "conctutor.recorder", *(f"conctutor.engine.{name}" for name in (
    "recorder", "decorators", "suspensions", "routing", "quiet", "invitation", "hooks", "events", "sinks",
    "event_files", "assembly", "model", "settings"))]
"""What a recorded call loads: numpy and psutil cannot load in a subinterpreter, so none of these may import them."""


@pytest.mark.skipif(sys.version_info < (3, 14), reason="concurrent.interpreters: Python 3.14+")
def test_the_recording_modules_load_inside_a_subinterpreter_where_a_task_runs():
    from concurrent import interpreters

    interpreter = interpreters.create()
    try:
        interpreter.exec(textwrap.dedent(f"""
            import importlib, sys
            sys.path.insert(0, {str(ROOT)!r})
            for name in {RECORDING_MODULES!r}:
                importlib.import_module(name)
            loaded = sorted({{"numpy", "psutil"}} & set(sys.modules))
            assert not loaded, loaded
            from conctutor import task

            @task
            def dobro(x):
                return 2 * x

            assert dobro(21) == 42
        """))
    finally:
        interpreter.close()


# --- spool directories of a killed recorder ----------------------------------------------------------


def test_the_spool_of_a_sigkilled_recorder_is_removed(tmp_path):
    script = tmp_path / "programa.py"
    script.write_text(textwrap.dedent("""
        import os, sys, time
        from conctutor import record, grava_log
        with record():
            grava_log(0.01)
            print("pid", os.getpid(), flush=True)
            time.sleep(60)
    """))
    env = dict(os.environ, TMPDIR=str(tmp_path))
    with subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env) as process:
        assert process.stdout is not None
        pid = int(next(line for line in process.stdout if line.startswith("pid")).split()[1])
        base = tmp_path / f"conctutor-{os.getuid()}"
        assert [p for p in base.iterdir() if spool.owner_pid(str(p)) == pid]
        os.kill(pid, signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and list(base.iterdir()):
        time.sleep(0.05)
    assert list(base.iterdir()) == []  # the sampler removed it when its recorder died


def test_the_next_record_removes_the_spools_of_dead_recorders(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    base = Path(spool.base_directory())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    orphan = base / f"{int(dead.stdout)}-abcd1234"
    orphan.mkdir()
    (orphan / "thread_states").write_bytes(b"")
    old = time.time() - 60
    os.utime(orphan, (old, old))
    alive = base / "1-efgh5678"  # process 1 is alive, and older than the directory: not an orphan
    alive.mkdir()
    os.utime(alive, (old, old))
    with contextlib.redirect_stdout(io.StringIO()), record():
        grava_log(0.01)
    assert not orphan.exists()
    assert alive.exists()


def test_a_read_only_temp_directory_gives_a_portuguese_error(tmp_path, monkeypatch):
    import tempfile

    if os.geteuid() == 0:
        # root writes anywhere: a read-only temp directory is simulated by the error the system gives
        def read_only(*args, **kwargs):
            raise OSError(30, "Read-only file system")

        monkeypatch.setattr(tempfile, "mkdtemp", read_only)
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    else:
        tmp_path.chmod(0o500)
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(OSError, match="TMPDIR"):
        with record():
            pass
    assert routing.open_collectors == []


# --- hooks ------------------------------------------------------------------------------------------


def test_the_hooks_are_undone_by_uninstall_and_come_back_with_the_next_block():
    import threading

    with record():
        pass
    patched_start = threading.Thread.start
    recorder.uninstall_hooks()
    try:
        assert threading.Thread.start is not patched_start
        assert concurrent.futures.ProcessPoolExecutor.submit.__module__ == "concurrent.futures.process"
        assert multiprocessing.pool.Pool.apply_async.__module__ == "multiprocessing.pool"
    finally:
        with record() as timeline:
            threading.Thread(target=dobro, args=(1,)).start()
            time.sleep(0.05)
    assert [s.name for s in timeline.spans] == ["dobro"]
