"""conctutor.widgets: what run_and_show prints beside the figure, in the figures' words and numbers."""

from __future__ import annotations

import os
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest

import conctutor
from conctutor.course.widgets import run_and_show, summary
from conctutor.render.scene import format_seconds
from conctutor.render.words import decimal_comma

pytestmark = pytest.mark.usefixtures("fast_tasks")  # tests/conftest.py


def chapter_main() -> None:
    """Notebook 01's main(): the chapter's sequential program."""
    dados = conctutor.consulta_dados()
    conctutor.processa_dados(dados)
    conctutor.grava_log()


@pytest.fixture
def timeline() -> conctutor.Timeline:
    """chapter_main, recorded once and saved (tests/data/make_runs.py)."""
    return conctutor.Timeline.load(Path(__file__).parent / "data" / "run-sequential.json")


def test_format_seconds_writes_a_decimal_comma():
    assert format_seconds(9) == "9,00 s"
    assert format_seconds(0.514) == "0,51 s"
    assert format_seconds(2.25, 1) == "2,2 s"
    assert decimal_comma(12.5, 0) == "12" and decimal_comma(0.125, 1) == "0,1" and decimal_comma(3) == "3,00"


def test_notebooks_import_format_seconds_from_0_2_0s_path():
    import importlib

    assert importlib.import_module("conctutor.scene").format_seconds is format_seconds


def test_the_summary_prints_seconds_with_a_decimal_comma_as_the_figure_does(timeline):
    line = summary(timeline).splitlines()[0]
    assert f"tempo medido: {format_seconds(timeline.makespan)}" in line
    assert f"ideal para estas tarefas em {timeline.cores} núcleo" in line
    assert format_seconds(timeline.ideal_time) in line
    assert not re.search(r"\d\.\d", line), line  # no decimal point anywhere
    assert f"tempo total: {format_seconds(timeline.makespan)}" in timeline.plot().axes[0].get_title(loc="left")


def test_the_summary_leaves_the_ideal_time_out_when_asked(timeline):
    line = summary(timeline, ideal=False).splitlines()[0]
    assert line == f"tempo medido: {format_seconds(timeline.makespan)}"


def test_run_and_show_draws_and_compares_a_prediction(capsys, monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", shown.append)
    timeline = run_and_show(chapter_main, prediction=4.0, ideal=False)  # the chapter's seconds, scaled as they are
    out = capsys.readouterr().out
    assert "ideal" not in out
    predicted = 4.0 * float(os.environ["CONCTUTOR_TIME_SCALE"])
    assert f"Você previu {format_seconds(predicted)}; o programa levou {format_seconds(timeline.makespan)}" in out
    header = shown[0].axes[0].get_title(loc="left")
    assert f"previsto {format_seconds(predicted)} · medido" in header and "ideal" not in header
    with pytest.raises(ValueError, match="a previsão deve ser um número de segundos"):
        run_and_show(chapter_main, prediction=-2)
    assert capsys.readouterr().out == ""  # refused before running anything
