"""The images' programs (conctutor/imgs.py, conctutor/programs.py): notebook 05's race and queue, a loop of one's own.

The millisecond and second arguments of these programs are not scaled by
``CONCTUTOR_TIME_SCALE``, so the tests pass small values themselves.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import sys
from itertools import product

import pytest

from conctutor import checks, programs, record
from conctutor.imgs import IMAGES, generate, record_image
from conctutor.model import State
from conctutor.widgets import check_inputs


def test_the_race_loses_updates_and_the_watched_counter_shows_it() -> None:
    pause = 0.05  # the image's: 4 calls take 0.2 s
    image = dataclasses.replace(IMAGES["corrida.png"], options={"threads": 2, "times": 4, "pause_s": pause})
    timeline = record_image(image)
    final = programs.contador
    calls = checks.named(timeline, "incrementa")
    assert len(calls) == 8 and all(span.status == "ok" for span in calls)
    lanes = checks.workers(calls)
    assert len(lanes) == 2
    first, second = ([span for span in calls if span.worker == lane] for lane in lanes)
    assert len(first) == len(second) == 4

    # Each call reads at least `pause` before it writes, inside its span. Two spans that overlap by
    # more than both spans' time beyond the pause must have read-to-write intervals that overlap:
    # the later reader read a value the other had not yet written, so an update was lost.
    def beyond(span) -> float:
        return span.end - span.start - pause

    overlapped = any(checks.overlap(a, b) > beyond(a) + beyond(b) + 1e-4 for a, b in product(first, second))
    assert overlapped, [(span.worker, span.start, span.end) for span in calls]
    assert 1 <= final < len(calls)

    (counter,) = timeline.series
    assert counter.name == "contador"
    assert counter.values[0] == 0
    assert counter.values[-1] == final
    assert max(counter.values) <= len(calls)


@pytest.mark.usefixtures("no_stray_threads")  # every consumer stops
def test_the_producer_fills_the_queue_and_the_consumers_drain_it() -> None:
    # producing takes no time: the queue fills at once, and 2 consumers of 10 ms each drain it over 50 ms
    image = dataclasses.replace(IMAGES["fila.png"],
                                options={"consumers": 2, "items": 10, "produce_ms": 0, "handle_ms": 10})
    timeline = record_image(image)
    produced = checks.named(timeline, "produz")
    handled = checks.named(timeline, "trata")
    assert len(produced) == 10 and len(handled) == 10
    assert checks.workers(produced) == [produced[0].worker]  # one producer, in the thread that called
    assert produced[0].worker not in checks.workers(handled)
    assert 1 <= len(checks.workers(handled)) <= 2
    assert all(span.status == "ok" for span in produced + handled)
    assert all(span.end - span.start >= 0.01 - 1e-4 for span in handled)

    (depth,) = timeline.series
    assert depth.name == "itens na fila"
    assert depth.values[0] == 0
    assert max(depth.values) > 0
    assert depth.values[-1] == 0  # every item taken, the sentinels too


def test_producer_consumer_with_the_notebooks_default_durations_watched_by_record() -> None:
    fila: queue.Queue = queue.Queue()
    with record(watch={"itens na fila": fila.qsize}) as timeline:
        programs.producer_consumer(consumers=3, items=6, produce_ms=1, handle_ms=5, queue=fila)
    assert len(checks.named(timeline, "trata")) == 6
    assert timeline.series[0].values[-1] == 0
    assert fila.empty()


class _BrokenQueue(queue.Queue):
    """A queue whose third item cannot be put (the sentinels still can)."""

    def put(self, item, block=True, timeout=None):
        if item == 2:
            raise OSError("fila cheia de mentira")
        super().put(item, block, timeout)


@pytest.mark.usefixtures("no_stray_threads")
def test_a_failing_producer_still_stops_its_consumers() -> None:
    with pytest.raises(OSError, match="mentira"), record() as timeline:
        programs.producer_consumer(consumers=2, items=5, produce_ms=0, handle_ms=1, queue=_BrokenQueue())
    assert len(checks.named(timeline, "trata")) == 2  # the items put before the failure


@pytest.mark.usefixtures("no_stray_threads")
@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: programs.race(threads=0), ValueError),
        (lambda: programs.race(times=2.5), TypeError),
        (lambda: programs.race(pause_s=-1), ValueError),
        (lambda: programs.race(pause_s=float("nan")), ValueError),
        (lambda: programs.producer_consumer(consumers=0), ValueError),
        (lambda: programs.producer_consumer(items="20"), TypeError),
        (lambda: programs.producer_consumer(handle_ms=-1), ValueError),
        (lambda: programs.producer_consumer(produce_ms=float("inf")), ValueError),
    ],
)
def test_bad_settings_fail_before_anything_runs(call, error) -> None:
    with pytest.raises(error):
        call()


def test_every_image_passes_its_program_only_options_it_has() -> None:
    for name, image in IMAGES.items():
        more, watch = image.setup() if image.setup else ({}, {})
        check_inputs(image.program, image.durations, {**image.options, **more})
        assert image.title, name
        for function in watch.values():
            assert function() == 0, name  # an empty queue, a counter from 0


@pytest.mark.skipif(not getattr(sys, "_is_gil_enabled", lambda: True)(), reason="without the GIL there are no turns")
@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="the sampler needs Linux /proc")
def test_a_loop_of_ones_own_in_two_threads_is_drawn_in_turns_on_the_gil() -> None:
    image = dataclasses.replace(IMAGES["laco.png"], setup=lambda: ({"n": programs.iterations_in(0.15)}, {}))
    timeline = record_image(image)
    loops = checks.named(timeline, "soma_quadrados")
    assert len(loops) == 2 and len(checks.workers(loops)) == 2
    for span in loops:
        # what the sampler saw: many turns on a core, and waits for the GIL between them
        assert len(span.running) >= 5, span.running
        gil = sum(end - start for start, end, state in span.waits if state == State.GIL)
        assert gil > 0.2 * (span.end - span.start), span.waits


def test_the_images_refuse_a_time_scale(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CONCTUTOR_TIME_SCALE", "0.05")
    with pytest.raises(SystemExit, match="CONCTUTOR_TIME_SCALE"):
        generate(str(tmp_path), ["fila.png"])
    assert not list(tmp_path.iterdir())
