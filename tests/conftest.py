"""Shared pytest setup for the package tests and the nbval notebook runs.

``CONCTUTOR_TIME_SCALE`` is set at import time, before any notebook kernel
starts, so the kernels nbval launches inherit it and the chapter's 2-second
tasks run in a twentieth of the time (notebooks that start processes with spawn or
forkserver: see `PROCESS_START_SCALE`). An explicit value in the environment wins. The
calibration cache (``CONCTUTOR_CACHE_DIR``) keeps its default.
"""

from __future__ import annotations

import os
import re
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest

# Whether the person running the tests chose a scale. Noted in the environment by the first of the
# two conftests that run this file (notebooks/conftest.py runs it again, after the default is set).
os.environ.setdefault("CONCTUTOR_TEST_SCALE_GIVEN", "1" if "CONCTUTOR_TIME_SCALE" in os.environ else "0")
_SCALE_GIVEN = os.environ["CONCTUTOR_TEST_SCALE_GIVEN"] == "1"
os.environ.setdefault("CONCTUTOR_TIME_SCALE", "0.05")

FAST_SCALE = 0.05

PROCESS_START_SCALE = "0.5"
"""The time scale of the notebooks that start worker processes, when new processes start with
spawn or forkserver (``CONCTUTOR_START_METHOD``, or Python 3.14's default). Such a worker is a new
Python that imports conctutor: 0.2-1 s on a busy 2-core machine. The chapter's 2 s tasks scaled
to 0.1 s would end before the next worker is up, and notebooks 02, 04 and 08 would show fewer
processes at work than a student, at full scale, sees (in the matrix, one worker ran notebook 02's two
`calcula` one after the other, and notebook 08's four). Scaled by 0.5 they last 1 s."""
NOTEBOOKS_STARTING_PROCESSES = frozenset({"02-concorrencia-e-paralelismo.ipynb", "04-processos.ipynb",
                                          "08-comparativo.ipynb"})
NOTEBOOKS_STARTING_INTERPRETERS = frozenset({"09-subinterpretadores.ipynb"})
"""Notebooks whose workers are subinterpreters: each one imports conctutor anew, as a spawned process does
(0.1-0.5 s here), whatever the start method; they run at `PROCESS_START_SCALE` always."""
NOTEBOOKS_NEEDING = {"09-subinterpretadores.ipynb": ((3, 14), "concurrent.interpreters e InterpreterPoolExecutor")}
"""Notebooks that need a newer Python than the oldest supported, and what for: skipped below it, saying why."""


@pytest.fixture
def fast_tasks(monkeypatch):
    """The chapter's tasks at a twentieth of their durations for one test, and their adjustable
    default durations put back afterwards (``pytestmark = pytest.mark.usefixtures("fast_tasks")``)."""
    import conctutor

    monkeypatch.setenv("CONCTUTOR_TIME_SCALE", str(FAST_SCALE))
    previous = conctutor.get_durations()
    yield
    conctutor.set_durations(**previous)


@pytest.fixture
def no_stray_threads():
    """Fails the test if it leaves behind a non-daemon thread that was not running before it
    (``@pytest.mark.usefixtures("no_stray_threads")``): a program's consumers must all stop."""
    import threading

    def user_threads() -> set[threading.Thread]:
        return {thread for thread in threading.enumerate() if not thread.daemon}

    before = user_threads()
    yield
    assert user_threads() == before


def _use_start_method_from_environment(ipython_dir: Path) -> None:
    """``CONCTUTOR_START_METHOD`` (fork, spawn or forkserver; noxfile.py sets it) becomes
    multiprocessing's default start method in this process and, through the test-only IPython
    startup file in tests/ipython/, in the notebook kernels nbval starts (``IPYTHONDIR`` points
    at a temporary copy, so nothing is written into the repository). Unset: nothing changes."""
    method = os.environ.get("CONCTUTOR_START_METHOD", "").strip()
    if not method:
        return
    import multiprocessing

    if method not in multiprocessing.get_all_start_methods():
        raise RuntimeError(
            f"CONCTUTOR_START_METHOD={method!r}: this system offers {multiprocessing.get_all_start_methods()}"
        )
    multiprocessing.set_start_method(method, force=True)
    copy = os.environ.get("CONCTUTOR_TEST_IPYTHONDIR")
    if not copy or copy != os.environ.get("IPYTHONDIR"):  # once per run: both conftests call this
        import atexit
        import shutil
        import tempfile

        folder = tempfile.mkdtemp(prefix="conctutor-ipython-")
        shutil.copytree(ipython_dir, folder, dirs_exist_ok=True)
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        os.environ["IPYTHONDIR"] = os.environ["CONCTUTOR_TEST_IPYTHONDIR"] = folder


