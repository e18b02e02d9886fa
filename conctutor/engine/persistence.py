"""Saved runs: a `Timeline` as JSON, written by this version and read back from any version.

Format 3 (this version) keeps only data: states, statuses and kinds as the
model's English codes, lanes with their role, each task's `needs`; the
readable lane labels and the legend's words are made again when the run is
drawn, so renaming a word breaks no saved run. Format 2 (conctutor 0.2.0)
saved the Portuguese words and the labels: it is read too, its words turned
into codes (`V2_WORDS`), and its runs keep the one dependency that 0.2.0
gave every run (`V2_NEEDS`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .files import check_source, check_target, os_error, replace_file
from .model import STATES, STATUSES, CpuUsage, Kind, Lane, LaneRole, Series, State
from .timeline import Columns, Timeline

FORMAT = "conctutor-timeline"
"""The ``format`` field of a saved timeline."""

VERSION = 3
"""The version of the saved-timeline format this module writes."""

READS = (2, 3)
"""The versions it reads."""

V2_WORDS: dict[str, str] = {
    "rodando": State.RUNNING.value, "E/S": State.IO.value, "bloqueada": State.BLOCKED.value, "GIL": State.GIL.value,
    "pronta": State.READY.value, "esperando": State.WAITING.value, "na fila": State.QUEUED.value,
    "medido": Kind.MEASURED.value,
}
"""Format 2's Portuguese words for states and kinds, as the codes that replaced them."""

V2_NEEDS: dict[str, tuple[str, ...]] = {"processa_dados": ("consulta_dados",)}
"""The dependency conctutor 0.2.0 assumed in every run, by task name (format 3 saves each task's own)."""


def save(timeline: Timeline, path: str | os.PathLike[str]) -> None:
    """`Timeline.save`."""
    target = check_target(path, "Timeline.save")
    text = json.dumps(to_dict(timeline), ensure_ascii=False, allow_nan=False)
    replace_file(target, lambda out: out.write(text), "Timeline.save")


def load(path: str | os.PathLike[str]) -> Timeline:
    """`Timeline.load`."""
    source = check_source(path, "Timeline.load")
    try:
        with open(source, encoding="utf-8") as handle:
            data = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{source} não é uma timeline do conctutor (não é JSON válido: {error})") from None
    except RecursionError:
        raise ValueError(f"{source} não é uma timeline do conctutor (JSON aninhado fundo demais)") from None
    except OSError as error:
        raise os_error(error, f"Timeline.load: não foi possível ler {source!r}") from None
    return from_dict(data, source)


def to_dict(timeline: Timeline) -> dict[str, Any]:
    """The run as plain data, in the format `VERSION`."""
    c = timeline.columns
    cpu = timeline.cpu
    # the codes looked up once, not once per span (an enum member's .value is slow)
    status_codes = [status.value for status in STATUSES]
    state_codes = [state.value for state in STATES]
    return {
        "format": FORMAT,
        "version": VERSION,
        "makespan": timeline.makespan,
        "cores": timeline.cores,
        "python": timeline.python,
        "gil_enabled": timeline.gil_enabled,
        "sampled": timeline.sampled,
        "main_pid": timeline.main_pid,
        "lanes": [[lane.pid, lane.thread_id, lane.native_id, lane.thread_name, lane.main_thread, lane.task,
                   lane.role.value, lane.interpreter] for lane in timeline.lanes],
        "names": list(timeline.names),
        "kinds": [kind.value for kind in timeline.kinds],
        "needs": [list(needs) for needs in timeline.needs],
        "spans": {
            "lane": c.lane.tolist(),
            "name": c.name.tolist(),
            "start": c.start.tolist(),
            "end": c.end.tolist(),
            "cpu_time": c.cpu.tolist(),
            "seconds": [None if math.isnan(s) else s for s in c.seconds.tolist()],
            "status": [status_codes[code] for code in c.status.tolist()],
        },
        "errors": {str(index): text for index, text in timeline.errors.items()},
        "segments": {
            "offsets": c.seg_offsets.tolist(),
            "start": c.seg_start.tolist(),
            "end": c.seg_end.tolist(),
            "state": [state_codes[code] for code in c.seg_state.tolist()],
        },
        "cpu": {"times": list(cpu.times), "percent": [list(p) for p in cpu.percent], "start": cpu.start,
                "ours": None if cpu.ours is None else [list(p) for p in cpu.ours]},
        "series": [{"name": s.name, "times": list(s.times), "values": list(s.values)} for s in timeline.series],
        "lost": list(timeline.lost),
    }


