"""Export of real recordings: Perfetto trace JSON, and save/load round trips."""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import contextlib
import errno
import io
import json
import multiprocessing
import os
import pickle
import stat
import threading
import time
from collections import Counter
from copy import copy as shallow_copy
from copy import deepcopy
from pathlib import Path

import pytest

import conctutor.engine.files
from conctutor import Span, Timeline, aio, calcula, consulta_dados, grava_log, processa_dados, record, task
from conctutor.engine.persistence import FORMAT, VERSION
from conctutor.perfetto import CPU_COUNTER, RUNNING_SLICE

load_timeline = Timeline.load

TIME_SCALE = "0.02"
"""Every recording here runs the real tasks at 2% of their durations."""


@task(kind="io")
def falha_de_exportacao() -> None:
    """A real task that waits and then fails, so the recording has an error span."""
    time.sleep(0.01)
    raise RuntimeError("disco cheio")


def _run_everything() -> None:
    dados = consulta_dados()
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as executor:
        futures = [
            executor.submit(processa_dados, dados),
            executor.submit(grava_log),
            executor.submit(calcula, 1.0),
            executor.submit(calcula, 1.0),
            executor.submit(falha_de_exportacao),
        ]
        concurrent.futures.wait(futures)
    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as executor:
        list(executor.map(calcula, [1.0, 1.0]))


@pytest.fixture(scope="module")
def timeline() -> Timeline:
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(io.StringIO()):
        patch.setenv("CONCTUTOR_TIME_SCALE", TIME_SCALE)
        with record(cpu_interval=0.01) as recorded:
            _run_everything()
    return recorded.final


# --- save / load ------------------------------------------------------------------


def test_round_trip_keeps_every_field(timeline: Timeline, tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    timeline.save(path)
    loaded = Timeline.load(path)

    assert len(timeline.spans) == 8
    assert loaded.spans == timeline.spans
    for original, copy in zip(timeline.spans, loaded.spans):
        assert copy.lane == original.lane is not None
        assert isinstance(copy.running, tuple)
        assert all(isinstance(interval, tuple) and len(interval) == 2 for interval in copy.running)
    assert loaded.cpu == timeline.cpu
    assert loaded.makespan == timeline.makespan
    assert loaded.cores == timeline.cores
    assert loaded.python == timeline.python
    assert loaded.workers == timeline.workers
    assert loaded.ideal_time == timeline.ideal_time
    assert not loaded.is_live

    again = tmp_path / "again.json"
    loaded.save(again)
    assert json.loads(again.read_text(encoding="utf-8")) == json.loads(path.read_text(encoding="utf-8"))


def test_saved_file_is_versioned_json(timeline: Timeline, tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    timeline.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == FORMAT
    assert data["version"] == VERSION
    assert set(data["spans"]["status"]) == {"ok", "error"}
    # data only: English codes, lanes with their role and interpreter, each task's needs; no labels, no
    # legend words
    assert set(data["segments"]["state"]) <= {state.value for state in conctutor.State}
    assert "labels" not in data and all(len(lane) == 8 and lane[7] == 0 for lane in data["lanes"])
    assert len(data["needs"]) == len(data["names"])


def test_an_empty_recording_round_trips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONCTUTOR_TIME_SCALE", TIME_SCALE)
    with record() as empty:
        pass
    empty.save(tmp_path / "empty.json")
    loaded = load_timeline(tmp_path / "empty.json")
    assert loaded.spans == []
    assert loaded.makespan == empty.makespan
    assert loaded.ideal_time == 0.0
    empty.to_perfetto(tmp_path / "empty.trace.json")
    trace = json.loads((tmp_path / "empty.trace.json").read_text(encoding="utf-8"))
    assert not [e for e in trace["traceEvents"] if e["ph"] == "X"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("isto não é json", "não é JSON válido"),
        ("[1, 2, 3]", "não é uma timeline do conctutor"),
        ('{"spans": []}', "não é uma timeline do conctutor"),
        ('{"traceEvents": [], "displayTimeUnit": "ms"}', "Perfetto"),
    ],
)
def test_loading_something_else_says_so(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "other.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_timeline(path)


def test_a_binary_file_is_rejected_clearly(tmp_path: Path) -> None:
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    with pytest.raises(ValueError, match="não é uma timeline do conctutor"):
        load_timeline(path)


@pytest.mark.parametrize("version", [0, VERSION + 1, "1", None])
def test_an_unknown_version_is_rejected(timeline: Timeline, tmp_path: Path, version: object) -> None:
    path = tmp_path / "run.json"
    timeline.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["version"] = version
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match=f"só lê as versões 2 e {VERSION}"):
        load_timeline(path)


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data["spans"].pop("name"),
        lambda data: data["spans"]["lane"].__setitem__(0, "doze"),
        lambda data: data["spans"]["lane"].__setitem__(0, 99),
        lambda data: data["segments"]["offsets"].__setitem__(1, -1),
        lambda data: data["spans"]["start"].__setitem__(0, float("nan")),
        lambda data: data["spans"]["end"].__setitem__(0, float("inf")),
        lambda data: data["spans"]["start"].__setitem__(0, -1.0),
        lambda data: data["spans"]["end"].__setitem__(0, -5.0),
        lambda data: data["spans"]["status"].__setitem__(0, "talvez"),
        lambda data: data["cpu"]["percent"].__setitem__(0, [float("nan")] * 2),
        lambda data: data.update(makespan=float("-inf")),
        lambda data: data.pop("cpu"),
        lambda data: data.update(spans=None),
    ],
)
def test_a_damaged_file_is_rejected(timeline: Timeline, tmp_path: Path, damage) -> None:
    path = tmp_path / "run.json"
    timeline.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    damage(data)
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="danificada"):
        load_timeline(path)


