"""What the install brings: environment.yml (conda) installs what pyproject.toml declares (runtime + the test
extra), the lab extra brings every module the notebooks import, and the README's commands open JupyterLab
without pop-ups over the figures and run the tests as CI does."""

from __future__ import annotations

import ast
import contextlib
import functools
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent

PYPI_TO_CONDA = {
    # PyPI name -> conda-forge name, where they differ (normalised names).
    "matplotlib": "matplotlib-base",  # the library without a GUI toolkit
}
CONDA_ONLY = {"python", "pip", "redis-py"}
"""Conda entries with no PyPI counterpart in the project's dependency lists
(``redis-py`` is what ``celery[redis]`` brings on PyPI)."""


def normalise(name: str) -> str:
    """PEP 503 name normalisation: ``Python_DateUtil`` -> ``python-dateutil``."""
    return re.sub(r"[-_.]+", "-", name).lower()


_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*([^;]*?)\s*(?:;.*)?$")


def split_requirement(text: str) -> tuple[str, str]:
    """``"psutil >= 5.9"`` -> ``("psutil", ">=5.9")`` (PyPI or conda spelling)."""
    match = _REQUIREMENT.match(text)
    if not match:
        raise ValueError(f"cannot read the requirement {text!r}")
    name, spec = match.groups()
    return normalise(name), re.sub(r"\s+", "", spec)


# --- reading pyproject.toml without new dependencies -----------------------------


def read_toml(path: Path) -> dict[str, Any]:
    """tomllib (3.11+), else tomli if installed, else `mini_toml`."""
    try:
        import tomllib
    except ModuleNotFoundError:
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            return mini_toml(path.read_text(encoding="utf-8"))
    with open(path, "rb") as source:
        return tomllib.load(source)


def mini_toml(text: str) -> dict[str, Any]:
    """Just enough TOML for pyproject.toml: tables, and keys whose value is a
    string or an array of strings. Other values are skipped."""
    data: dict[str, Any] = {}
    table = data
    lines = iter(text.splitlines())
    for line in lines:
        line = line.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        header = re.fullmatch(r"\[([^\[\]]+)\]", line)
        if header:
            table = data
            for part in header.group(1).split("."):
                table = table.setdefault(part.strip().strip('"'), {})
            continue
        key, _, value = (piece.strip() for piece in line.partition("="))
        if value.startswith("[") and not value.rstrip().endswith("]"):
            while not value.rstrip().endswith("]"):
                value += " " + next(lines).split(" #")[0].strip()
        strings = re.findall(r'"((?:[^"\\]|\\.)*)"', value)
        if value.startswith("["):
            table[key.strip('"')] = strings
        elif value.startswith('"') and strings:
            table[key.strip('"')] = strings[0]
    return data


# --- the two files -------------------------------------------------------------


PROJECT = "conctutor"


def extra_requirements(extras: Iterable[str]) -> list[str]:
    """The requirements that ``pip install ".[extras]"`` asks for: the runtime dependencies and each extra's
    list, with the project's references to its own extras (``conctutor[lab,queue]``) replaced by theirs."""
    project = read_toml(ROOT / "pyproject.toml")["project"]
    optional = project["optional-dependencies"]
    wanted: list[str] = list(project["dependencies"])
    todo, seen = list(extras), set()
    while todo:
        extra = todo.pop(0)
        if extra in seen:
            continue
        seen.add(extra)
        for text in optional[extra]:
            match = re.fullmatch(rf"\s*{PROJECT}\s*\[([^\]]*)\]\s*", text)
            if match:
                todo.extend(part.strip() for part in match.group(1).split(","))
            elif text not in wanted:
                wanted.append(text)
    return wanted


def pyproject_requirements() -> tuple[dict[str, str], str]:
    project = read_toml(ROOT / "pyproject.toml")["project"]
    requirements: dict[str, str] = {}
    for text in extra_requirements(["test"]):
        name, spec = split_requirement(text)
        requirements[name] = spec
    return requirements, re.sub(r"\s+", "", project["requires-python"])


