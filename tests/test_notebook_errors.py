"""Bad input on the notebooks' paths (panel, run_and_show, the chapter's programs).

These cases used to be cells in notebooks 01, 03 and 04. They matter to the
people who maintain the material, not to a student reading the lesson, so
they live here: the same calls, the same Portuguese messages, checked by
pytest instead of by nbval.
"""

from __future__ import annotations

import math

import pytest

import conctutor
from conctutor import checks, programs
from conctutor.widgets import run_and_show

pytestmark = pytest.mark.usefixtures("fast_tasks")  # tests/conftest.py


def chapter_main():
    """Notebook 01's main(): the chapter's sequential program."""
    dados = conctutor.consulta_dados()
    conctutor.processa_dados(dados)
    conctutor.grava_log()


@pytest.mark.parametrize("value", [-1, math.nan, math.inf, 1e9])
def test_panel_durations_out_of_range_say_what_is_allowed(value, capsys):
    with pytest.raises(ValueError) as error:
        run_and_show(chapter_main, {"grava_log": value})
    message = str(error.value)
    assert "grava_log" in message
    assert capsys.readouterr().out == ""  # no figure, no summary line for a bad value


def test_negative_duration_message_is_portuguese():
    with pytest.raises(ValueError, match="grava_log"):
        run_and_show(chapter_main, {"grava_log": -1})
    with pytest.raises(ValueError) as error:
        run_and_show(chapter_main, {"grava_log": -1})
    assert "negativ" in str(error.value)


def test_non_numeric_duration_is_a_type_error():
    with pytest.raises(TypeError):
        run_and_show(chapter_main, {"grava_log": "dois"})


def test_zero_threads_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="workers") as error:
        run_and_show(programs.with_threads, workers=0)
    assert "nenhuma" in str(error.value)


@pytest.mark.parametrize("options", [{"workers": 0}, {"start_method": "clone"}])
def test_bad_process_options_are_refused(options):
    with pytest.raises(ValueError) as error:
        run_and_show(programs.with_processes, **options)
    key = next(iter(options))
    assert ("workers" if key == "workers" else "clone") in str(error.value)


def test_bad_input_breaks_nothing_after_it():
    with pytest.raises(ValueError):
        run_and_show(chapter_main, {"grava_log": -1})
    timeline = checks.run(chapter_main)
    assert [s.name for s in sorted(timeline.spans, key=lambda s: s.start)] == [
        "consulta_dados", "processa_dados", "grava_log"
    ]