# --- Perfetto ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trace(timeline: Timeline, tmp_path_factory: pytest.TempPathFactory) -> dict:
    path = tmp_path_factory.mktemp("perfetto") / "run.trace.json"
    timeline.to_perfetto(path)
    return json.loads(path.read_text(encoding="utf-8"))


def test_trace_is_chrome_trace_event_json(trace: dict) -> None:
    assert trace["displayTimeUnit"] == "ms"
    phases = Counter(event["ph"] for event in trace["traceEvents"])
    assert set(phases) == {"M", "X", "C"}
    for event in trace["traceEvents"]:
        assert isinstance(event["name"], str) and isinstance(event["pid"], int)
        if event["ph"] in ("X", "C"):
            assert isinstance(event["ts"], (int, float)) and event["ts"] >= 0
        if event["ph"] == "X":
            assert isinstance(event["tid"], int) and event["dur"] >= 0


def test_one_track_per_lane_in_lane_order(timeline: Timeline, trace: dict) -> None:
    names = [e for e in trace["traceEvents"] if e["ph"] == "M" and e["name"] == "thread_name"]
    assert [e["args"]["name"] for e in names] == timeline.workers
    tracks = [(e["pid"], e["tid"]) for e in names]
    assert len(set(tracks)) == len(tracks)
    order = {
        (e["pid"], e["tid"]): e["args"]["sort_index"]
        for e in trace["traceEvents"]
        if e["name"] == "thread_sort_index"
    }
    assert [order[track] for track in tracks] == sorted(order[track] for track in tracks)

    # every worker process is a process of its own, named after its lane
    workers = {span.pid for span in timeline.spans if span.worker.startswith("processo")}
    assert workers
    process_names = {e["pid"]: e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "process_name"}
    for pid in workers:
        assert process_names[pid].startswith("processo ") and f"pid {pid}" in process_names[pid]
    for span in timeline.spans:  # numbered as on the figure's lanes
        if span.pid in workers:
            assert span.worker.startswith(process_names[span.pid])


def test_spans_and_running_intervals_are_nested_slices(timeline: Timeline, trace: dict) -> None:
    slices = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    spans = timeline.spans
    running = [e for e in slices if e["name"] == RUNNING_SLICE]
    tasks = [e for e in slices if e["cat"] != "state"]
    states = [e for e in slices if e["cat"] == "state"]
    assert len(states) == sum(len(span.running) + len(span.waits) for span in spans)
    assert len(tasks) == len(spans)
    assert len(running) == sum(len(span.running) for span in spans)
    assert Counter(e["name"] for e in tasks) == Counter(span.name for span in spans)

    track_of = {
        e["args"]["name"]: (e["pid"], e["tid"]) for e in trace["traceEvents"] if e["name"] == "thread_name"
    }
    for span in spans:
        [parent] = [
            e
            for e in tasks
            if e["name"] == span.name and e["ts"] == pytest.approx(span.start * 1e6, abs=0.01)
            and (e["pid"], e["tid"]) == track_of[span.worker]
        ]
        assert parent["dur"] == pytest.approx(span.duration * 1e6, abs=0.01)
        assert parent["args"]["status"] == span.status
        assert parent["args"]["cpu_time"] == span.cpu_time
        assert parent["args"]["seconds"] == span.seconds
        assert parent["args"]["error"] == span.error
        for a, _b in span.running:
            [child] = [
                e
                for e in running
                if (e["pid"], e["tid"]) == track_of[span.worker]
                and e["ts"] == pytest.approx(max(a, span.start) * 1e6, abs=0.01)
                and e["args"]["tarefa"] == span.name
            ]
            assert child["ts"] >= parent["ts"]
            assert child["ts"] + child["dur"] <= parent["ts"] + parent["dur"] + 1e-6

    [failed] = [e for e in tasks if e["args"]["status"] == "error"]
    assert failed["name"] == "falha_de_exportacao"
    assert "disco cheio" in failed["args"]["error"]


