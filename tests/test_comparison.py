"""conctutor.comparison: notebook 08's figures, each one fitting a projected screen."""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import subprocess
import sys

import pytest

from conctutor import comparison, grava_log, record
from conctutor.comparison import PythonRun

pytestmark = pytest.mark.usefixtures("fast_tasks")  # tests/conftest.py

MODELS = ("sequencial", "threads", "asyncio", "processos", "fila de tarefas")


@pytest.fixture(scope="module")
def two_runs():
    """Four grava_log one after another, and four in four threads: two real runs with one and four lanes."""
    import os

    previous = os.environ.get("CONCTUTOR_TIME_SCALE")
    os.environ["CONCTUTOR_TIME_SCALE"] = "0.05"
    try:
        with record(quiet=True) as sequential:
            for _ in range(4):
                grava_log()
        with record(quiet=True) as threads, concurrent.futures.ThreadPoolExecutor(max_workers=4) as executor:
            for _ in range(4):
                executor.submit(grava_log)
    finally:
        if previous is None:
            del os.environ["CONCTUTOR_TIME_SCALE"]
        else:
            os.environ["CONCTUTOR_TIME_SCALE"] = previous
    return sequential, threads


def five_models(two_runs) -> dict:
    sequential, threads = two_runs
    return {f"E/S · {model}": (sequential if model == "sequencial" else threads) for model in MODELS}


def titles(figure) -> list[str]:
    return [text.get_text() for subfigure in figure.subfigs for text in subfigure.texts
            if text.get_text() in MODELS]


def test_plot_workload_splits_a_stack_too_tall_for_a_screen_into_figures_on_one_time_axis(two_runs):
    figures = comparison.plot_workload(five_models(two_runs), "E/S", cpu=True)
    assert len(figures) >= 2
    for figure in figures:
        assert figure.get_size_inches()[1] * figure.dpi <= comparison.MAX_HEIGHT_PX
    assert [title for figure in figures for title in titles(figure)] == list(MODELS)  # in order, each once
    limits = {ax.get_xlim() for figure in figures for ax in figure.get_axes()}
    assert len(limits) == 1  # one time axis: a bar's length compares from one figure to the next


def test_plot_workload_keeps_a_stack_that_fits_in_one_figure(two_runs):
    sequential, threads = two_runs
    figures = comparison.plot_workload({"E/S · sequencial": sequential, "E/S · threads": threads,
                                        "contas · threads": threads}, "E/S")
    assert len(figures) == 1
    assert titles(figures[0]) == ["sequencial", "threads"]


def test_plot_workload_draws_the_predictions_of_its_workload_only(two_runs):
    runs = five_models(two_runs)
    guesses = {"E/S · threads": 0.4, "contas · threads": 9.0}
    figures = comparison.plot_workload(runs, "E/S", predictions=guesses)
    texts = [text.get_text() for figure in figures for subfigure in figure.subfigs
             for ax in subfigure.axes for text in ax.texts]
    assert any("0,02 s" in text for text in texts)  # 0.4 s at the time scale 0.05, on the threads' run
    with pytest.raises(ValueError, match="não há execução 'E/S · pool'; as de 'E/S' são: 'E/S · sequencial', "):
        comparison.plot_workload(runs, "E/S", predictions={"E/S · pool": 1.0})


def test_runs_of_names_the_workloads_measured_when_asked_for_another(two_runs):
    with pytest.raises(ValueError, match="nenhuma execução da carga 'hash'; as cargas medidas são: 'E/S'"):
        comparison.runs_of(five_models(two_runs), "hash")
    with pytest.raises(TypeError, match="dicionário"):
        comparison.runs_of([two_runs[0]], "E/S")


def test_speedup_figure_draws_the_measured_speedup_between_the_two_ideals(two_runs):
    sequential, threads = two_runs
    times = {1: sequential.makespan, 2: threads.makespan, 4: threads.makespan}
    figure = comparison.speedup_figure(times, cores=2)
    (ax,) = figure.get_axes()
    lines = {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()}
    assert lines["ideal sem limite (n)"] == [1, 2, 4]
    assert lines["ideal com 2 núcleos"] == [1, 2, 2]
    speedup = sequential.makespan / threads.makespan
    assert lines["medida"] == pytest.approx([1.0, speedup, speedup])
    assert figure.get_size_inches()[1] * figure.dpi <= comparison.MAX_HEIGHT_PX
    with pytest.raises(ValueError, match="com 1 worker"):
        comparison.speedup_figure({2: 1.0})
    with pytest.raises(ValueError, match="segundos medidos"):
        comparison.speedup_figure({1: 1.0, 2: -1.0})


