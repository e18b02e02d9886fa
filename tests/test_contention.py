"""How long our runnable tasks waited for a core held by another program (`Timeline.others_delay`)."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import subprocess
import sys

import numpy as np
import pytest

from conctutor import calcula, grava_log, record
from conctutor.model import STATES, CpuUsage, Kind, Lane, State
from conctutor.timeline import Columns, Timeline

READY, RUNNING = STATES.index(State.READY), STATES.index(State.RUNNING)
TWO_CORES = len(os.sched_getaffinity(0)) >= 2 if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1) >= 2


def synthetic(segments: list[tuple[float, float, int]], others_percent: float, ours_percent: float) -> Timeline:
    """One span of 1 s made of `segments`, on 2 cores sampled every 0.1 s with other programs using
    `others_percent` of each core on top of ours."""
    starts, ends, states = zip(*segments)
    columns = Columns(
        np.zeros(1, dtype=np.int32), np.zeros(1, dtype=np.int32), np.array([0.0]), np.array([1.0]),
        np.array([0.5]), np.array([np.nan]), np.zeros(1, dtype=np.int8), np.array([0, len(segments)]),
        np.array(starts), np.array(ends), np.array(states, dtype=np.int8),
    )
    times = tuple(round(0.1 * i, 1) for i in range(1, 11))
    cpu = CpuUsage(times, tuple((ours_percent + others_percent,) * 2 for _ in times), 0.0,
                   tuple((ours_percent,) * 2 for _ in times))
    return Timeline([Lane(1, 1, 1, "MainThread", True)], ["tarefa"], [Kind.CPU], columns, cpu=cpu, makespan=1.0,
                    cores=2, main_pid=1)


@pytest.mark.parametrize(("segments", "others", "expected"), [
    ([(0.0, 1.0, RUNNING)], 50.0, 0.0),  # never waited for a core
    ([(0.0, 0.2, RUNNING), (0.2, 0.6, READY), (0.6, 1.0, RUNNING)], 50.0, 0.4),  # others held a core all along
    ([(0.0, 0.2, RUNNING), (0.2, 0.6, READY), (0.6, 1.0, RUNNING)], 0.0, 0.0),  # ready because of our own work
    ([(0.0, 0.2, RUNNING), (0.2, 0.6, READY), (0.6, 1.0, RUNNING)], 10.0, 0.08),  # others: 0.2 core, 0.4 s
])
def test_ready_time_counts_as_held_by_others_up_to_what_they_used(segments, others, expected):
    timeline = synthetic(segments, others, 25.0)
    assert timeline.others_delay == pytest.approx(expected, abs=1e-9)


def test_without_the_sampler_nothing_is_known():
    timeline = synthetic([(0.0, 1.0, READY)], 50.0, 25.0)
    unsampled = Timeline(timeline.lanes, timeline.names, timeline.kinds, timeline.columns, cpu=CpuUsage(),
                         makespan=1.0, cores=2, main_pid=1, sampled=False)
    assert unsampled.others_delay is None


def _busy_elsewhere(seconds: float) -> subprocess.Popen:
    code = f"import time\nt = time.time()\nwhile time.time() - t < {seconds}: pass\n"
    return subprocess.Popen([sys.executable, "-c", code], start_new_session=True)


@pytest.mark.skipif(not os.path.exists("/proc/self/task") or not TWO_CORES, reason="the sampler, on two cores")
def test_a_busy_program_delays_our_computing_processes_but_not_our_waiting_ones():
    scale = float(os.environ["CONCTUTOR_TIME_SCALE"])
    hog = _busy_elsewhere(60)
    context = multiprocessing.get_context("fork")
    try:
        with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
            list(pool.map(grava_log, [0.01, 0.01]))  # the workers are up
            with record(cpu_interval=0.02) as computing:
                list(pool.map(calcula, [10.0, 10.0]))
            with record(cpu_interval=0.02) as waiting:
                list(pool.map(grava_log, [10.0, 10.0]))
    finally:
        hog.kill()
        hog.wait()
    # two computing processes and a busy loop on two cores: about a third of their time, ready
    assert computing.others_delay > 0.15 * 10.0 * scale, computing.others_delay
    assert waiting.others_delay < 0.02 * 10.0 * scale, waiting.others_delay


def test_the_figures_warning_speaks_only_when_others_delayed_our_tasks():
    from conctutor.scene import others_warning

    busy_but_free_core = synthetic([(0.0, 1.0, RUNNING)], 50.0, 25.0)  # others busy, our task never waited
    assert busy_but_free_core.others_cpu_share > 0.4
    assert others_warning(busy_but_free_core) == ""
    delayed = synthetic([(0.0, 0.2, RUNNING), (0.2, 0.6, READY), (0.6, 1.0, RUNNING)], 50.0, 25.0)
    warning = others_warning(delayed)
    assert warning.startswith("⚠ outros programas ocuparam os núcleos: as tarefas esperaram a vez por 0,40 s")
