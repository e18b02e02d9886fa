"""Notebook 05's producer and consumers that end with ``queue.Queue.shutdown()``
(``programs.producer_consumer(shutdown=True)``), and the run of it saved in imgs/ that the notebook draws on
Pythons older than 3.13.

The program's milliseconds are not scaled by ``CONCTUTOR_TIME_SCALE``, so the tests pass small values themselves.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from conctutor import Timeline, checks
from conctutor.course import programs
from conctutor.imgs import IMAGES, generate, record_image

SAVED_RUN = Path(__file__).resolve().parent.parent / "imgs" / "fila_shutdown.json"
needs_shutdown = pytest.mark.skipif(not programs.has_queue_shutdown(), reason="queue.Queue.shutdown() is 3.13+")
before_shutdown = pytest.mark.skipif(programs.has_queue_shutdown(), reason="this Python has queue.Queue.shutdown()")


def test_the_saved_run_is_a_3_13_run_of_the_program_every_item_handled() -> None:
    timeline = Timeline.load(SAVED_RUN)
    version = tuple(int(part) for part in timeline.python.split()[1].split(".")[:2])
    assert version >= programs.SHUTDOWN_NEEDS, timeline.python
    produced, handled = checks.named(timeline, "produz"), checks.named(timeline, "trata")
    assert len(produced) == len(handled) == 10  # the image's options, which the notebook's text describes
    assert len(checks.workers(handled)) == 2 and produced[0].worker not in checks.workers(handled)
    assert all(span.status == "ok" for span in produced + handled)
    (depth,) = timeline.series
    assert depth.name == "itens na fila" and depth.values[-1] == 0  # no FIM: the queue ends empty


@pytest.mark.usefixtures("no_stray_threads")  # every consumer leaves get() through queue.ShutDown
@needs_shutdown
def test_the_consumers_stop_when_the_queue_is_shut_down_and_empty() -> None:
    image = dataclasses.replace(IMAGES["fila_shutdown.json"],
                                options={"consumers": 3, "items": 9, "produce_ms": 0, "handle_ms": 10})
    timeline = record_image(image)
    handled = checks.named(timeline, "trata")
    assert len(handled) == 9 and len(checks.named(timeline, "produz")) == 9
    assert 1 <= len(checks.workers(handled)) <= 3
    (depth,) = timeline.series
    assert max(depth.values) > 0 and depth.values[-1] == 0


@pytest.mark.usefixtures("no_stray_threads")
@needs_shutdown
def test_a_failing_producer_still_shuts_the_queue_and_joins_its_consumers(monkeypatch) -> None:
    calls = 0

    def produz(item: int, segundos: float) -> int:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("o produtor falhou")
        return item

    monkeypatch.setattr(programs, "produz", produz)
    with pytest.raises(RuntimeError, match="o produtor falhou"):
        programs.producer_consumer(consumers=2, items=5, produce_ms=0, handle_ms=1, shutdown=True)


@pytest.mark.usefixtures("no_stray_threads")
@needs_shutdown
@pytest.mark.parametrize(("options", "error"), [
    ({"consumers": 0}, ValueError), ({"items": -1}, ValueError), ({"handle_ms": float("nan")}, ValueError),
    ({"produce_ms": "20"}, TypeError),
])
def test_bad_settings_fail_before_anything_runs(options, error) -> None:
    with pytest.raises(error):
        programs.producer_consumer(**options, shutdown=True)


@before_shutdown
def test_an_older_python_says_it_cannot_and_the_images_leave_the_saved_run_alone(tmp_path, monkeypatch) -> None:
    with pytest.raises(RuntimeError, match=r"Python 3\.13"):
        programs.producer_consumer(shutdown=True)
    monkeypatch.delenv("CONCTUTOR_TIME_SCALE", raising=False)
    with pytest.raises(SystemExit, match=r"fila_shutdown\.json precisa do Python 3\.13"):
        generate(str(tmp_path), ["fila_shutdown.json"])
    assert not list(tmp_path.iterdir())
