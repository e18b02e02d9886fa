"""A timeline as a Chrome/Perfetto trace (open it at ui.perfetto.dev or chrome://tracing).

One track per lane: ``pid`` is the lane's real process id and ``tid`` its
position among the lanes (so lanes that share a thread, like asyncio tasks,
still get a track each). Each span is a slice with its running intervals
nested inside; the per-core CPU use is a counter track of its own, after the
lanes. The trace is written as text directly from the timeline's columns:
100 000 spans take a fraction of a second.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from ..engine.model import STATES, STATUSES
from .labels import process_labels

if TYPE_CHECKING:
    from ..engine.timeline import Timeline

RUNNING_SLICE = "running"
"""Name of the nested slices that show when a task was running on a CPU."""

CPU_COUNTER = "CPU %"
"""Name of the per-core CPU counter (one series per core)."""


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _meta(kind: str, pid: int, tid: int, **args: Any) -> str:
    return f'{{"name":"{kind}","ph":"M","pid":{pid},"tid":{tid},"args":{_json(args)}}}'


def trace_events(timeline: Timeline) -> list[str]:
    """The trace events of `timeline`, each already as JSON text."""
    c = timeline.columns
    used = list(dict.fromkeys(c.lane.tolist()))
    tid_of = {lane: position for position, lane in enumerate(used, start=1)}
    pids: dict[int, list[int]] = {}
    for lane in used:
        pids.setdefault(timeline.lanes[lane].pid, []).append(lane)
    process_names = process_labels(timeline.lanes, timeline.main_pid)
    process_names[timeline.main_pid] = f"processo principal (pid {timeline.main_pid})"
    out: list[str] = []
    for order, (pid, lanes) in enumerate(pids.items()):
        out.append(_meta("process_name", pid, 0, name=process_names[pid]))
        out.append(_meta("process_sort_index", pid, 0, sort_index=order))
        for lane in lanes:
            out.append(_meta("thread_name", pid, tid_of[lane], name=timeline.labels[lane]))
            out.append(_meta("thread_sort_index", pid, tid_of[lane], sort_index=tid_of[lane]))
    # Everything that repeats is turned into JSON text once: per task name, per lane, per state.
    names = [_json(name) for name in timeline.names]
    kinds = [_json(str(kind)) for kind in timeline.kinds]
    statuses = [_json(str(status)) for status in STATUSES]
    labels = [_json(label) for label in timeline.labels]
    state_names = [_json(str(state)) for state in STATES]  # the model's codes, as in saved runs
    span_a, span_b = np.round(c.start * 1e6, 3), np.round(c.end * 1e6, 3)
    start_us = span_a.tolist()
    # segments clamped into their span so rounding never breaks the nesting
    parent = np.repeat(np.arange(len(c)), np.diff(c.seg_offsets))
    seg_a = np.clip(np.round(c.seg_start * 1e6, 3), span_a[parent], span_b[parent])
    seg_b = np.clip(np.round(c.seg_end * 1e6, 3), seg_a, span_b[parent])
    seg_start = seg_a.tolist()
    seg_dur = np.maximum(np.round(seg_b - seg_a, 3), 0.0).tolist()
    seg_state = c.seg_state.tolist()
    offsets = c.seg_offsets.tolist()
    durations = np.maximum(np.round(span_b - span_a, 3), 0.0).tolist()
    lane_list, name_list, status_list = c.lane.tolist(), c.name.tolist(), c.status.tolist()
    cpu_list, seconds_list = c.cpu.tolist(), c.seconds.tolist()
    heads: dict[tuple[int, int], str] = {}
    middles: dict[tuple[int, int, int], str] = {}
    segment_tails: dict[tuple[int, int], str] = {}
    errors = timeline.errors
    for i in range(len(c)):
        lane, name, status = lane_list[i], name_list[i], status_list[i]
        head = heads.get((lane, name))
        if head is None:
            pid, tid = timeline.lanes[lane].pid, tid_of[lane]
            head = heads[(lane, name)] = f'{{"name":{names[name]},"cat":{kinds[name]},"ph":"X","ts":'
            segment_tails[(lane, name)] = f',"pid":{pid},"tid":{tid},"args":{{"tarefa":{names[name]}}}}}'
        middle = middles.get((lane, name, status))
        if middle is None:
            pid, tid = timeline.lanes[lane].pid, tid_of[lane]
            middle = middles[(lane, name, status)] = (
                f',"pid":{pid},"tid":{tid},"args":{{"status":{statuses[status]},"worker":{labels[lane]},"cpu_time":')
        seconds = "null" if seconds_list[i] != seconds_list[i] else repr(seconds_list[i])
        error = _json(errors[i]) if i in errors else '""'
        out.append(f'{head}{start_us[i]!r},"dur":{durations[i]!r}{middle}{cpu_list[i]!r},"seconds":{seconds},'
                   f'"error":{error}}}}}')
        segment_tail = segment_tails[(lane, name)]
        for k in range(offsets[i], offsets[i + 1]):
            out.append(f'{{"name":{state_names[seg_state[k]]},"cat":"state","ph":"X","ts":{seg_start[k]!r},'
                       f'"dur":{seg_dur[k]!r}{segment_tail}')
    cpu = timeline.cpu
    if cpu.times:
        cpu_pid = max(pids, default=0) + 1
        out.append(_meta("process_name", cpu_pid, 0, name="CPU (uso de cada núcleo)"))
        out.append(_meta("process_sort_index", cpu_pid, 0, sort_index=len(pids)))
        # one counter event per sample, at the start of the interval it measures; a last
        # one at the end of the final interval closes the series
        starts = [cpu.start, *cpu.times[:-1]]
        for at, percents in [*zip(starts, cpu.percent), (cpu.times[-1], cpu.percent[-1])]:
            args = {f"núcleo {core}": round(value, 2) for core, value in enumerate(percents)}
            out.append(f'{{"name":"{CPU_COUNTER}","ph":"C","ts":{round(at * 1e6, 3)},"pid":{cpu_pid},"tid":0,'
                       f'"args":{_json(args)}}}')
    next_pid = max(pids, default=0) + (2 if cpu.times else 1)
    for order, watched in enumerate(timeline.series):
        pid = next_pid + order
        out.append(_meta("process_name", pid, 0, name=watched.name))
        out.append(_meta("process_sort_index", pid, 0, sort_index=len(pids) + 1 + order))
        name = _json(watched.name)
        for at, value in zip(watched.times, watched.values):
            out.append(f'{{"name":{name},"ph":"C","ts":{round(at * 1e6, 3)},"pid":{pid},"tid":0,'
                       f'"args":{{"valor":{value!r}}}}}')
    return out


def write_perfetto(timeline: Timeline, path: str | os.PathLike[str]) -> None:
    """Write `timeline` as Chrome trace-event JSON; open it at ui.perfetto.dev.

    Written beside `path` and then put in its place: a failure leaves an older file as it was.
    """
    from ..engine.files import check_target, replace_file

    target = check_target(path, "to_perfetto")
    other = {"generator": "conctutor", "makespan_seconds": timeline.makespan, "cores": timeline.cores,
             "python": timeline.python, "gil_enabled": timeline.gil_enabled}
    if timeline.lost:
        other["lost"] = list(timeline.lost)

    def write(out: TextIO) -> None:
        out.write('{"traceEvents":[\n')
        out.write(",\n".join(trace_events(timeline)))
        out.write(f'\n],"displayTimeUnit":"ms","otherData":{_json(other)}}}\n')

    replace_file(target, write, "to_perfetto")
