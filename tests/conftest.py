"""Shared pytest setup for the package tests and the nbval notebook runs.

``CONCTUTOR_TIME_SCALE`` is set at import time, before any notebook kernel
starts, so the kernels nbval launches inherit it and the chapter's 2-second
tasks run in a twentieth of the time. An explicit value in the environment
wins. The calibration cache (``CONCTUTOR_CACHE_DIR``) keeps its default.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("CONCTUTOR_TIME_SCALE", "0.05")

FAST_SCALE = 0.05


@pytest.fixture
def fast_tasks(monkeypatch):
    """The chapter's tasks at a twentieth of their durations for one test, and their adjustable
    default durations put back afterwards (``pytestmark = pytest.mark.usefixtures("fast_tasks")``)."""
    import conctutor

    monkeypatch.setenv("CONCTUTOR_TIME_SCALE", str(FAST_SCALE))
    previous = conctutor.get_durations()
    yield
    conctutor.set_durations(**previous)


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
