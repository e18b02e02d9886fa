"""environment.yml (conda) must install what pyproject.toml declares: runtime + the test extra."""

from __future__ import annotations

import os
import re
import sys
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


def pyproject_requirements() -> tuple[dict[str, str], str]:
    project = read_toml(ROOT / "pyproject.toml")["project"]
    wanted = list(project["dependencies"]) + list(project["optional-dependencies"]["test"])
    requirements: dict[str, str] = {}
    for text in wanted:
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


def test_readme_has_exactly_two_single_line_commands() -> None:
    commands = readme_commands()
    assert len(commands) == 2, commands
    lab, test = commands
    assert "jupyter lab notebooks" in lab and '".[lab]"' in lab
    assert "-m pytest" in test and '".[test]"' in test


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    _, test = readme_commands()
    script = ROOT / ".ci" / "run"
    lines = script.read_text(encoding="utf-8").splitlines()
    assert test in lines, "the README's test command and .ci/run differ"
    assert "set -euo pipefail" in lines
    assert os.access(script, os.X_OK), ".ci/run must be executable"
