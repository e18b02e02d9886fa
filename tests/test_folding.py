"""Folding lanes into bands when a run has more than a figure can show (conctutor.render.folding).

The run is real: 10 000 asyncio tasks recorded in one thread (tests/data/make_runs.py, run-10000-tasks.json.gz),
three of which failed and one the program named 'vigia'. No timing is asserted here: bench_scale.py measures.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import conctutor
from conctutor.engine.model import STATES, STATUSES, Lane, LaneRole, State, Status
from conctutor.render.folding import FOLD_ABOVE, KEEP_AT_MOST, fold_rows, named
from conctutor.render.labels import band_label
from conctutor.render.scene import build_scene
from conctutor.render.svg import render

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def ten_thousand(tmp_path_factory: pytest.TempPathFactory) -> conctutor.Timeline:
    plain = tmp_path_factory.mktemp("runs") / "run-10000-tasks.json"
    plain.write_bytes(gzip.decompress((DATA / "run-10000-tasks.json.gz").read_bytes()))
    return conctutor.Timeline.load(plain)


def test_ten_thousand_tasks_fold_into_one_band_beside_the_failed_and_the_named(ten_thousand):
    assert len(ten_thousand) == 10_000 and len(ten_thousand.lanes) == 10_000
    failed = {span.task for span in ten_thousand.spans if span.status == "error"}
    assert len(failed) == 3
    scene = build_scene(ten_thousand)
    assert scene.lanes == ("principal · 9.996 tarefas", *(f"principal · {task}" for task in sorted(
        failed, key=lambda task: int(task.split("-")[1]))), "principal · vigia")
    assert len(scene.bands) == 1 and scene.bands[0].total == 9_996
    # the bars drawn are the four lanes' own spans; the band takes three lanes' height
    assert len(scene.start) == 4
    assert scene.rows_height == 3 + 4
    note = " ".join(scene.notes)
    assert "9.996 tarefas agrupadas" in note and 'plot(lanes="all")' in note


def test_a_band_counts_every_instant_of_its_tasks(ten_thousand):
    """The counts are exact: summed over time they give the folded spans' total length, and their
    segments' length in each state; at the end every task has ended."""
    scene = build_scene(ten_thousand)
    band = scene.bands[0]
    widths = np.diff(band.edges)
    c = ten_thousand.columns
    folded = np.array([ten_thousand.lanes[lane].task != "vigia" for lane in c.lane]) & (
        c.status != STATUSES.index(Status.ERROR))
    assert folded.sum() == 9_996
    assert (band.states.sum(axis=0) * widths).sum() == pytest.approx((c.end - c.start)[folded].sum(), rel=1e-9)
    counts = np.diff(c.seg_offsets)
    seg_folded = np.repeat(folded, counts)
    for code in range(len(STATES)):
        length = (c.seg_end - c.seg_start)[seg_folded & (c.seg_state == code)].sum()
        assert (band.states[code] * widths).sum() == pytest.approx(length, rel=1e-9, abs=1e-9)
    # the tasks wait on asyncio.sleep: most of the band is a wait, and all of them end
    waiting = band.states[STATES.index(State.IO)] + band.states[STATES.index(State.WAITING)]
    assert waiting.max() > 0.9 * band.total
    assert band.done[-1] == pytest.approx(band.total, rel=0.01)
    assert np.all(band.states.sum(axis=0) + band.done <= band.total * (1 + 1e-9))  # none counted twice


def test_the_figure_and_the_live_frame_draw_the_band(ten_thousand):
    fig = ten_thousand.plot()
    fig.canvas.draw()
    lanes_axes = fig.axes[0]
    assert lanes_axes.get_yticklabels()[0].get_text() == "principal · 9.996 tarefas"
    assert len(lanes_axes.get_yticks()) == 5
    svg = render(build_scene(ten_thousand))
    assert "principal · 9.996 tarefas" in svg and "9.996 tarefas agrupadas" in svg
    assert svg.count("<polygon") >= 3  # running, waiting, done
    assert len(svg) < 200_000  # the frame's size follows the pixels, not the 10 000 tasks


def test_lanes_all_draws_every_lane_and_a_bad_value_is_refused(ten_thousand):
    scene = build_scene(ten_thousand, lanes="all")
    assert len(scene.lanes) == 10_000 and not scene.bands and len(scene.start) == 10_000
    with pytest.raises(ValueError, match=r'"auto".*"all"'):
        ten_thousand.plot(lanes="todas")
    with pytest.raises(TypeError, match="lanes"):
        ten_thousand.plot(lane="all")


def test_a_few_lanes_are_never_folded():
    timeline = conctutor.Timeline.load(DATA / "run-12-lanes.json")
    scene = build_scene(timeline)
    assert not scene.bands and len(scene.lanes) == 12 and list(scene.row_centre) == list(range(12))


# --- the levels, on lanes as a recording makes them ------------------------------------------------


def _thread(pid: int, k: int, task: str = "") -> Lane:
    return Lane(pid, 1000 + k, pid + k, f"Thread-{k} (trabalho)", False, task)


def test_threads_fold_by_process_and_worker_processes_together():
    main = 10
    threads = [_thread(main, k) for k in range(300)]
    rows = fold_rows(threads, range(300), set(), main)
    assert [(row.band, len(row.lanes)) for row in rows] == [(True, 300)]
    # threads that ended hand their ident on to new ones: each lane is still a thread of its own
    reused = [Lane(main, 1000 + k % 7, main + k, f"Thread-{k} (trabalho)", False) for k in range(300)]
    assert band_label(fold_rows(reused, range(300), set(), main)[0], reused, main) == "principal · 300 threads"
    # 200 worker processes of two threads each: one band per process is still too many rows
    workers = [_thread(pid, k) for pid in range(100, 300) for k in range(2)]
    rows = fold_rows(workers, range(len(workers)), set(), main)
    assert [(row.band, row.key, len(row.lanes)) for row in rows] == [(True, ("processes",), 400)]


def test_queue_rows_fold_and_named_or_failed_lanes_stay_up_to_a_limit():
    main = 10
    queue = [Lane(0, k, 0, "", False, role=LaneRole.QUEUE) for k in range(150)]
    rows = fold_rows(queue, range(150), set(), main)
    assert [(row.band, len(row.lanes)) for row in rows] == [(True, 150)]
    named = [Lane(main, 1, main, "MainThread", True, f"consumidor {k}") for k in range(30)]
    plain = [Lane(main, 1, main, "MainThread", True, f"Task-{k}") for k in range(200)]
    lanes = [*plain, *named]
    rows = fold_rows(lanes, range(len(lanes)), {0}, main)
    alone = [row.lanes[0] for row in rows if not row.band]
    assert len(alone) == KEEP_AT_MOST and alone[0] == 0  # the failed one first, then the named
    assert all(lanes[i].task.startswith("consumidor") for i in alone[1:])
    assert len(rows) <= FOLD_ABOVE


def test_a_thread_is_named_by_the_program_unless_python_named_it():
    def thread(name: str, main: bool = False) -> Lane:
        return Lane(10, 1, 11, name, main)

    for default in ("Thread-3", "Thread-3 (trabalho)", "Dummy-1", "ThreadPoolExecutor-0_1", "asyncio_0"):
        assert not named(thread(default)), default
    for chosen in ("consumidor", "consumidor_1", "baixador_0", "MainThread"):
        assert named(thread(chosen, main=chosen == "MainThread")), chosen
    assert not named(Lane(10, 1, 11, "MainThread", True, "Task-7")) and named(Lane(10, 1, 11, "x", True, "vigia"))
