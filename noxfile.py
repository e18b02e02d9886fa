"""The test matrix for maintainers: every Python found here x every start method.

    pip install nox uv                 # uv is optional: it makes the 21 environments fast
    nox -l                             # the sessions, e.g. tests-3.13t(spawn)
    nox                                # all of them
    nox -s "tests-3.14t(forkserver)"   # one
    nox -t spawn                       # one start method on every Python
    nox -p 3.14t -- tests/             # one Python; words after -- go to pytest (here: no notebooks)
    nox -s build_pythons               # builds 3.14, 3.14t, 3.15, 3.15t and 3.13t first (tools/build-pythons.sh)

Interpreters: CPython 3.10 to 3.15, with the GIL and free-threaded ("3.13t"), looked up in
pyenv (``$PYENV_ROOT/versions``, default ~/.pyenv), in the folder where tools/build-pythons.sh
puts its builds (``CONCTUTOR_PYTHONS_DIR``, default ~/.cache/conctutor/pythons) and on PATH.
Only those that run are listed; nothing is downloaded. Each session runs the README's command,
``python -m pytest``, with ``CONCTUTOR_START_METHOD`` set: tests/conftest.py makes it
multiprocessing's default in pytest and, through tests/ipython/, in the notebooks' kernels.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
MINORS = ("3.10", "3.11", "3.12", "3.13", "3.14", "3.15")
START_METHODS = ("fork", "spawn", "forkserver")
PYTHONS_DIR = Path(os.environ.get("CONCTUTOR_PYTHONS_DIR") or Path.home() / ".cache" / "conctutor" / "pythons")
LINKS = ROOT / ".nox" / "interpreters"  # python3.X[t] -> the interpreter found, first on PATH for nox

nox.options.default_venv_backend = "uv|virtualenv"
if hasattr(nox.options, "download_python"):  # nox 2025.5+: never fetch a Python
    nox.options.download_python = "never"
nox.options.error_on_missing_interpreters = True  # the list holds only interpreters that run


def _describe(exe: Path) -> str | None:
    """'3.12' or '3.13t' for a working CPython 3.10-3.15, else None."""
    code = (
        "import json, sys, sysconfig; print(json.dumps([sys.implementation.name, sys.version_info[:2], "
        "bool(sysconfig.get_config_var('Py_GIL_DISABLED'))]))"
    )
    try:
        out = subprocess.run([str(exe), "-c", code], capture_output=True, text=True, timeout=20, check=True).stdout
        name, (major, minor), free_threaded = json.loads(out.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None
    version = f"{major}.{minor}"
    if name != "cpython" or version not in MINORS:
        return None
    return version + ("t" if free_threaded else "")


def _candidates() -> list[Path]:
    found: list[Path] = []
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    if pyenv.is_dir():
        versions = [p for p in pyenv.iterdir() if re.fullmatch(r"3\.1[0-5]\.\d+t?", p.name)]
        for home in sorted(versions, key=lambda p: [int(x) for x in re.findall(r"\d+", p.name)], reverse=True):
            found.extend(sorted(home.glob("bin/python3.1[0-5]*")))
    for name in ("3.15", "3.15t", "3.14", "3.14t", "3.13t"):
        if (PYTHONS_DIR / name / ".conctutor-build-ok").exists():  # not while the script is building it
            found.append(PYTHONS_DIR / name / "bin" / f"python{name}")
    path = os.environ.get("PATH", "").split(os.pathsep)
    path = [d for d in path if "pyenv" not in d or "shims" not in d]  # a shim runs only the selected version
    for minor in MINORS:
        for suffix in ("", "t"):
            exe = shutil.which(f"python{minor}{suffix}", path=os.pathsep.join(path))
            if exe:
                found.append(Path(exe))
    return [p for p in found if p.is_file() and re.fullmatch(r"python3\.1[0-5]t?", p.name)]


@functools.cache
def interpreters() -> dict[str, Path]:
    """{'3.11': path, '3.13t': path, ...}: the first working interpreter of each kind."""
    table: dict[str, Path] = {}
    for exe in _candidates():
        key = _describe(exe)
        if key and key not in table:
            table[key] = exe
    return dict(sorted(table.items(), key=lambda kv: (tuple(int(x) for x in kv[0].rstrip("t").split(".")), kv[0])))


def _link_interpreters() -> list[str]:
    """Symlinks python3.X[t] in .nox/interpreters, first on PATH, so that nox's "3.13t" is ours."""
    table = interpreters()
    if not table:
        return []
    LINKS.mkdir(parents=True, exist_ok=True)
    for stale in LINKS.iterdir():
        stale.unlink()
    for key, exe in table.items():
        (LINKS / f"python{key}").symlink_to(exe)
    os.environ["PATH"] = str(LINKS) + os.pathsep + os.environ.get("PATH", "")
    return list(table)


