"""record(watch=...): numbers followed over time (the items in a queue) and drawn under the lanes."""

from __future__ import annotations

import queue
import threading
import time

import pytest

from conctutor import Timeline, record, task


@task
def trata(item: int) -> int:
    time.sleep(0.004)
    return item


def _fill_then_drain(fila: queue.Queue, items: int) -> None:
    for item in range(items):
        fila.put(item)
    time.sleep(0.05)  # the queue stays full for several readings

    def consumer() -> None:
        while (item := fila.get()) is not None:
            trata(item)

    worker = threading.Thread(target=consumer)
    worker.start()
    fila.put(None)
    worker.join()


def test_a_watched_queue_rises_then_drains_to_zero():
    fila: queue.Queue = queue.Queue()
    with record(watch={"itens na fila": fila.qsize}) as timeline:
        _fill_then_drain(fila, 20)
    (series,) = timeline.series
    assert series.name == "itens na fila"
    assert series.values[0] == 0
    assert max(series.values) >= 20  # 20 items and the sentinel may be in it together
    assert series.values[-1] == 0
    assert list(series.times) == sorted(series.times)
    assert series.times[0] >= 0 and series.times[-1] <= timeline.makespan + 1e-6
    peak = series.times[series.values.index(max(series.values))]
    first_item = min(span.start for span in timeline.spans)
    assert peak <= first_item + 0.02  # full before the consumer started, draining after


def test_watched_numbers_survive_save_and_load(tmp_path):
    fila: queue.Queue = queue.Queue()
    with record(watch={"itens na fila": fila.qsize, "tamanho": lambda: 2.5}) as timeline:
        _fill_then_drain(fila, 5)
    path = tmp_path / "run.json"
    timeline.save(path)
    again = Timeline.load(path)
    assert again.series == timeline.final.series
    assert [s.name for s in again.series] == ["itens na fila", "tamanho"]


def test_the_figure_has_one_strip_per_watched_number_and_can_leave_them_out():
    fila: queue.Queue = queue.Queue()
    with record(watch={"itens na fila": fila.qsize}) as timeline:
        _fill_then_drain(fila, 5)
    with_strip = timeline.plot()
    without = timeline.plot(series=False)
    titles = [ax.get_title(loc="left") for ax in with_strip.axes]
    assert "itens na fila" in titles
    assert len(with_strip.axes) == len(without.axes) + 1


@pytest.mark.parametrize(
    ("watch", "error", "words"),
    [
        ([1, 2], TypeError, "dicionário"),
        ({"fila": 3}, TypeError, "sem parênteses"),
        ({"": len}, TypeError, "nome"),
        ({"texto": lambda: "x"}, TypeError, "número"),
        ({"nan": lambda: float("nan")}, TypeError, "número finito"),
        ({"quebra": lambda: 1 / 0}, ValueError, "ZeroDivisionError"),
    ],
)
def test_bad_watch_fails_at_the_call_in_portuguese(watch, error, words):
    with pytest.raises(error, match=words), record(watch=watch):
        pytest.fail("the block must not run")


def test_a_bad_interval_and_a_second_watch_in_one_recording_are_refused():
    with pytest.raises(ValueError, match="watch_interval"), record(watch={"um": lambda: 1}, watch_interval=0):
        pass
    with record(watch={"um": lambda: 1}), pytest.raises(ValueError, match="mesmo watch"), \
            record(watch={"dois": lambda: 2}):
        pass


def _changes(values):
    return [v for i, v in enumerate(values) if i == 0 or values[i - 1] != v]


def test_an_inner_block_may_watch_when_the_outer_one_does_not():
    fila: queue.Queue = queue.Queue()
    with record() as outer:
        with record(watch={"itens na fila": fila.qsize}) as inner:
            _fill_then_drain(fila, 5)
    assert inner.series[0].values[-1] == 0 and max(inner.series[0].values) >= 5
    # The same readings. The outer block may keep one more copy of the last value: the reading
    # taken when the inner block stopped watching falls inside the outer block's window, while
    # the inner block keeps it only when it differs from its own last one.
    assert _changes(outer.series[0].values) == _changes(inner.series[0].values)
    assert not any(t.name == "conctutor-watch" for t in threading.enumerate())


def test_a_number_that_stops_answering_is_dropped_and_the_recording_goes_on():
    calls = {"n": 0}

    def flaky() -> int:
        calls["n"] += 1
        if calls["n"] > 3:
            raise OSError("fila fechada")
        return calls["n"]

    with record(watch={"instável": flaky}, watch_interval=0.002) as timeline:
        trata(1)
        time.sleep(0.05)
        trata(2)
    assert [span.name for span in timeline.spans] == ["trata", "trata"]
    # the first call was record()'s own check; the fourth failed and ended the series
    assert timeline.series[0].values == (2.0, 3.0)
    assert not any(t.name == "conctutor-watch" for t in threading.enumerate())


def test_perfetto_has_a_counter_track_per_watched_number(tmp_path):
    import json

    fila: queue.Queue = queue.Queue()
    with record(watch={"itens na fila": fila.qsize}) as timeline:
        _fill_then_drain(fila, 5)
    path = tmp_path / "trace.json"
    timeline.to_perfetto(path)
    events = json.loads(path.read_text(encoding="utf-8"))["traceEvents"]
    counters = [e for e in events if e["ph"] == "C" and e["name"] == "itens na fila"]
    assert [e["args"]["valor"] for e in counters] == list(timeline.series[0].values)


def test_the_live_frames_draw_the_watched_numbers_too():
    from conctutor.scene import build_scene
    from conctutor.svg import render

    fila: queue.Queue = queue.Queue()
    with record(watch={"itens na fila": fila.qsize}) as timeline:
        _fill_then_drain(fila, 5)
        during = render(build_scene(timeline.snapshot()))
    after = render(build_scene(timeline.final))
    for frame in (during, after):
        assert "itens na fila" in frame and "<polyline" in frame


def test_a_jump_at_the_very_end_is_drawn_with_its_top_tick_and_a_dot():
    # three results reaching a loop together, as the block ends (notebook 03, executor.map)
    recebidos: list[int] = []
    with record(watch={"resultados recebidos": lambda: len(recebidos)}) as timeline:
        trata(1)
        time.sleep(0.03)
        recebidos.extend([1, 2, 3])
    (series,) = timeline.series
    assert series.values[0] == 0 and series.values[-1] == 3
    figure = timeline.plot()
    (strip,) = [ax for ax in figure.axes if ax.get_title(loc="left") == "resultados recebidos"]
    ticks = list(strip.get_yticks())
    assert ticks[0] == 0 and ticks[-1] == 3
    dots = [line for line in strip.get_lines() if line.get_marker() == "o"]
    assert len(dots) == 1 and not dots[0].get_clip_on()
    assert list(dots[0].get_ydata()) == [3]
    assert dots[0].get_xdata()[0] >= series.times[-1]


def test_two_inner_blocks_one_after_the_other_may_each_watch_their_own_number():
    primeira: queue.Queue = queue.Queue()
    segunda: queue.Queue = queue.Queue()
    with record() as outer:
        with record(watch={"primeira": primeira.qsize}) as one:
            _fill_then_drain(primeira, 3)
        with record(watch={"segunda": segunda.qsize}) as two:
            _fill_then_drain(segunda, 4)
    assert [s.name for s in one.series] == ["primeira"]
    assert [s.name for s in two.series] == ["segunda"]
    assert [s.name for s in outer.series] == ["primeira", "segunda"]
    assert max(two.series[0].values) >= 4