def test_cpu_use_is_a_counter_per_core(timeline: Timeline, trace: dict) -> None:
    cpu = timeline.cpu
    counters = [e for e in trace["traceEvents"] if e["ph"] == "C"]
    assert cpu.times, "the recording should have CPU samples"
    assert len(counters) == len(cpu.times) + 1
    assert {e["name"] for e in counters} == {CPU_COUNTER}
    for event in counters:
        assert len(event["args"]) == cpu.cores
        assert all(0 <= value <= 100 for value in event["args"].values())
    times = [e["ts"] for e in counters]
    assert times == sorted(times)
    assert times[-1] == pytest.approx(cpu.times[-1] * 1e6, abs=0.01)
    lanes = {(e["pid"]) for e in trace["traceEvents"] if e["name"] == "thread_name"}
    assert counters[0]["pid"] not in lanes


def test_span_is_exported_from_a_loaded_timeline_too(timeline: Timeline, tmp_path: Path) -> None:
    timeline.save(tmp_path / "run.json")
    Timeline.load(tmp_path / "run.json").to_perfetto(tmp_path / "a.json")
    timeline.to_perfetto(tmp_path / "b.json")
    assert json.loads((tmp_path / "a.json").read_text(encoding="utf-8")) == json.loads(
        (tmp_path / "b.json").read_text(encoding="utf-8")
    )
    assert isinstance(timeline.spans[0], Span)


# --- runs saved by earlier versions -------------------------------------------------

SAVED_BY_0_2_0 = Path(__file__).parent / "data" / "run-0.2.0.json"
"""A real run saved by conctutor 0.2.0 (format version 2, Portuguese state words in the data):
the chapter's tasks in the main thread and a thread pool, calcula in a process and in two threads,
a failing task, two asyncio tasks and a watched number."""


def test_a_run_saved_by_0_2_0_still_loads() -> None:
    saved = json.loads(SAVED_BY_0_2_0.read_text(encoding="utf-8"))
    loaded = load_timeline(SAVED_BY_0_2_0)
    assert len(loaded.spans) == len(saved["spans"]["start"]) == 9
    assert [span.status for span in loaded.spans].count("error") == 1
    names = {span.name for span in loaded.spans}
    assert {"consulta_dados", "processa_dados", "grava_log", "calcula", "falha", "espera"} <= names
    assert any(span.task for span in loaded.spans)
    calcula_in_threads = [s for s in loaded.spans if s.name == "calcula" and s.pid == saved["main_pid"]]
    assert len(calcula_in_threads) == 2 and all(s.running for s in calcula_in_threads)
    assert loaded.series and loaded.series[0].name == "itens"
    assert loaded.ideal_time > 0


# --- a save never destroys the previous file -------------------------------------------


class _FailsMidway:
    """A file opened as `open` would, that takes half of the first text written to it, then raises `error`."""

    def __init__(self, error: BaseException, *args: object, **kwargs: object) -> None:
        self._error, self._args, self._kwargs = error, args, kwargs

    def __enter__(self) -> _FailsMidway:
        self._file = builtins.open(*self._args, **self._kwargs)  # type: ignore[call-overload]
        return self

    def __exit__(self, *_: object) -> None:
        self._file.close()

    def write(self, text: str) -> int:
        self._file.write(text[: len(text) // 2])
        self._file.flush()
        raise self._error


@pytest.mark.parametrize("write", ["save", "to_perfetto"])
@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()],
                         ids=["disk full", "Ctrl-C"])
def test_a_write_that_fails_midway_leaves_the_previous_file_intact(timeline: Timeline, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch, write: str,
                                                                   error: BaseException) -> None:
    path = tmp_path / "run.json"
    getattr(timeline, write)(path)
    before = path.read_bytes()
    monkeypatch.setattr(conctutor.engine.files, "open", lambda *args, **kwargs: _FailsMidway(error, *args, **kwargs),
                        raising=False)
    with pytest.raises(type(error)) as raised:
        getattr(timeline, write)(path)
    if isinstance(error, OSError):
        assert raised.value.errno == errno.ENOSPC
        assert "disco cheio" in str(raised.value) and "ficou como estava" in str(raised.value)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["run.json"], "no temporary file may stay behind"