def conda_environment() -> tuple[dict[str, str], dict[str, str], list[str], list[str]]:
    """(conda packages, pip packages, pip lines that are not packages, channels)."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    conda: dict[str, str] = {}
    pip: dict[str, str] = {}
    pip_other: list[str] = []
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            for line in entry["pip"]:
                if line.startswith(("-", ".")):
                    pip_other.append(line)
                else:
                    name, spec = split_requirement(line)
                    pip[name] = spec
        else:
            name, spec = split_requirement(entry)
            conda[name] = spec
    return conda, pip, pip_other, list(env.get("channels", []))


def test_environment_installs_what_pyproject_declares() -> None:
    wanted, _ = pyproject_requirements()
    conda, pip, _, _ = conda_environment()
    conda_name_of = {name: PYPI_TO_CONDA.get(name, name) for name in wanted}

    provided: dict[str, str] = {}
    for name in wanted:
        if conda_name_of[name] in conda:
            provided[name] = conda[conda_name_of[name]]
        elif name in pip:
            provided[name] = pip[name]
    missing = sorted(set(wanted) - set(provided))
    assert not missing, f"environment.yml lacks {missing} (declared in pyproject.toml)"
    different = {name: (wanted[name], provided[name]) for name in wanted if wanted[name] != provided[name]}
    assert not different, f"version constraints differ (pyproject, environment.yml): {different}"

    extra_conda = sorted(set(conda) - set(conda_name_of.values()) - CONDA_ONLY)
    extra_pip = sorted(set(pip) - set(wanted))
    assert not extra_conda and not extra_pip, (
        f"environment.yml installs packages pyproject.toml does not declare: {extra_conda + extra_pip}"
    )
    twice = sorted(name for name in pip if conda_name_of.get(name, name) in conda)
    assert not twice, f"in both the conda and the pip section of environment.yml: {twice}"


def test_environment_uses_conda_forge_python_and_the_package_itself() -> None:
    _, requires_python = pyproject_requirements()
    conda, _, pip_other, channels = conda_environment()
    assert channels == ["conda-forge"]
    assert conda["python"] == requires_python
    assert "pip" in conda
    assert "-e ." in pip_other, "environment.yml must install conctutor itself (pip: -e .)"


def test_test_extra_builds_on_the_lab_and_queue_extras() -> None:
    optional = read_toml(ROOT / "pyproject.toml")["project"]["optional-dependencies"]
    assert f"{PROJECT}[lab,queue]" in optional["test"]
    listed_twice = set(optional["test"]) & (set(optional["lab"]) | set(optional["queue"]))
    assert not listed_twice, f"the test extra lists again what lab or queue already bring: {sorted(listed_twice)}"


# --- the lab extra brings what the notebooks import ---------------------------------

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def code_cells(notebook: Path) -> Iterator[str]:
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] == "code":
            source = cell["source"]
            yield source if isinstance(source, str) else "".join(source)


def as_python(cell: str) -> str | None:
    """A cell's Python, IPython's magic and shell lines blanked; None for a cell that writes a file."""
    if cell.lstrip().startswith("%%writefile"):
        return None
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in cell.splitlines())


def imports_in(source: str, package: str | None = None) -> set[str]:
    """Dotted names of the modules a piece of code imports (``from a import b`` gives ``a`` and ``a.b``:
    ``b`` may be a module); relative imports are resolved against ``package``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                assert package, "a relative import outside a package"
                base = ".".join([package, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def modules_written_by_notebooks() -> set[str]:
    """Modules a notebook writes beside itself (``%%writefile minhas_tarefas.py``) and then imports."""
    written = set()
    for notebook in NOTEBOOKS:
        for cell in code_cells(notebook):
            match = re.match(r"\s*%%writefile\s+(\w+)\.py\b", cell)
            if match:
                written.add(match.group(1))
    return written


def package_module_file(name: str) -> Path | None:
    parts = name.split(".")
    if parts[0] != PROJECT:
        return None
    path = ROOT.joinpath(*parts)
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


NEWER_STDLIB = frozenset({"_interpreters", "_interpqueues"})
"""Standard-library modules of Pythons newer than the one running the tests (3.13+: subinterpreters), which the
package imports only where they exist."""


def third_party_imports_of_notebooks() -> dict[str, set[str]]:
    """Top-level third-party modules that the notebooks import, directly or through the package's modules
    they load (every import in those modules, the lazy ones in functions included) -> who imports them
    (``notebook 07``, ``conctutor/taskqueue.py``)."""
    local = modules_written_by_notebooks() | {PROJECT, "__future__"}
    found: dict[str, set[str]] = {}
    for notebook in NOTEBOOKS:
        importer = f"notebook {notebook.name[:2]}"
        todo = [(name, importer) for cell in code_cells(notebook) if (source := as_python(cell))
                for name in imports_in(source)]
        seen: set[str] = set()
        while todo:
            name, importer = todo.pop()
            top = name.split(".")[0]
            if top and top not in local and top not in sys.stdlib_module_names and top not in NEWER_STDLIB:
                found.setdefault(top, set()).add(importer)
            if name in seen:
                continue
            seen.add(name)
            path = package_module_file(name)
            if path is not None:
                todo.extend((module, str(path.relative_to(ROOT))) for module in package_module_imports(name, path))
    return found


@functools.cache
def package_module_imports(name: str, path: Path) -> frozenset[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return frozenset(imports_in(path.read_text(encoding="utf-8"), package))


def installed_closure(requirements: Iterable[str]) -> set[str]:
    """Normalised names of the distributions that installing ``requirements`` brings, following the installed
    distributions' own requirements (with the extras asked for) as pip would."""
    from packaging.requirements import Requirement  # matplotlib's dependency, so always installed

    todo = [Requirement(text) for text in requirements]
    seen: set[tuple[str, frozenset[str]]] = set()
    names: set[str] = set()
    while todo:
        requirement = todo.pop()
        name = normalise(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in seen or (requirement.marker and not requirement.marker.evaluate({"extra": ""})):
            continue
        seen.add(key)
        names.add(name)
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            needed = Requirement(text)
            marker, needed.marker = needed.marker, None
            if marker is None or any(marker.evaluate({"extra": extra}) for extra in requirement.extras or {""}):
                todo.append(needed)
    return names


def test_lab_extra_brings_every_module_the_notebooks_import() -> None:
    from packaging.requirements import Requirement

    for text in extra_requirements(["lab"]):
        try:
            metadata.distribution(Requirement(text).name)
        except metadata.PackageNotFoundError:
            pytest.skip(f"the lab extra is not installed here ({text}): the distributions it brings cannot be read")
    imported = third_party_imports_of_notebooks()
    assert {"celery", "ipywidgets", "matplotlib"} <= set(imported), imported  # the reading finds imports
    lab = installed_closure(extra_requirements(["lab"]))
    providers = metadata.packages_distributions()
    not_installed = sorted(module for module in imported if module not in providers)
    assert not not_installed, f"modules the notebooks import that are not installed here: {not_installed}"
    missing = {
        f"{module} (imported by {', '.join(sorted(imported[module]))})": sorted(providers[module])
        for module in imported
        if not lab & {normalise(name) for name in providers[module]}
    }
    assert not missing, f'pip install -e ".[lab]" does not bring these modules (from these distributions): {missing}'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("psutil>=5.9", ("psutil", ">=5.9")),
        ("Python_DateUtil >= 2.8", ("python-dateutil", ">=2.8")),
        ("PyYAML", ("pyyaml", "")),
        ("nbval[extra]>=0.11; python_version>'3.9'", ("nbval", ">=0.11")),
        ("matplotlib-base >=3.7", ("matplotlib-base", ">=3.7")),
    ],
)
def test_requirement_names_are_normalised(text: str, expected: tuple[str, str]) -> None:
    assert split_requirement(text) == expected


@pytest.mark.skipif(sys.version_info < (3, 11), reason="compares with tomllib (Python 3.11+)")
def test_mini_toml_reads_pyproject_like_tomllib() -> None:
    import tomllib

    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    project, mini = tomllib.loads(text)["project"], mini_toml(text)["project"]
    assert mini["dependencies"] == project["dependencies"]
    assert mini["optional-dependencies"] == project["optional-dependencies"]
    assert mini["requires-python"] == project["requires-python"]


# --- the README's two commands and CI ----------------------------------------------


def readme_commands() -> list[str]:
    """The lines of the README's shell blocks (```bash, ```sh, ```console or no language), fence by fence."""
    commands: list[str] = []
    language = None  # the language of the block we are in; None outside blocks
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            language = line[3:].strip() if language is None else None
        elif language in ("bash", "sh", "console", "") and line.strip():
            commands.append(line)
    return commands


ROOT_FLAG = "--allow-root"


def test_readme_has_two_single_line_commands_and_the_lab_one_as_root() -> None:
    commands = readme_commands()
    assert len(commands) == 3, commands
    lab, lab_as_root, test = commands
    assert "jupyter lab notebooks" in lab and '".[lab]"' in lab and ROOT_FLAG not in lab
    assert lab_as_root == f"{lab} {ROOT_FLAG}", "right under the lab command: the same command, as root"
    assert "-m pytest" in test and '".[test]"' in test


SETTINGS_FLAG = "--LabApp.app_settings_dir="
NO_POP_UPS = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyterlab_as_the_readme_opens_it(tmp: Path) -> Iterator[str]:
    """The README's `jupyter lab` with its own arguments, from the repository's root, for a user who never
    opened JupyterLab (empty user settings); yields the server's URL, and stops it."""
    lab = readme_commands()[0]
    arguments = shlex.split(lab.rpartition("&&")[2])[1:]  # after `.venv/bin/jupyter`: lab notebooks/ ...
    port = _free_port()
    command = [
        sys.executable, "-m", "jupyterlab", *arguments[1:],
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        "--ServerApp.open_browser=False", "--IdentityProvider.token=", "--ServerApp.password=",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append(ROOT_FLAG)
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
        IPYTHONDIR=str(tmp / "ipython"),
    )
    with open(tmp / "jupyterlab.log", "w") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                assert server.poll() is None, (tmp / "jupyterlab.log").read_text()
                with contextlib.suppress(OSError, urllib.error.URLError):
                    with urllib.request.urlopen(f"{url}/api/status", timeout=2):
                        break
                assert time.monotonic() < deadline, (tmp / "jupyterlab.log").read_text()
                time.sleep(0.2)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)


def test_readme_opens_jupyterlab_without_news_or_update_pop_ups(tmp_path: Path) -> None:
    lab = readme_commands()[0]
    assert SETTINGS_FLAG in lab, "the README's lab command does not give JupyterLab the repository's defaults"
    pytest.importorskip("jupyterlab", reason="JupyterLab is not installed here (the lab extra)")
    with jupyterlab_as_the_readme_opens_it(tmp_path) as url:
        for plugin, wanted in NO_POP_UPS.items():
            with urllib.request.urlopen(f"{url}/lab/api/settings/{plugin}", timeout=10) as answer:
                settings = json.load(answer)
            defaults = {name: settings["schema"]["properties"][name]["default"] for name in wanted}
            assert defaults == wanted, f"JupyterLab's defaults for {plugin}: {defaults}"
            assert settings["settings"] == {}, "the user's own settings were not empty: the test reads the defaults"


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    test = readme_commands()[-1]
    script = ROOT / ".ci" / "run"
    lines = script.read_text(encoding="utf-8").splitlines()
    assert test in lines, "the README's test command and .ci/run differ"
    assert "set -euo pipefail" in lines
    assert os.access(script, os.X_OK), ".ci/run must be executable"