SCRIPT = """
import threading, time

def conta(n):
    total = 0
    for i in range(n):
        total += i

inicio = time.perf_counter()
conta(20_000); conta(20_000)
sequencial = time.perf_counter() - inicio
threads = [threading.Thread(target=conta, args=(20_000,)) for _ in range(2)]
inicio = time.perf_counter()
for t in threads: t.start()
for t in threads: t.join()
print(sequencial, time.perf_counter() - inicio, 0)
"""


def test_run_in_pythons_reads_the_three_numbers_the_script_printed_in_each_python():
    version = sys.version.split()[0]
    (run,) = comparison.run_in_pythons(SCRIPT, {"este": (sys.executable, version, False)})
    assert run.name == "este" and run.version == version and not run.free_threaded
    assert run.sequential > 0 and run.threads > 0 and run.lost == 0
    figure = comparison.free_threaded_figure([run], increments=800_000)
    assert figure.get_size_inches()[1] * figure.dpi <= comparison.MAX_HEIGHT_PX
    with pytest.raises(RuntimeError, match="não imprimiu os três números esperados"):
        comparison.run_in_pythons("print('olá')", {"este": (sys.executable, version, False)})


def test_gil_baseline_is_the_same_version_with_the_gil_when_there_is_one():
    this = PythonRun("3.11.7 (este, com GIL)", "3.11.7", False, 0.47, 0.49, 0)
    same = PythonRun("3.14.7 (com GIL)", "3.14.7", False, 0.50, 0.52, 0)
    free_314 = PythonRun("3.14.7t (sem GIL)", "3.14.7", True, 0.57, 0.31, 550_000)
    free_313 = PythonRun("3.13.5t (sem GIL)", "3.13.5", True, 0.76, 0.38, 580_000)
    runs = [this, same, free_313, free_314]
    assert comparison.gil_baseline(free_314, runs) is same
    assert comparison.gil_baseline(free_313, runs) is this  # no 3.13 with the GIL: this Python
    with pytest.raises(ValueError, match="nenhum Python com GIL"):
        comparison.gil_baseline(free_314, [free_314])