_use_start_method_from_environment(Path(__file__).parent / "ipython")


def _start_notebook_kernels_as_jupyter_does() -> None:
    """The kernels nbval starts do not see ``PYTEST_CURRENT_TEST``. With it, ipykernel stops
    forwarding what the kernel's child processes write to its stdout (fd 1): under spawn and
    forkserver the workers' prints then vanish, while JupyterLab, VS Code and nbconvert (which
    never set it) show them in the cell. The notebooks are checked as a student sees them."""
    try:
        import nbval.kernel
    except ImportError:
        return
    start = nbval.kernel.start_new_kernel
    if getattr(start, "conctutor_patched", False):  # once per run: both conftests call this
        return

    def start_new_kernel(*args, **kwargs):
        env = dict(kwargs.pop("env", None) or os.environ)
        env.pop("PYTEST_CURRENT_TEST", None)
        return start(*args, env=env, **kwargs)

    start_new_kernel.conctutor_patched = True  # type: ignore[attr-defined]
    nbval.kernel.start_new_kernel = start_new_kernel


_start_notebook_kernels_as_jupyter_does()


def _starts_processes_slowly() -> bool:
    import multiprocessing

    method = os.environ.get("CONCTUTOR_START_METHOD", "").strip() or multiprocessing.get_start_method()
    return method != "fork"


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Each notebook's kernel starts (at its first cell) with that notebook's time scale; every
    other test finds the usual one."""
    if _SCALE_GIVEN:
        return
    slow = (item.path.name in NOTEBOOKS_STARTING_PROCESSES and _starts_processes_slowly()) \
        or item.path.name in NOTEBOOKS_STARTING_INTERPRETERS
    os.environ["CONCTUTOR_TIME_SCALE"] = PROCESS_START_SCALE if slow else str(FAST_SCALE)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The cells of a notebook that needs a newer Python skip below it, with the reason shown (``-rs``)."""
    for item in items:
        need = NOTEBOOKS_NEEDING.get(item.path.name)
        if need is not None and sys.version_info < need[0]:
            version = ".".join(map(str, need[0]))
            item.add_marker(pytest.mark.skip(reason=f"{item.path.name} precisa do Python {version}+ ({need[1]}); "
                                                    f"este é o {sys.version.split()[0]}"))
        # one cell that does not even compile below a version (notebook 06's `except*`, 3.11+): its tag says which
        cell = getattr(item, "cell", None)
        for tag in (cell.get("metadata", {}).get("tags", []) if isinstance(cell, dict) else []):
            wanted = re.fullmatch(r"requires-python-3\.(\d+)", tag)
            if wanted and sys.version_info < (3, int(wanted.group(1))):
                item.add_marker(pytest.mark.skip(reason=f"esta célula precisa do Python 3.{wanted.group(1)}+; "
                                                        f"este é o {sys.version.split()[0]}"))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With pytest-xdist (``-n``), each notebook is one unit of work, run whole on one worker (its
    cells share one kernel), and all the package tests are one more, run one after another as they
    would alone: their timing checks allow for one other busy core, not for two tests of their own
    at once. The notebooks run beside each other and beside the tests.

    The longest units start first, so that the workers end together: the package tests, then the
    notebooks from the last to the first (the later ones run more models, and take longer)."""
    from xdist.scheduler import LoadScopeScheduling

    package_tests = "package tests"

    class NotebooksApart(LoadScopeScheduling):
        workqueue: OrderedDict[str, dict[str, bool]]  # scope -> {test id: done}, filled by the base class
        ordered = False

        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if path.endswith(".ipynb") else package_tests

        def _assign_work_unit(self, node: Any) -> None:
            if not self.ordered:  # the first call comes after the queue is filled
                notebooks = sorted((scope for scope in self.workqueue if scope != package_tests), reverse=True)
                order = [package_tests] * (package_tests in self.workqueue) + notebooks
                self.workqueue = OrderedDict((scope, self.workqueue[scope]) for scope in order)
                self.ordered = True
            super()._assign_work_unit(node)

    return NotebooksApart(config, log)
