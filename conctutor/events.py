"""Events: what a recorded call reports, where it goes, and how it becomes spans.

One schema, written and read by this module only. Every event is a tuple
whose first item is its `Event` type:

    (LANE,  lane_id, thread_id, native_id, main_thread, thread_name, task_name)
    (TASK,  task_id, name, kind_code)
    (TEXT,  text_id, text)                       an error message
    (BEGIN, seq, lane_id, task_id, start_ns, cpu_ns, seconds)   seconds: NaN if none
    (WAIT,  seq, start_ns, end_ns, state_code)   a later WAIT with the same start replaces it
    (RUN,   seq, start_ns, end_ns)               an interval the task saw itself running
    (END,   seq, end_ns, cpu_ns, status_code, text_id)          text_id 0: no message

Ids are per process; ``seq`` is per sink. Times are ``perf_counter_ns()``
(CLOCK_MONOTONIC: comparable between processes of one machine).

Where events go is a `Sink`, one per thread, so no two threads ever write
to the same place (no lock, no reliance on the GIL):

* `MemorySink`: in the process that recorded, a list of the tuples above;
* `FileSink`: in a worker process, the same tuples packed into a file that is
  memory-mapped (``mmap``): one store per event, no system call, and what
  was stored survives a SIGKILL of the worker a moment later.

`Assembler` reads both (`MemorySource`, `FileSource`) and keeps the spans.
"""

from __future__ import annotations

import mmap
import os
import re
import struct
import threading
from collections.abc import Iterable, Iterator
from enum import IntEnum
from time import perf_counter_ns, thread_time_ns
from typing import Any, Protocol

from .model import Kind, Lane, State, Status


class Event(IntEnum):
    LANE = 1
    TASK = 2
    TEXT = 3
    BEGIN = 4
    WAIT = 5
    RUN = 6
    END = 7
    SEGMENT_END = 255
    """In a file: nothing more in this segment, go on in the next one."""


LANE, TASK, TEXT, BEGIN, WAIT, RUN, END = (int(e) for e in list(Event)[:7])

KINDS: tuple[Kind, ...] = tuple(Kind)
STATUSES: tuple[Status, ...] = tuple(Status)
STATES: tuple[State, ...] = tuple(State)
KIND_CODE = {kind: code for code, kind in enumerate(KINDS)}
STATUS_CODE = {status: code for code, status in enumerate(STATUSES)}
STATE_CODE = {state: code for code, state in enumerate(STATES)}
OK_CODE = STATUS_CODE[Status.OK]
ERROR_CODE = STATUS_CODE[Status.ERROR]
INTERRUPTED_CODE = STATUS_CODE[Status.INTERRUPTED]
NO_SECONDS = float("nan")

ENCODING = "utf-8"
ERRORS = "surrogatepass"
"""Lone surrogates (``"\\udc80"`` from a badly decoded file name) travel unchanged."""


def to_text(value: object) -> str:
    """`value` as text that always encodes (never raises)."""
    try:
        return str(value)
    except Exception:  # a __str__ that raises must not break the recorded program
        return object.__repr__(value)


# --- where events go -------------------------------------------------------------


class Sink(Protocol):
    """Where one thread's events go. `begin` returns the span's ``seq``."""

    pid: int
    lane: int
    """The thread's lane id (asyncio tasks get lanes of their own, see `lane_for`)."""

    def begin(self, task: TaskInfo, lane: int = 0, seconds: float = NO_SECONDS) -> int: ...

    def end(self, seq: int, status_code: int, error: str) -> None: ...

    def wait(self, seq: int, start_ns: int, end_ns: int, state_code: int) -> None: ...

    def run(self, seq: int, start_ns: int, end_ns: int) -> None: ...

    def lane_for(self, task_name: str) -> int: ...


class TaskInfo(Protocol):
    task_id: int
    name: str
    kind: Kind


class _Lanes:
    """Lane ids of one process: one per thread, one per asyncio task (rare: a lock is cheap here)."""

    _next = 0
    _lock = threading.Lock()

    @classmethod
    def new_id(cls) -> int:
        with cls._lock:
            cls._next += 1
            return cls._next


