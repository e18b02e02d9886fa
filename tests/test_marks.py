"""Instants drawn on the lanes, ``timeline.plot(marks=...)`` (conctutor.render.marks).

The run is a saved real one (the chapter's thread program, tests/data/run-threads.json); the marks are placed
on its spans' threads at their starts, so where each lands can be checked against the lane of its span.
"""

from __future__ import annotations

import os

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import conctutor
from conctutor.render.marks import MARK_STYLES, Mark, check_marks
from conctutor.render.scene import build_scene

DATA = os.path.join(os.path.dirname(__file__), "data")


@pytest.fixture(scope="module")
def threads_run() -> conctutor.Timeline:
    return conctutor.Timeline.load(os.path.join(DATA, "run-threads.json"))


def test_a_mark_lands_on_its_threads_lane_at_its_time(threads_run):
    spans = threads_run.spans
    marks = [Mark(span.start, span.thread_id, "começou") for span in spans]
    marks.append(Mark(spans[0].end, spans[0].thread_id, "terminou"))
    scene = build_scene(threads_run, marks=marks)
    lane_of_thread = {span.thread_id: scene.lane[i] for i, span in enumerate(spans)}
    assert np.allclose(scene.mark_time, [m.time for m in marks])
    assert np.allclose(scene.mark_lane, [lane_of_thread[m.thread_id] for m in marks])
    assert scene.mark_labels == ("começou", "terminou")
    assert scene.mark_kind.tolist() == [0] * len(spans) + [1]
    legend = [(entry.label, entry.marker) for entry in scene.legend if entry.style == "marker"]
    assert legend == [("começou", MARK_STYLES[0][0]), ("terminou", MARK_STYLES[1][0])]


def test_the_figure_draws_the_marks_and_names_them_in_the_legend(threads_run):
    span = threads_run.spans[0]
    fig = threads_run.plot(marks=[(span.start + 0.5, span.thread_id, "perdeu o GIL")])
    legend = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert "perdeu o GIL" in legend
    offsets = [c.get_offsets() for c in fig.axes[0].collections if len(c.get_offsets()) == 1]
    assert any(np.isclose(o[0][0], span.start + 0.5) for o in offsets)


def test_a_mark_on_a_thread_without_a_lane_is_left_out(threads_run):
    scene = build_scene(threads_run, marks=[(0.1, 12345, "em lugar nenhum")])
    assert len(scene.mark_time) == 0 and scene.mark_labels == ()
    assert not [entry for entry in scene.legend if entry.label == "em lugar nenhum"]


@pytest.mark.parametrize(("marks", "error", "words"), [
    ("abc", TypeError, "lista de (tempo em segundos, thread_id, texto)"),
    ([(0.1, 1)], TypeError, "cada marca deve ser"),
    ([(-1.0, 1, "x")], ValueError, "finito, a partir de 0"),
    ([(float("nan"), 1, "x")], ValueError, "finito"),
    ([(0.1, "1", "x")], TypeError, "thread_id de uma marca deve ser um inteiro"),
    ([(0.1, 1, "  ")], TypeError, "texto não vazio"),
    ([(0.1, 1, str(k)) for k in range(len(MARK_STYLES) + 1)], ValueError, "no máximo"),
])
def test_bad_marks_are_refused_at_the_call_in_portuguese(threads_run, marks, error, words):
    with pytest.raises(error, match=None) as caught:
        threads_run.plot(marks=marks)
    assert words in str(caught.value)
    with pytest.raises(error):
        check_marks(marks)