def from_dict(data: object, source: str = "os dados") -> Timeline:
    """Rebuild a timeline from `to_dict`'s output (of this version or an older one), checking everything."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        hint = ""
        if isinstance(data, dict) and "traceEvents" in data:
            hint = " (parece um trace do Perfetto: esses arquivos são para ui.perfetto.dev, não para Timeline.load)"
        raise ValueError(f"{source} não é uma timeline do conctutor salva com Timeline.save{hint}")
    version = data.get("version")
    if version not in READS:
        raise ValueError(
            f"{source} é uma timeline do conctutor no formato versão {version!r}, "
            f"mas esta versão do conctutor só lê as versões {' e '.join(map(str, READS))}"
        )
    try:
        return _from_dict(data if version == VERSION else _from_version_2(data))
    except KeyError as error:
        raise ValueError(f"{source}: timeline do conctutor danificada (falta o campo {error})") from None
    except (TypeError, ValueError, IndexError, AttributeError) as error:
        raise ValueError(f"{source}: timeline do conctutor danificada ({error})") from None
    except OverflowError:
        raise ValueError(f"{source}: timeline do conctutor danificada (um número grande demais, ou infinito, "
                         "onde deveria haver um inteiro)") from None
    except RecursionError:
        raise ValueError(f"{source}: timeline do conctutor danificada (dados aninhados fundo demais)") from None


def _from_version_2(data: Mapping[str, Any]) -> dict[str, Any]:
    """A format-2 run as format 3: codes for its words; its labels (display, made again) checked and left."""
    labels = _texts(data["labels"], "labels")
    if len(labels) != len(data["lanes"]):
        raise ValueError(f"labels: deve haver um rótulo por raia ({len(data['lanes'])}), há {len(labels)}")
    spans, segments = data["spans"], data["segments"]
    return {
        **data,
        "version": VERSION,
        "lanes": [[*lane, LaneRole.THREAD.value] for lane in data["lanes"]],
        "kinds": [V2_WORDS.get(kind, kind) for kind in data["kinds"]],
        "needs": [list(V2_NEEDS.get(name, ())) for name in data["names"]],
        "spans": spans,
        "segments": {**segments, "state": [V2_WORDS.get(word, word) for word in segments["state"]]},
    }


def _times(values: object, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or not np.isfinite(array).all() or (array < 0).any():
        raise ValueError(f"{what}: os tempos devem ser números finitos e não negativos")
    return array


def _codes(words: Iterable[object], vocabulary: tuple, what: str) -> np.ndarray:
    index = {member.value: code for code, member in enumerate(vocabulary)}
    try:
        return np.array([index[word] for word in words], dtype=np.int8)
    except (KeyError, TypeError):
        raise ValueError(f"{what}: valor desconhecido; os valores possíveis são {', '.join(index)}") from None


def _indices(values: object, what: str) -> np.ndarray:
    """Whole numbers that index a list (checked against its length later), as int32."""
    array = np.asarray(values)
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu") or (
            array.size and (array.min() < 0 or array.max() > np.iinfo(np.int32).max)):
        raise ValueError(f"{what}: os índices devem ser números inteiros entre 0 e o tamanho da lista")
    return array.astype(np.int32)


def _whole(value: object, what: str, least: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{what} deve ser um número inteiro, pelo menos {least}; está {value!r}")
    return value


def _texts(values: object, what: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(text, str) for text in values):
        raise ValueError(f"{what} deve ser uma lista de textos")
    return values


def _lane(item: object) -> Lane:
    # [pid, thread_id, native_id, thread_name, main_thread, task, role, interpreter]; the interpreter
    # came with conctutor 0.3 (subinterpreters), and a run saved before has none: the main one.
    if not isinstance(item, list) or len(item) not in (7, 8):
        raise ValueError(f"lanes: cada raia é uma lista de 7 ou 8 valores (pid, thread, ..., papel[, interpretador]); "
                         f"há {item!r}")
    pid, ident, native, name, main, task, role, *interpreter = item
    return Lane(_whole(pid, "pid"), _whole(ident, "thread_id"), _whole(native, "native_id"), str(name),
                bool(main), str(task), LaneRole(role),
                _whole(interpreter[0], "interpreter") if interpreter else 0)


def _from_dict(data: Mapping[str, Any]) -> Timeline:
    lanes = [_lane(item) for item in data["lanes"]]
    names = [str(name) for name in data["names"]]
    kinds = [Kind(kind) for kind in data["kinds"]]
    needs = [_texts(list(item), "needs") for item in data["needs"]]
    if len(needs) != len(names):
        raise ValueError(f"needs: deve haver uma lista por tarefa ({len(names)}), há {len(needs)}")
    spans, segments = data["spans"], data["segments"]
    start, end = _times(spans["start"], "start"), _times(spans["end"], "end")
    count = len(start)
    lane = _indices(spans["lane"], "lane")
    name = _indices(spans["name"], "name")
    seconds = np.array([math.nan if s is None else float(s) for s in spans["seconds"]])
    offsets = np.asarray(segments["offsets"], dtype=np.int64)
    seg_start, seg_end = _times(segments["start"], "segmentos"), _times(segments["end"], "segmentos")
    columns = Columns(
        lane, name, start, end, _times(spans["cpu_time"], "cpu_time"), seconds,
        _codes(spans["status"], STATUSES, "status"), offsets, seg_start, seg_end,
        _codes(segments["state"], STATES, "estado"),
    )
    sizes = {len(a) for a in (lane, name, end, columns.cpu, seconds, columns.status)}
    if sizes != {count} or len(offsets) != count + 1 or len(kinds) != len(names):
        raise ValueError("as colunas das tarefas têm tamanhos diferentes")
    if (end < start).any():
        raise ValueError("uma tarefa termina antes de começar")
    if count and (lane.min() < 0 or lane.max() >= len(lanes) or name.min() < 0 or name.max() >= len(names)):
        raise ValueError("índice de raia ou de tarefa fora do lugar")
    if offsets[0] != 0 or (np.diff(offsets) < 0).any() or offsets[-1] != len(seg_start) or \
            len({len(seg_start), len(seg_end), len(columns.seg_state)}) != 1:
        raise ValueError("os segmentos não batem com as tarefas")
    if ((~np.isnan(seconds)) & (seconds < 0)).any() or np.isinf(seconds).any():
        raise ValueError("seconds: as durações pedidas devem ser números finitos e não negativos")
    cpu_data = data["cpu"]
    times = _times(cpu_data["times"], "cpu.times")
    percent = tuple(tuple(float(v) for v in row) for row in cpu_data["percent"])
    ours_data = cpu_data.get("ours")
    ours = None if ours_data is None else tuple(tuple(float(v) for v in row) for row in ours_data)
    if len(percent) != len(times) or len({len(row) for row in percent}) > 1 or any(
            not 0 <= v <= 100 or math.isnan(v) for row in (*percent, *(ours or ())) for v in row) or (
            ours is not None and [len(row) for row in ours] != [len(row) for row in percent]):
        raise ValueError("cpu: cada amostra deve ter um uso entre 0 e 100 % por núcleo, com os mesmos núcleos")
    cpu = CpuUsage(tuple(times.tolist()), percent, float(_times([cpu_data["start"]], "cpu.start")[0]), ours)
    makespan = float(_times([data["makespan"]], "makespan")[0])
    cores = _whole(data["cores"], "cores", least=1)
    errors = {int(index): str(text) for index, text in data.get("errors", {}).items()}
    series = []
    for item in data.get("series", []):
        series_times = _times(item["times"], "series.times")
        values = np.asarray(item["values"], dtype=float)
        if values.shape != series_times.shape or not np.isfinite(values).all():
            raise ValueError("series: cada número observado precisa de um valor finito por instante")
        series.append(Series(str(item["name"]), tuple(series_times.tolist()), tuple(values.tolist())))
    return Timeline(lanes, names, kinds, columns, errors, cpu, makespan, cores, str(data["python"]),
                    bool(data.get("gil_enabled", True)), False, _whole(data["main_pid"], "main_pid"), None,
                    bool(data.get("sampled", True)), series, _texts(data.get("lost", []), "lost"), needs)