def _thread_lane() -> tuple[int, int, int, bool, str]:
    thread = threading.current_thread()
    return (
        _Lanes.new_id(), thread.ident or 0, threading.get_native_id(), thread is threading.main_thread(),
        to_text(thread.name),
    )


class MemorySink:
    """Events of one thread of the recording process, kept as tuples in a list."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.events: list[tuple] = []
        self._seq = 0
        self._tasks: set[int] = set()
        self._texts = 0
        lane_id, ident, native, main, name = _thread_lane()
        self.lane = lane_id
        self._thread = (ident, native, main, name)
        self._task_lanes: dict[str, int] = {}
        self.events.append((LANE, lane_id, ident, native, main, name, ""))

    def begin(self, task: TaskInfo, lane: int = 0, seconds: float = NO_SECONDS) -> int:
        """A span starts: returns its ``seq``. Lane 0 is this thread's own lane."""
        task_id = task.task_id
        if task_id not in self._tasks:
            self._tasks.add(task_id)
            self.events.append((TASK, task_id, task.name, KIND_CODE[task.kind]))
        seq = self._seq = self._seq + 1
        self.events.append((BEGIN, seq, lane or self.lane, task_id, perf_counter_ns(), thread_time_ns(), seconds))
        return seq

    def end(self, seq: int, status_code: int, error: str) -> None:
        now, cpu = perf_counter_ns(), thread_time_ns()
        text_id = 0
        if error:
            self._texts += 1
            text_id = self._texts
            self.events.append((TEXT, text_id, error))
        self.events.append((END, seq, now, cpu, status_code, text_id))

    def wait(self, seq: int, start_ns: int, end_ns: int, state_code: int) -> None:
        self.events.append((WAIT, seq, start_ns, end_ns, state_code))

    def run(self, seq: int, start_ns: int, end_ns: int) -> None:
        self.events.append((RUN, seq, start_ns, end_ns))

    def lane_for(self, task_name: str) -> int:
        lane = self._task_lanes.get(task_name)
        if lane is None:
            lane = self._task_lanes[task_name] = _Lanes.new_id()
            self.events.append((LANE, lane, *self._thread, task_name))
        return lane


# --- the file format -----------------------------------------------------------------
# Each record starts and ends with its type byte. A writer stores a record
# with one `pack_into`; a reader accepts a record only when both ends are
# there, so it never reads one that is half written. Variable records carry
# their total length after the first byte.

SEGMENT_BYTES = 1 << 20
"""Size of one mmap'd segment file (sparse: untouched pages cost nothing)."""

_BEGIN = struct.Struct("<BIIIqqdB")
_WAIT = struct.Struct("<BIqqBB")
_RUN = struct.Struct("<BIqqB")
_END = struct.Struct("<BIqqBIB")
_HEAD = struct.Struct("<BI")  # type, total length (variable records)
_LANE_BODY = struct.Struct("<IQQB")
_TASK_BODY = struct.Struct("<IB")
_TEXT_BODY = struct.Struct("<I")
_LENGTH = struct.Struct("<I")
_FIXED = {BEGIN: _BEGIN, WAIT: _WAIT, RUN: _RUN, END: _END}
_ROOM = 64
"""Bytes a fixed record needs at most (plus the segment's end marker)."""

SEGMENT_NAME = re.compile(r"^(\d+)\.(\d+)\.(\d+)\.ev$")
"""``pid.sink.segment.ev``: anything else in the directory is not ours and is ignored."""


def _strings(*texts: str) -> bytes:
    out = b""
    for text in texts:
        data = text.encode(ENCODING, ERRORS)
        out += _LENGTH.pack(len(data)) + data
    return out


def _variable(kind: int, body: bytes) -> bytes:
    total = _HEAD.size + len(body) + 1
    return _HEAD.pack(kind, total) + body + bytes((kind,))


