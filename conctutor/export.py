"""Timelines out of the notebook: Perfetto traces, and saving/loading a run.

* `write_perfetto` writes the Chrome trace-event JSON that ui.perfetto.dev
  (and chrome://tracing) opens: one track per lane, each span a slice with
  its running intervals nested inside, and the per-core CPU use as counters.
* `save_timeline` / `load_timeline` keep a whole run (spans, CPU samples,
  makespan, cores, Python version) in a small versioned JSON file, so a run
  recorded on one machine can be drawn on another.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from .cpu import CpuUsage
from .spans import Span
from .timeline import Timeline

FORMAT = "conctutor-timeline"
"""The ``format`` field of a saved timeline."""

VERSION = 1
"""The version of the saved-timeline format this module writes and reads."""

RUNNING_SLICE = "rodando"
"""Name of the nested slices that show when a task was running on a CPU."""

CPU_COUNTER = "CPU %"
"""Name of the per-core CPU counter (one series per core)."""

# --- Perfetto / Chrome trace-event JSON ----------------------------------------


def _us(seconds: float) -> float:
    """Seconds to trace microseconds, kept to nanosecond precision."""
    return round(seconds * 1e6, 3)


def _process_name(pid: int, lanes: list[str]) -> str:
    first = lanes[0]
    if first.startswith("processo "):  # "processo 2 (pid 123) · thread 1"
        return first.split(" · ")[0]
    return f"processo principal (pid {pid})"


def perfetto_events(timeline: Timeline) -> list[dict[str, Any]]:
    """The trace events of `timeline`: metadata, slices and CPU counters.

    Every lane (``span.worker``) becomes its own thread track: ``pid`` is the
    real process id and ``tid`` the lane's position in `Timeline.workers`
    (so lanes that share a thread, like asyncio tasks, still get a track
    each). Sort-index metadata keeps the tracks in the timeline's lane order.
    The CPU counters live in a process of their own, after the lanes.
    """
    spans = timeline.spans
    lanes = list(dict.fromkeys(span.worker for span in spans))
    tid_of = {lane: index for index, lane in enumerate(lanes, start=1)}
    pid_of: dict[str, int] = {}
    for span in spans:
        pid_of.setdefault(span.worker, span.pid)
    lanes_of_pid: dict[int, list[str]] = {}
    for lane in lanes:
        lanes_of_pid.setdefault(pid_of[lane], []).append(lane)

    events: list[dict[str, Any]] = []
    for order, (pid, its_lanes) in enumerate(lanes_of_pid.items()):
        events.append(_meta("process_name", pid, 0, name=_process_name(pid, its_lanes)))
        events.append(_meta("process_sort_index", pid, 0, sort_index=order))
        for lane in its_lanes:
            events.append(_meta("thread_name", pid, tid_of[lane], name=lane))
            events.append(_meta("thread_sort_index", pid, tid_of[lane], sort_index=tid_of[lane]))

    for span in spans:
        events.extend(_span_events(span, pid_of[span.worker], tid_of[span.worker]))

    cpu = timeline.cpu
    if cpu.times:
        cpu_pid = max(lanes_of_pid, default=0) + 1
        events.append(_meta("process_name", cpu_pid, 0, name="CPU (uso de cada núcleo)"))
        events.append(_meta("process_sort_index", cpu_pid, 0, sort_index=len(lanes_of_pid)))
        events.extend(_cpu_events(cpu, cpu_pid))
    return events


def _meta(kind: str, pid: int, tid: int, **args: Any) -> dict[str, Any]:
    return {"name": kind, "ph": "M", "pid": pid, "tid": tid, "args": args}


def _span_events(span: Span, pid: int, tid: int) -> list[dict[str, Any]]:
    start, end = _us(span.start), _us(span.end)
    events: list[dict[str, Any]] = [
        {
            "name": span.name,
            "cat": span.kind,
            "ph": "X",
            "ts": start,
            "dur": max(0.0, round(end - start, 3)),
            "pid": pid,
            "tid": tid,
            "args": {
                "status": span.status,
                "cpu_time": span.cpu_time,
                "seconds": span.seconds,
                "error": span.error,
                "worker": span.worker,
                "thread_name": span.thread_name,
                "thread_id": span.thread_id,
                "task": span.task,
            },
        }
    ]
    for a, b in span.running:
        # clamp into the parent so rounding never breaks the nesting
        slice_start, slice_end = min(max(_us(a), start), end), min(max(_us(b), start), end)
        events.append(
            {
                "name": RUNNING_SLICE,
                "cat": "cpu",
                "ph": "X",
                "ts": slice_start,
                "dur": max(0.0, round(slice_end - slice_start, 3)),
                "pid": pid,
                "tid": tid,
                "args": {"tarefa": span.name},
            }
        )
    return events


def _cpu_events(cpu: CpuUsage, pid: int) -> list[dict[str, Any]]:
    """One counter event per sample, at the start of the interval it measures.

    A counter holds its value until the next event, so a last event at the
    end of the final interval (repeating its value) closes the series.
    """
    events = []
    starts = [cpu.start, *cpu.times[:-1]]
    for at, percents in zip(starts, cpu.percent):
        events.append(_counter(at, percents, pid))
    events.append(_counter(cpu.times[-1], cpu.percent[-1], pid))
    return events


def _counter(at: float, percents: list[float], pid: int) -> dict[str, Any]:
    args = {f"núcleo {core}": round(value, 2) for core, value in enumerate(percents)}
    return {"name": CPU_COUNTER, "ph": "C", "ts": _us(at), "pid": pid, "tid": 0, "args": args}


def write_perfetto(timeline: Timeline, path: str | os.PathLike) -> None:
    """Write `timeline` as Chrome trace-event JSON; open it at ui.perfetto.dev."""
    trace = {
        "traceEvents": perfetto_events(timeline),
        "displayTimeUnit": "ms",
        "otherData": {
            "generator": "conctutor",
            "makespan_seconds": timeline.makespan,
            "cores": timeline.cores,
            "python": timeline.python,
        },
    }
    with open(path, "w", encoding="utf-8") as out:
        json.dump(trace, out, ensure_ascii=False)


# --- saving and loading a run ----------------------------------------------------


def timeline_to_dict(timeline: Timeline) -> dict[str, Any]:
    """The JSON-ready contents of a saved timeline file."""
    cpu = timeline.cpu
    return {
        "format": FORMAT,
        "version": VERSION,
        "makespan": timeline.makespan,
        "cores": timeline.cores,
        "python": timeline.python,
        "cpu": {"times": list(cpu.times), "percent": [list(p) for p in cpu.percent], "start": cpu.start},
        "spans": [_span_to_dict(span) for span in timeline.spans],
    }


def _span_to_dict(span: Span) -> dict[str, Any]:
    data = {f.name: getattr(span, f.name) for f in dataclasses.fields(Span)}
    data["running"] = [list(interval) for interval in span.running]
    data["lane_key"] = list(span.lane_key)
    return data


def save_timeline(timeline: Timeline, path: str | os.PathLike) -> None:
    """Save `timeline` as JSON; `load_timeline` reads it back on any machine."""
    with open(path, "w", encoding="utf-8") as out:
        json.dump(timeline_to_dict(timeline), out, ensure_ascii=False, indent=1)


def load_timeline(path: str | os.PathLike) -> Timeline:
    """Read a timeline written by `save_timeline` (or `Timeline.save`).

    Raises `ValueError` with a plain message if the file is not a conctutor
    timeline, was written by an unknown format version, or is damaged.
    """
    try:
        with open(path, encoding="utf-8") as source:
            data = json.load(source)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{os.fspath(path)} não é uma timeline do conctutor (não é JSON válido: {error})") from None
    return timeline_from_dict(data, os.fspath(path))


def timeline_from_dict(data: object, source: str = "os dados") -> Timeline:
    """Rebuild a `Timeline` from `timeline_to_dict`'s output; see `load_timeline`."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        hint = ""
        if isinstance(data, dict) and "traceEvents" in data:
            hint = " (parece um trace do Perfetto: esses arquivos são para ui.perfetto.dev, não para Timeline.load)"
        raise ValueError(f"{source} não é uma timeline do conctutor salva com Timeline.save{hint}")
    version = data.get("version")
    if version != VERSION:
        raise ValueError(
            f"{source} é uma timeline do conctutor no formato versão {version!r}, "
            f"mas esta versão do conctutor só lê a versão {VERSION}"
        )
    try:
        cpu_data = data["cpu"]
        cpu = CpuUsage(
            [float(t) for t in cpu_data["times"]],
            [[float(v) for v in row] for row in cpu_data["percent"]],
            float(cpu_data["start"]),
        )
        spans = [_span_from_dict(item) for item in data["spans"]]
        makespan, cores, python = float(data["makespan"]), int(data["cores"]), str(data["python"])
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"{source}: timeline do conctutor danificada ({type(error).__name__}: {error})") from None
    return Timeline(spans, cpu, makespan, cores, python)


_SPAN_TYPES: dict[str, type] = {
    "name": str,
    "pid": int,
    "thread_id": int,
    "worker": str,
    "status": str,
    "kind": str,
    "thread_name": str,
    "error": str,
    "task": str,
}


def _span_from_dict(item: dict[str, Any]) -> Span:
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Span):
        if f.name not in item:
            if f.default is dataclasses.MISSING:
                raise KeyError(f"a tarefa não tem o campo {f.name!r}")
            continue
        value = item[f.name]
        if f.name in _SPAN_TYPES:
            expected = _SPAN_TYPES[f.name]
            if not isinstance(value, expected) or isinstance(value, bool):
                raise TypeError(f"campo {f.name!r} deveria ser {expected.__name__}, é {value!r}")
        elif f.name in ("start", "end", "cpu_time"):
            value = float(value)
        elif f.name == "seconds":
            value = None if value is None else float(value)
        elif f.name == "running":
            value = tuple((float(a), float(b)) for a, b in value)
        elif f.name == "lane_key":
            value = _as_tuple(value)
        values[f.name] = value
    return Span(**values)


def _as_tuple(value: Any) -> Any:
    return tuple(_as_tuple(v) for v in value) if isinstance(value, list) else value
