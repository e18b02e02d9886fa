"""Bad files and bad paths get the promised error, in Portuguese, at the call.

`Timeline.load` (and ``conctutor show``, which calls it) must answer every
file that is not a sound saved run with a `ValueError` that says so, never an
OverflowError, a RecursionError, or a timeline that breaks later; `save`,
`load` and `to_perfetto` given no path, a folder or a missing file say what a
path may be. The good file all the bad ones are made from is a real run saved
by conctutor 0.2.0 (`tests/data/run-0.2.0.json`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conctutor import Timeline

GOOD = Path(__file__).parent / "data" / "run-0.2.0.json"


def _changed(change: Callable[[dict[str, Any]], object]) -> Callable[[], str]:
    def text() -> str:
        data = json.loads(GOOD.read_text(encoding="utf-8"))
        change(data)
        return json.dumps(data)

    return text


def _replaced(old: str, new: str) -> Callable[[], str]:
    def text() -> str:
        good = GOOD.read_text(encoding="utf-8")
        assert old in good
        return good.replace(old, new, 1)

    return text


def _nested(depth: int) -> Callable[[], str]:
    return lambda: "[" * depth + "]" * depth


BAD_FILES: dict[str, tuple[Callable[[], str], str]] = {
    # name: (the file's text, what the message must say)
    "cores: Infinity": (_replaced('"cores": 2', '"cores": Infinity'), "cores deve ser um número inteiro"),
    "cores: 1e400": (_replaced('"cores": 2', '"cores": 1e400'), "cores deve ser um número inteiro"),
    "cores: 2.5": (_replaced('"cores": 2', '"cores": 2.5'), "cores deve ser um número inteiro"),
    "main_pid: Infinity": (_replaced('"main_pid": 4412', '"main_pid": Infinity'), "main_pid"),
    "a lane index of 2**40": (_changed(lambda d: d["spans"]["lane"].__setitem__(0, 2**40)), "lane: os índices"),
    "a lane index of 2**70": (_changed(lambda d: d["spans"]["lane"].__setitem__(0, 2**70)), "lane: os índices"),
    "a name index of -1": (_changed(lambda d: d["spans"]["name"].__setitem__(0, -1)), "name: os índices"),
    "a lane index of 1.5": (_changed(lambda d: d["spans"]["lane"].__setitem__(0, 1.5)), "lane: os índices"),
    "a segment offset of 2**70": (_changed(lambda d: d["segments"]["offsets"].__setitem__(1, 2**70)),
                                  "grande demais"),
    "a lane's pid as text": (_changed(lambda d: d["lanes"][0].__setitem__(0, "muitos")), "pid"),
    "JSON nested 100 000 deep": (_nested(100_000), "aninhado fundo demais"),
    "labels shorter than lanes": (_changed(lambda d: d["labels"].pop()), "um rótulo por raia"),
    "labels that are not text": (_changed(lambda d: d["labels"].__setitem__(0, 7)), "labels deve ser uma lista"),
    "cpu rows of different lengths": (_changed(lambda d: d["cpu"]["percent"][0].append(10.0)), "mesmos núcleos"),
    "lost notes that are not text": (_changed(lambda d: d.update(lost=[1])), "lost deve ser uma lista"),
    "a missing field": (_changed(lambda d: d.pop("labels")), "falta o campo 'labels'"),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_a_bad_file_gives_a_clear_value_error(tmp_path: Path, name: str) -> None:
    text, message = BAD_FILES[name]
    path = tmp_path / "run.json"
    path.write_text(text(), encoding="utf-8")
    with pytest.raises(ValueError, match=message) as raised:
        Timeline.load(path)
    assert str(path) in str(raised.value)


def test_the_good_file_they_are_made_from_loads() -> None:
    loaded = Timeline.load(GOOD)
    assert len(loaded.spans) == 9
    assert loaded.lost == ()  # version 2 files before 'lost' existed: nothing was lost


@pytest.mark.parametrize("name", ["cores: Infinity", "a lane index of 2**40", "JSON nested 100 000 deep",
                                  "labels shorter than lanes"])
def test_show_answers_a_bad_file_with_a_message_not_a_traceback(tmp_path: Path, name: str) -> None:
    text, message = BAD_FILES[name]
    path = tmp_path / "run.json"
    path.write_text(text(), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "conctutor", "show", str(path), "-o", str(tmp_path / "f.png")],
                            capture_output=True, text=True, timeout=60, check=False,
                            cwd=Path(__file__).resolve().parent.parent)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert message in result.stderr
    assert not (tmp_path / "f.png").exists()


# --- paths ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved() -> Timeline:
    return Timeline.load(GOOD)


WRITES = {"save": Timeline.save, "to_perfetto": Timeline.to_perfetto}


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize(
    ("path", "error", "message"),
    [
        (lambda tmp: None, TypeError, "o caminho deve ser o nome de um arquivo"),
        (lambda tmp: 42, TypeError, "o caminho deve ser o nome de um arquivo"),
        (lambda tmp: "", ValueError, "o caminho está vazio"),
        (lambda tmp: tmp, IsADirectoryError, "é uma pasta; passe o caminho de um arquivo"),
        (lambda tmp: tmp / "falta" / "run.json", FileNotFoundError, "não existe; crie-a"),
    ],
    ids=["None", "a number", "empty", "a folder", "in a missing folder"],
)
def test_writing_to_a_bad_path_says_what_a_path_may_be(saved: Timeline, tmp_path: Path, write: str,
                                                        path: Callable[[Path], object], error: type[Exception],
                                                        message: str) -> None:
    with pytest.raises(error, match=message):
        WRITES[write](saved, path(tmp_path))  # type: ignore[arg-type]
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("path", "error", "message"),
    [
        (lambda tmp: None, TypeError, "o caminho deve ser o nome de um arquivo"),
        (lambda tmp: tmp, IsADirectoryError, "é uma pasta"),
        (lambda tmp: tmp / "nao-existe.json", FileNotFoundError, "não existe; passe o caminho de um arquivo"),
    ],
    ids=["None", "a folder", "a missing file"],
)
def test_loading_a_bad_path_says_what_a_path_may_be(tmp_path: Path, path: Callable[[Path], object],
                                                    error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        Timeline.load(path(tmp_path))  # type: ignore[arg-type]