class FileSink:
    """Events of one thread of a worker process, packed into memory-mapped segment files."""

    def __init__(self, directory: str, pid: int, sink_id: int) -> None:
        self.pid = pid
        self._directory = directory
        self._sink_id = sink_id
        self._segment = -1
        self._mm: Any = None  # the current segment's mmap
        self._pos = 0
        self._seq = 0
        self._tasks: set[int] = set()
        self._texts = 0
        self._task_lanes: dict[str, int] = {}
        self._next_segment()
        lane_id, ident, native, main, name = _thread_lane()
        self.lane = lane_id
        self._thread = (ident, native, main, name)
        self._write_variable(LANE, _LANE_BODY.pack(lane_id, ident, native, main) + _strings(name, ""))

    def _next_segment(self) -> int:
        if self._mm is not None:
            self._mm[self._pos] = Event.SEGMENT_END
            self._mm.close()
        self._segment += 1
        path = os.path.join(self._directory, f"{self.pid}.{self._sink_id}.{self._segment}.ev")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, SEGMENT_BYTES)
            self._mm = mmap.mmap(fd, SEGMENT_BYTES)
        finally:
            os.close(fd)
        self._pos = 0
        return 0

    def _write_variable(self, kind: int, body: bytes) -> None:
        record = _variable(kind, body)
        if len(record) + 1 > SEGMENT_BYTES:  # a message longer than a segment: keep its start
            record = _variable(kind, body[: SEGMENT_BYTES // 2])
        if self._pos + len(record) + 1 > SEGMENT_BYTES:
            self._next_segment()
        assert self._mm is not None
        self._mm[self._pos : self._pos + len(record)] = record
        self._pos += len(record)

    def begin(self, task: TaskInfo, lane: int = 0, seconds: float = NO_SECONDS) -> int:
        if task.task_id not in self._tasks:
            self._tasks.add(task.task_id)
            self._write_variable(TASK, _TASK_BODY.pack(task.task_id, KIND_CODE[task.kind]) + _strings(task.name))
        seq = self._seq = self._seq + 1
        pos = self._pos
        if pos + _ROOM > SEGMENT_BYTES:
            pos = self._next_segment()
        _BEGIN.pack_into(self._mm, pos, BEGIN, seq, lane or self.lane, task.task_id, perf_counter_ns(),
                         thread_time_ns(), seconds, BEGIN)
        self._pos = pos + 38
        return seq

    def end(self, seq: int, status_code: int, error: str) -> None:
        now, cpu = perf_counter_ns(), thread_time_ns()
        text_id = 0
        if error:
            self._texts += 1
            text_id = self._texts
            self._write_variable(TEXT, _TEXT_BODY.pack(text_id) + _strings(error))
        pos = self._pos
        if pos + _ROOM > SEGMENT_BYTES:
            pos = self._next_segment()
        _END.pack_into(self._mm, pos, END, seq, now, cpu, status_code, text_id, END)
        self._pos = pos + 27

    def wait(self, seq: int, start_ns: int, end_ns: int, state_code: int) -> None:
        pos = self._pos
        if pos + _ROOM > SEGMENT_BYTES:
            pos = self._next_segment()
        _WAIT.pack_into(self._mm, pos, WAIT, seq, start_ns, end_ns, state_code, WAIT)
        self._pos = pos + 23

    def run(self, seq: int, start_ns: int, end_ns: int) -> None:
        pos = self._pos
        if pos + _ROOM > SEGMENT_BYTES:
            pos = self._next_segment()
        _RUN.pack_into(self._mm, pos, RUN, seq, start_ns, end_ns, RUN)
        self._pos = pos + 22

    def lane_for(self, task_name: str) -> int:
        lane = self._task_lanes.get(task_name)
        if lane is None:
            lane = self._task_lanes[task_name] = _Lanes.new_id()
            ident, native, main, name = self._thread
            self._write_variable(LANE, _LANE_BODY.pack(lane, ident, native, main) + _strings(name, task_name))
        return lane


def _decode_strings(data: bytes | mmap.mmap, pos: int, count: int) -> tuple[list[str], int]:
    texts = []
    for _ in range(count):
        (length,) = _LENGTH.unpack_from(data, pos)
        pos += 4
        texts.append(bytes(data[pos : pos + length]).decode(ENCODING, ERRORS))
        pos += length
    return texts, pos


def decode(data: bytes | mmap.mmap, pos: int) -> Iterator[tuple[tuple, int]]:
    """The complete records of a segment from `pos` on, each with the position after it.

    Stops at the first record not (yet) complete, and at the segment's end
    marker, which it yields as ``(SEGMENT_END,)``.
    """
    size = len(data)
    while pos < size:
        kind = data[pos]
        if kind == 0:
            return
        if kind == Event.SEGMENT_END:
            yield (int(Event.SEGMENT_END),), pos + 1
            return
        layout = _FIXED.get(kind)
        if layout is not None:
            end = pos + layout.size
            if end > size or data[end - 1] != kind:
                return
            yield layout.unpack_from(data, pos)[:-1], end
            pos = end
            continue
        if kind not in (LANE, TASK, TEXT) or pos + _HEAD.size > size:
            return  # damaged: stop reading this file rather than guess
        _, total = _HEAD.unpack_from(data, pos)
        end = pos + total
        if total < _HEAD.size + 1 or end > size or data[end - 1] != kind:
            return
        body = pos + _HEAD.size
        if kind == LANE:
            lane_id, ident, native, main = _LANE_BODY.unpack_from(data, body)
            (name, task), _ = _decode_strings(data, body + _LANE_BODY.size, 2)
            yield (LANE, lane_id, ident, native, bool(main), name, task), end
        elif kind == TASK:
            task_id, kind_code = _TASK_BODY.unpack_from(data, body)
            (name,), _ = _decode_strings(data, body + _TASK_BODY.size, 1)
            yield (TASK, task_id, name, kind_code), end
        else:
            (text_id,) = _TEXT_BODY.unpack_from(data, body)
            (text,), _ = _decode_strings(data, body + _TEXT_BODY.size, 1)
            yield (TEXT, text_id, text), end
        pos = end


# --- reading events back ----------------------------------------------------------------


class MemorySource:
    """The new events of a `MemorySink` since the last read."""

    def __init__(self, sink: MemorySink) -> None:
        self.sink = sink
        self.key = (sink.pid, id(sink))
        self._cursor = 0

    def read(self) -> list[tuple]:
        events = self.sink.events
        count = len(events)
        new = events[self._cursor : count]
        self._cursor = count
        return new


class FileSource:
    """The new events of one worker thread's segment files since the last read."""

    def __init__(self, directory: str, pid: int, sink_id: int) -> None:
        self.directory = directory
        self.pid = pid
        self.key = (pid, sink_id)
        self._sink_id = sink_id
        self._segment = 0
        self._pos = 0

    def read(self) -> list[tuple]:
        events: list[tuple] = []
        while True:
            path = os.path.join(self.directory, f"{self.pid}.{self._sink_id}.{self._segment}.ev")
            try:
                with open(path, "rb") as source:
                    if os.fstat(source.fileno()).st_size == 0:
                        return events
                    with mmap.mmap(source.fileno(), 0, access=mmap.ACCESS_READ) as data:
                        finished = False
                        for event, after in decode(data, self._pos):
                            if event[0] == Event.SEGMENT_END:
                                finished = True
                                break
                            events.append(event)
                            self._pos = after
            except (OSError, ValueError):
                return events
            if not finished:
                return events
            self._segment += 1
            self._pos = 0


def file_sources(directory: str, known: set[tuple[int, int]]) -> list[FileSource]:
    """Sources for the worker sinks in `directory` not yet in `known` (stray files are ignored)."""
    found: list[FileSource] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return found
    for name in names:
        match = SEGMENT_NAME.match(name)
        if match is None:
            continue
        pid, sink_id, _ = (int(part) for part in match.groups())
        if (pid, sink_id) not in known:
            known.add((pid, sink_id))
            found.append(FileSource(directory, pid, sink_id))
    return found


class OpenSpan:
    """A span whose BEGIN was read and whose END not yet."""

    __slots__ = ("cpu_ns", "lane", "runs", "seconds", "start_ns", "task", "waits")

    def __init__(self, lane: tuple, task: tuple, start_ns: int, cpu_ns: int, seconds: float) -> None:
        self.lane = lane
        self.task = task
        self.start_ns = start_ns
        self.cpu_ns = cpu_ns
        self.seconds = seconds
        self.waits: dict[int, tuple[int, int]] = {}
        self.runs: list[tuple[int, int]] | None = None


class RawSpan:
    """A span as read from events: nanoseconds, ids of its lane and task."""

    __slots__ = ("cpu_ns", "end_ns", "error", "lane", "runs", "seconds", "start_ns", "status", "task", "waits")

    def __init__(self, lane: tuple, task: tuple, start_ns: int, end_ns: int | None, cpu_ns: int, seconds: float,
                 status: Status, error: str, waits: list[tuple[int, int, State]], runs: list[tuple[int, int]] | None,
                 ) -> None:
        self.lane = lane
        self.task = task
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.cpu_ns = cpu_ns
        self.seconds = seconds
        self.status = status
        self.error = error
        self.waits = waits
        self.runs = runs


class Assembler:
    """Turns the events of many sinks into spans; fed as often as one likes."""

    def __init__(self) -> None:
        self.lanes: dict[tuple, Lane] = {}
        self.tasks: dict[tuple, tuple[str, Kind]] = {}
        self.finished: list[RawSpan] = []
        self.open: dict[tuple, OpenSpan] = {}
        self._texts: dict[tuple, str] = {}

    def feed(self, source_key: tuple, pid: int, events: Iterable[tuple]) -> None:
        for event in events:
            kind = event[0]
            if kind == BEGIN:
                _, seq, lane, task, start, cpu, seconds = event
                self.open[(source_key, seq)] = OpenSpan((pid, lane), (pid, task), start, cpu, seconds)
            elif kind == END:
                _, seq, end, cpu, status_code, text_id = event
                span = self.open.pop((source_key, seq), None)
                if span is None:
                    continue
                error = self._texts.pop((source_key, text_id), "") if text_id else ""
                self.finished.append(RawSpan(
                    span.lane, span.task, span.start_ns, end, cpu - span.cpu_ns, span.seconds,
                    STATUSES[status_code], error, _waits(span), span.runs,
                ))
            elif kind == WAIT:
                span = self.open.get((source_key, event[1]))
                if span is not None:
                    span.waits[event[2]] = (event[3], event[4])
            elif kind == RUN:
                span = self.open.get((source_key, event[1]))
                if span is not None:
                    if span.runs is None:
                        span.runs = []
                    span.runs.append((event[2], event[3]))
            elif kind == LANE:
                _, lane_id, ident, native, main, name, task_name = event
                self.lanes[(pid, lane_id)] = Lane(pid, ident, native, name, main, task_name)
            elif kind == TASK:
                self.tasks[(pid, event[1])] = (event[2], KINDS[event[3]])
            elif kind == TEXT:
                self._texts[(source_key, event[1])] = event[2]

    def open_spans(self, now_ns: int, status: Status) -> list[RawSpan]:
        """The spans still open, as if they ended at `now_ns` with `status`."""
        return [
            RawSpan(s.lane, s.task, s.start_ns, None, 0, s.seconds, status, "", _waits(s), s.runs)
            for s in list(self.open.values())
        ]


def _waits(span: OpenSpan) -> list[tuple[int, int, State]]:
    return sorted((start, end, STATES[code]) for start, (end, code) in span.waits.items())


def after_fork_in_child() -> None:
    """A lock held by another thread at the fork stays held in the child: give the child a new one."""
    _Lanes._lock = threading.Lock()


def describe(error: BaseException) -> str:
    """``"ValueError: message"`` for a span's ``error``, whatever the message holds."""
    return f"{type(error).__name__}: {to_text(error)}"