def test_a_save_keeps_the_permissions_of_the_file_it_replaces(timeline: Timeline, tmp_path: Path) -> None:
    fresh, kept = tmp_path / "novo.json", tmp_path / "antigo.json"
    umask = os.umask(0o022)
    os.umask(umask)
    timeline.save(fresh)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask
    kept.write_text("{}", encoding="utf-8")
    kept.chmod(0o640)
    timeline.save(kept)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    assert Timeline.load(kept).spans == timeline.spans


# --- lone surrogates travel unchanged ------------------------------------------------------

BAD_BYTES = b"nome\x80ruim".decode("utf-8", "surrogateescape")
"""A name as Python decodes a badly encoded file name: ``"nome\\udc80ruim"``."""


@task(kind="io")
def falha_com_nome_ruim() -> None:
    raise ValueError(f"arquivo {BAD_BYTES} não encontrado")


async def _asyncio_task_with_a_bad_name() -> None:
    await asyncio.create_task(aio.grava_log(segundos=0.01), name=f"tarefa {BAD_BYTES}")


@pytest.fixture(scope="module")
def surrogates() -> Timeline:
    def in_a_thread() -> None:
        with contextlib.suppress(ValueError):
            falha_com_nome_ruim()

    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(io.StringIO()):
        patch.setenv("CONCTUTOR_TIME_SCALE", TIME_SCALE)
        with record() as recorded:
            thread = threading.Thread(target=in_a_thread, name=f"thread {BAD_BYTES}")
            thread.start()
            thread.join()
            asyncio.run(_asyncio_task_with_a_bad_name())
    return recorded.final


def test_lone_surrogates_round_trip_through_save_and_load(surrogates: Timeline, tmp_path: Path) -> None:
    failed = next(span for span in surrogates.spans if span.error)
    assert BAD_BYTES in failed.error and BAD_BYTES in failed.thread_name
    assert any(BAD_BYTES in span.task for span in surrogates.spans)
    path = tmp_path / "run.json"
    surrogates.save(path)
    path.read_text(encoding="utf-8")  # valid UTF-8: the surrogate is written as a JSON escape
    assert Timeline.load(path).spans == surrogates.spans


def test_lone_surrogates_reach_perfetto(surrogates: Timeline, tmp_path: Path) -> None:
    path = tmp_path / "run.trace.json"
    surrogates.to_perfetto(path)
    trace = json.loads(path.read_text(encoding="utf-8"))
    threads = [e["args"]["name"] for e in trace["traceEvents"] if e.get("name") == "thread_name"]
    errors = [e["args"]["error"] for e in trace["traceEvents"] if e.get("args", {}).get("error")]
    assert any(BAD_BYTES in name for name in threads)
    assert errors == [next(span.error for span in surrogates.spans if span.error)]


@pytest.mark.parametrize("image", ["png", "svg"])
def test_lone_surrogates_do_not_break_a_figure(surrogates: Timeline, image: str) -> None:
    import matplotlib.pyplot as plt

    figure = surrogates.plot()
    try:
        figure.savefig(io.BytesIO(), format=image)
    finally:
        plt.close(figure)


# --- a timeline is a value: it pickles and copies ------------------------------------------


def test_a_timeline_pickles_and_copies_and_stays_immutable(timeline: Timeline) -> None:
    for twin in (pickle.loads(pickle.dumps(timeline)), shallow_copy(timeline), deepcopy(timeline)):
        assert twin.spans == timeline.spans
        assert (twin.cpu, twin.makespan, twin.cores, twin.python, twin.labels, twin.lost) == \
            (timeline.cpu, timeline.makespan, timeline.cores, timeline.python, timeline.labels, timeline.lost)
        with pytest.raises(AttributeError, match="não muda"):
            twin.makespan = 0.0  # type: ignore[misc]


def _recorded_in_a_worker() -> Timeline:
    with contextlib.redirect_stdout(io.StringIO()), record() as recorded:
        grava_log(0.01)
    return recorded.final


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_a_worker_process_can_return_a_timeline(monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    monkeypatch.setenv("CONCTUTOR_TIME_SCALE", TIME_SCALE)
    context = multiprocessing.get_context(method)
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        returned = pool.submit(_recorded_in_a_worker).result(timeout=60)
    assert [span.name for span in returned.spans] == ["grava_log"]
    assert returned.spans[0].pid != os.getpid()