PYTHONS = _link_interpreters()


# Interpreters on which the test extra cannot be installed, and why. Their sessions run the
# package's tests without Jupyter: no notebooks (nbval), and the browser and live-widget tests skip.
NO_JUPYTER = {
    "3.13t": "cffi 2 refuses to build for free-threaded 3.13, and jupyterlab needs it "
    "(jupyter-server -> argon2-cffi -> argon2-cffi-bindings -> cffi)",
}
# Why the other free-threaded sessions (3.14t) run the package tests, Jupyter included, but not the
# notebooks, unless asked to (words after --).
NOTEBOOKS_NEED_THE_GIL = (
    "the notebooks' stored outputs were recorded with the GIL (threads in slices, the race that loses "
    "no update, the timings of threads), and on 3.14t ipykernel sends what worker processes print to no "
    "cell (threads inherit the context there: ipython/ipykernel#1491)"
)


@nox.session(python=PYTHONS)
@nox.parametrize("start_method", [nox.param(m, id=m, tags=[m]) for m in START_METHODS])
def tests(session: nox.Session, start_method: str) -> None:
    """The suite (package tests and every notebook under nbval) with one default start method."""
    env = {"CONCTUTOR_START_METHOD": start_method}
    version = "import sys; print(sys.version, '| GIL on:', getattr(sys, '_is_gil_enabled', lambda: True)())"
    if session.python in NO_JUPYTER:
        session.warn(f"{session.python}: package tests only, no notebooks: {NO_JUPYTER[session.python]}")
        # Wheels only for the compiled dependencies: their newest releases may have dropped
        # this interpreter's wheels (numpy 2.5 has none for 3.13t), and building them takes long.
        session.install("--only-binary", "numpy,matplotlib,contourpy,kiwisolver,pillow,psutil,fonttools",
                        "-e", ".", "pytest>=7.4", "pyyaml>=6.0")
        session.run("python", "-c", version)
        session.run("python", "-m", "pytest", "-o", "addopts=-p no:cacheprovider", *(session.posargs or ["tests/"]),
                    env=env)
        return
    session.install("-e", ".[test]")
    session.run("python", "-c", version)
    arguments = session.posargs
    if session.python.endswith("t") and not arguments:
        session.warn(f"{session.python}: package tests only, no notebooks: {NOTEBOOKS_NEED_THE_GIL}")
        arguments = ["tests/"]
    session.run("python", "-m", "pytest", *arguments, env=env)


@nox.session(python=False, default=False)
def build_pythons(session: nox.Session) -> None:
    """Build CPython 3.14, 3.14t, 3.15, 3.15t and 3.13t from Debian's sources (cached); then run `nox` again."""
    session.run("bash", str(ROOT / "tools" / "build-pythons.sh"), *session.posargs, external=True)


@nox.session(python=False, default=False)
def pythons(session: nox.Session) -> None:
    """List the interpreters the matrix found."""
    for key, exe in interpreters().items():
        session.log(f"{key:6} {exe}")
