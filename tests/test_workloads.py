"""The comparison notebook's workloads (real HTTP waits, hashing in C) and drawing runs one above another."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import itertools
import threading
import urllib.error
import urllib.request

import pytest

from conctutor import record
from conctutor.drawing import plot_stacked
from conctutor.interpreters import free_threaded_pythons
from conctutor.workloads import ServidorLento, baixa, baixa_async, resume

DELAY = 0.15


@pytest.fixture(autouse=True)
def _real_time(monkeypatch):
    """These tests time the workloads themselves: unscaled, except where a test says otherwise."""
    monkeypatch.setenv("CONCTUTOR_TIME_SCALE", "1")


def _overlap(a, b) -> float:
    return max(0.0, min(a.end, b.end) - max(a.start, b.start))


def test_the_slow_server_answers_after_its_delay_and_stops_with_its_block():
    with ServidorLento(DELAY) as url:
        assert url.startswith("http://127.0.0.1:")
        with record() as timeline:
            assert baixa(url) == len(b"conctutor\n")
    (span,) = timeline.spans
    assert span.name == "baixa" and span.duration >= DELAY * 0.9
    assert span.running_time < 0.5 * span.duration  # it waited for the answer
    assert not any(t.name == "conctutor-servidor" for t in threading.enumerate())
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=2)


def test_a_server_started_in_one_cell_answers_until_it_is_stopped():
    servidor = ServidorLento(0.01)
    assert baixa(servidor.url) == 10
    servidor.para()
    servidor.para()  # twice is harmless
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(servidor.url, timeout=2)


def test_downloads_in_threads_and_in_asyncio_wait_together():
    async def gather(url: str) -> list[int]:
        return await asyncio.gather(*(baixa_async(url) for _ in range(4)))

    with ServidorLento(DELAY) as url:
        with record() as threads, concurrent.futures.ThreadPoolExecutor(4) as executor:
            assert list(executor.map(baixa, [url] * 4)) == [10] * 4
        with record() as coroutines:
            assert asyncio.run(gather(url)) == [10] * 4
    for timeline in (threads, coroutines):
        spans = timeline.spans
        assert len(spans) == 4
        assert all(_overlap(a, b) > DELAY * 0.5 for a, b in itertools.combinations(spans, 2))
    assert len({s.thread_id for s in coroutines.spans}) == 1
    assert len({s.worker for s in coroutines.spans}) == 4


def test_dozens_of_downloads_at_once_are_all_accepted_without_the_kernels_one_second_retry():
    # With socketserver's backlog of 5, most runs of this lost a connection to a full
    # accept queue and waited for the kernel's retry after 1 s (notebook 08 failed in CI that way).
    async def gather(url: str, count: int) -> list[int]:
        return await asyncio.gather(*(baixa_async(url) for _ in range(count)))

    with ServidorLento(0.2) as url:
        with record(quiet=True) as threads, concurrent.futures.ThreadPoolExecutor(32) as executor:
            assert list(executor.map(baixa, [url] * 32)) == [10] * 32
        with record(quiet=True) as coroutines:
            assert asyncio.run(gather(url, 64)) == [10] * 64
    assert threads.makespan < 0.9
    assert coroutines.makespan < 0.9


def test_resume_hashes_in_c_and_refuses_bad_sizes():
    assert resume(1) == hashlib.sha256(bytes(1 << 20)).hexdigest()
    for bad in (0, -1, 10_000):
        with pytest.raises(ValueError, match="megabytes deve ser um número inteiro de 1 a 1024"):
            resume(bad)
    for bad in (2.5, "64", True):
        with pytest.raises(TypeError, match="megabytes deve ser um número inteiro de 1 a 1024"):
            resume(bad)
    with pytest.raises(ValueError, match="atraso"), ServidorLento(-1):
        pass


def test_the_time_scale_shrinks_the_hashed_size_but_not_the_servers_delay(monkeypatch):
    monkeypatch.setenv("CONCTUTOR_TIME_SCALE", "0.25")
    assert resume(4) == hashlib.sha256(bytes(1 << 20)).hexdigest()
    with ServidorLento(DELAY) as url, record() as timeline:
        baixa(url)
    (span,) = timeline.spans
    assert span.duration >= DELAY * 0.9


def test_plot_stacked_puts_every_run_on_one_time_axis():
    with ServidorLento(0.05) as url:
        with record() as short:
            baixa(url)
        with record() as long:
            baixa(url)
            baixa(url)
    figure = plot_stacked({"um": short, "dois": long})
    lanes = [ax for ax in figure.get_axes() if ax.get_yticklabels() and "principal" in
             [label.get_text() for label in ax.get_yticklabels()]]
    assert len(lanes) == 2
    assert lanes[0].get_xlim() == lanes[1].get_xlim()
    assert lanes[0].get_xlim()[1] >= long.makespan
    with pytest.raises(TypeError, match="dicionário"):
        plot_stacked([short, long])
    with pytest.raises(TypeError, match="linha do tempo"):
        plot_stacked({"x": 3})


def test_free_threaded_pythons_only_lists_interpreters_that_say_they_run_without_the_gil(tmp_path, monkeypatch):
    # stand-ins that answer the GIL check the way each kind of build would
    def fake(build: str, answer: str) -> str:
        path = tmp_path / build / "bin" / f"python{build}"
        path.parent.mkdir(parents=True)
        path.write_text(f"#!/bin/sh\necho '{answer}'\n", encoding="utf-8")
        path.chmod(0o755)
        return str(path)

    without_gil = fake("3.14t", "3.14.9 0")
    fake("3.13t", "3.13.9 1")  # a "t" build started with the GIL back on
    fake("3.15t", "not a python")
    monkeypatch.setenv("CONCTUTOR_PYTHONS_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # nothing found on the PATH
    assert free_threaded_pythons() == {"3.14.9t": without_gil}


def test_plot_stacked_gives_each_task_one_colour_across_runs_and_never_two_tasks_the_same():
    async def one(url: str) -> int:
        return await baixa_async(url)

    with ServidorLento(0.01) as url:
        with record() as threads:
            baixa(url)
        with record() as coroutines:
            asyncio.run(one(url))
        with record() as both:
            baixa(url)
            asyncio.run(one(url))
    figure = plot_stacked({"threads": threads, "asyncio": coroutines, "os dois": both})
    colours = {}
    for legend in figure.legends:
        for handle, text in zip(legend.legend_handles, legend.get_texts()):
            if text.get_text() in ("baixa", "baixa_async"):
                colours[text.get_text()] = tuple(handle.get_facecolor())
    assert set(colours) == {"baixa", "baixa_async"}
    assert colours["baixa"] != colours["baixa_async"]  # each run alone would have given both the first colour