def test_pythons_to_compare_pairs_each_free_threaded_python_with_its_version_with_the_gil(tmp_path, monkeypatch):
    # stand-ins that answer the GIL check the way each kind of build would
    def fake(build: str, answer: str) -> str:
        path = tmp_path / build / "bin" / f"python{build}"
        path.parent.mkdir(parents=True)
        path.write_text(f"#!/bin/sh\necho '{answer}'\n", encoding="utf-8")
        path.chmod(0o755)
        return str(path)

    free = fake("3.14t", "3.14.9 0")
    with_gil = fake("3.14", "3.14.9 1")
    fake("3.13t", "3.13.9 0")  # no 3.13 with the GIL to pair it with
    monkeypatch.setenv("CONCTUTOR_PYTHONS_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))  # no pyenv versions
    found = comparison.pythons_to_compare()
    this = sys.version.split()[0]
    if this.startswith("3.14."):  # this Python is the one with the GIL that 3.14t is compared with
        assert list(found) == [f"{this} (este, com GIL)", "3.13.9t (sem GIL)", "3.14.9t (sem GIL)"]
    else:
        assert list(found) == [f"{this} (este, com GIL)", "3.13.9t (sem GIL)", "3.14.9 (com GIL)", "3.14.9t (sem GIL)"]
        assert found["3.14.9 (com GIL)"] == comparison.Candidate(with_gil, "3.14.9", False)
    assert found["3.14.9t (sem GIL)"] == comparison.Candidate(free, "3.14.9", True)
    forcing = comparison.pythons_to_compare(force_gil=True)
    assert forcing["3.14.9t com -X gil=1"] == comparison.Candidate(free, "3.14.9", True, gil_forced=True)
    assert [name for name in forcing if name not in found] == ["3.13.9t com -X gil=1", "3.14.9t com -X gil=1"]

    # a 3.13 with the GIL among pyenv's versions pairs with 3.13t
    in_pyenv = tmp_path / "pyenv" / "versions" / "3.13.2" / "bin" / "python3.13"
    in_pyenv.parent.mkdir(parents=True)
    in_pyenv.write_text("#!/bin/sh\necho '3.13.2 1'\n", encoding="utf-8")
    in_pyenv.chmod(0o755)
    found = comparison.pythons_to_compare()
    assert found["3.13.2 (com GIL)"] == comparison.Candidate(str(in_pyenv), "3.13.2", False)


def test_a_free_threaded_python_asked_to_keep_the_gil_runs_with_x_gil_1(tmp_path):
    # a stand-in that prints what the test script would, depending on whether it was given -X gil=1
    fake = tmp_path / "python3.14t"
    fake.write_text('#!/bin/sh\nif [ "$1" = "-X" ] && [ "$2" = "gil=1" ]; then echo "1.0 2.0 0 1.0"; '
                    'else echo "1.0 1.0 300 2.0"; fi\n', encoding="utf-8")
    fake.chmod(0o755)
    free, forced = comparison.run_in_pythons("", {
        "3.14.9t (sem GIL)": comparison.Candidate(str(fake), "3.14.9", True),
        "3.14.9t com -X gil=1": comparison.Candidate(str(fake), "3.14.9", True, gil_forced=True),
    })
    assert (free.threads, free.lost, free.gil_forced) == (1.0, 300, False)
    assert (forced.threads, forced.lost, forced.gil_forced) == (2.0, 0, True)


@pytest.mark.parametrize(("cores", "words"), [(1.97, "as duas threads calcularam ao mesmo tempo"),
                                              (1.01, "uma thread de cada vez"), (1.4, "em parte ao mesmo tempo")])
def test_the_cores_two_threads_kept_busy_read_in_words(cores, words):
    assert comparison.cores_reading(cores) == words


def test_a_fourth_number_is_the_cores_the_two_threads_kept_busy():
    version = sys.version.split()[0]
    script = SCRIPT.replace("print(sequencial, time.perf_counter() - inicio, 0)",
                            "print(sequencial, time.perf_counter() - inicio, 0, 1.0)")
    (run,) = comparison.run_in_pythons(script, {"este": (sys.executable, version, False)})
    assert run.cores == 1.0


EXTENSION_WITHOUT_FREE_THREADING = """
#include <Python.h>
static struct PyModuleDef definicao = {PyModuleDef_HEAD_INIT, "precisa_do_gil", NULL, -1, NULL};
PyMODINIT_FUNC PyInit_precisa_do_gil(void) { return PyModule_Create(&definicao); }
"""
"""A C extension that does not declare it can run without the GIL (single-phase init, no Py_mod_gil)."""


def a_free_threaded_python() -> str | None:
    if not getattr(sys, "_is_gil_enabled", lambda: True)():
        return sys.executable
    found = comparison.free_threaded_pythons()
    return next(iter(found.values()), None)


def test_an_extension_that_does_not_declare_it_runs_without_the_gil_turns_the_gil_back_on(tmp_path):
    # What notebook 08's section 7 says: importing such an extension turns the GIL on for the whole
    # process, with a RuntimeWarning; PYTHON_GIL=0 (or -X gil=0) keeps it off.
    python = a_free_threaded_python()
    compiler = shutil.which("cc") or shutil.which("gcc")
    if python is None or compiler is None:
        pytest.skip("needs a free-threaded Python (3.13t+) and a C compiler")
    paths = json.loads(subprocess.run(
        [python, "-c", "import json, sysconfig; print(json.dumps([sysconfig.get_path('include'), "
                       "sysconfig.get_config_var('EXT_SUFFIX')]))"],
        capture_output=True, text=True, check=True).stdout)
    source = tmp_path / "precisa_do_gil.c"
    source.write_text(EXTENSION_WITHOUT_FREE_THREADING, encoding="utf-8")
    subprocess.run([compiler, "-shared", "-fPIC", f"-I{paths[0]}", "-o", str(tmp_path / f"precisa_do_gil{paths[1]}"),
                    str(source)], check=True, capture_output=True)
    check = "import sys; print(sys._is_gil_enabled()); import precisa_do_gil; print(sys._is_gil_enabled())"
    env = {key: value for key, value in os.environ.items() if key != "PYTHON_GIL"}
    turned_on = subprocess.run([python, "-c", check], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert turned_on.stdout.split() == ["False", "True"], turned_on.stderr
    assert "RuntimeWarning" in turned_on.stderr and "GIL" in turned_on.stderr
    kept_off = subprocess.run([python, "-c", check], capture_output=True, text=True, cwd=tmp_path,
                              env={**env, "PYTHON_GIL": "0"})
    assert kept_off.stdout.split() == ["False", "False"], kept_off.stderr
