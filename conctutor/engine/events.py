"""Events: what a recorded call reports, where it goes, and how it becomes spans.

One schema, written and read by this module only. Every event is a tuple
whose first item is its `Event` type:

    (LANE,  lane_id, thread_id, native_id, main_thread, thread_name, task_name)
    (TASK,  task_id, name, kind_code, needs)     needs: names of the tasks whose results it needs
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
  was stored survives a SIGKILL of the worker a moment later. Its space on
  disk is reserved before the mapping reaches it, so a full disk is an error
  the sink sees, not a SIGBUS that kills the program; from then on it keeps
  nothing and counts what it lost (`Loss`).

`Assembler` reads both (`MemorySource`, `FileSource`) and keeps the spans.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import re
import struct
import threading
from collections.abc import Iterable, Iterator
from enum import IntEnum
from time import perf_counter_ns, thread_time_ns
from typing import Any, NamedTuple, Protocol

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


def needs_of(task: TaskInfo) -> tuple[str, ...]:
    """The names of the tasks whose results `task` needs, from its ``needs`` attribute (the ideal time waits
    for them): the chapter's ``processa_dados`` needs ``consulta_dados``'s data; a task of one's own, none."""
    return tuple(getattr(task, "needs", ()))


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
            self.events.append((TASK, task_id, task.name, KIND_CODE[task.kind], needs_of(task)))
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
"""Size of one mmap'd segment file (sparse: only the reserved part has space on disk)."""

RESERVE_BYTES = 64 << 10
"""Space reserved on disk ahead of a segment's writer, a piece at a time (about 1700 spans).

A page of a mapped file with no space behind it kills the process that touches
it with SIGBUS when the disk is full (a tmpfs ``/tmp``); a reservation fails
with an error instead, which the sink can survive."""

_BEGIN = struct.Struct("<BIIIqqdB")
_WAIT = struct.Struct("<BIqqBB")
_RUN = struct.Struct("<BIqqB")
_END = struct.Struct("<BIqqBIB")
_HEAD = struct.Struct("<BI")  # type, total length (variable records)
_LANE_BODY = struct.Struct("<IQQB")
_TASK_BODY = struct.Struct("<IBB")  # task id, kind, how many task names it needs
_TEXT_BODY = struct.Struct("<I")
_LENGTH = struct.Struct("<I")
_FIXED = {BEGIN: _BEGIN, WAIT: _WAIT, RUN: _RUN, END: _END}
_BEGIN_SIZE, _WAIT_SIZE, _RUN_SIZE, _END_SIZE = _BEGIN.size, _WAIT.size, _RUN.size, _END.size
_ROOM = 64
"""Bytes a fixed record needs at most (plus the segment's end marker)."""

SEGMENT_NAME = re.compile(r"^(\d+)\.(\d+)\.(\d+)\.ev$")
"""``pid.sink.segment.ev``: anything else in the directory is not ours and is ignored."""

LOSS_NAME = re.compile(r"^(\d+)\.(\d+)\.(\d+)\.lost$")
"""``pid.sink.errno.lost``: a sink that could not keep its spans, because of ``errno``.

The file holds no data (there may be no space for any): its *size* is the
number of spans the sink could not keep, grown with ``ftruncate``, which
needs no space on disk."""

_NOT_SUPPORTED = {errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.ENOSYS}
"""Errors of ``posix_fallocate`` that mean "not on this file system", not "no space"."""


MAX_TEXT = SEGMENT_BYTES // 16
"""Characters kept of one text (a message, a name) in a file: a record with two of them, at up to 4
bytes a character, fits in a segment."""


def _strings(*texts: str) -> bytes:
    out = b""
    for text in texts:
        data = text[:MAX_TEXT].encode(ENCODING, ERRORS)  # cut as text: cut bytes may split a character
        out += _LENGTH.pack(len(data)) + data
    return out


def _variable(kind: int, body: bytes) -> bytes:
    total = _HEAD.size + len(body) + 1
    return _HEAD.pack(kind, total) + body + bytes((kind,))


def reserve(fd: int, offset: int, length: int) -> None:
    """Give bytes ``[offset, offset + length)`` of a file their space on disk now (`OSError` if there is none).

    ``posix_fallocate`` where the system and the file system have it; else
    zeros written over the range, which reserves it as well.
    """
    allocate = getattr(os, "posix_fallocate", None)  # looked up at each call: tests replace it
    if allocate is not None:
        try:
            allocate(fd, offset, length)
            return
        except OSError as error:
            if error.errno not in _NOT_SUPPORTED:
                raise
    zeros = bytes(min(length, RESERVE_BYTES))
    end = offset + length
    while offset < end:
        offset += _write_at(fd, zeros[: end - offset], offset)


def _write_at(fd: int, data: bytes, offset: int) -> int:
    if hasattr(os, "pwrite"):
        return os.pwrite(fd, data, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # Windows
    return os.write(fd, data)


def _read_at(fd: int, size: int, offset: int) -> bytes:
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # Windows
    return os.read(fd, size)


class FileSink:
    """Events of one thread of a worker process, packed into memory-mapped segment files.

    When the disk has no space left for it (or any other error of the file
    system), the sink stops keeping events, and a ``.lost`` file (see
    `LOSS_NAME`) counts the spans it could not keep, so the recording can
    say so; the recorded program itself goes on unharmed.
    """

    def __init__(self, directory: str, pid: int, sink_id: int) -> None:
        self.pid = pid
        self._directory = directory
        self._sink_id = sink_id
        self._segment = -1
        self._mm: Any = None  # the current segment's mmap
        self._path = ""  # the current segment's file
        self._pos = 0
        self._reserved = 0
        """Bytes of the current segment with space on disk: nothing is stored past them (0 when full)."""
        self._full = False
        self._lost = 0
        self._loss_path = ""
        self._failure: OSError | None = None
        self._seq = 0
        self._tasks: set[int] = set()
        self._texts = 0
        self._task_lanes: dict[str, int] = {}
        lane_id, ident, native, main, name = _thread_lane()
        self.lane = lane_id
        self._thread = (ident, native, main, name)
        failure = self._write_variable(LANE, _LANE_BODY.pack(lane_id, ident, native, main) + _strings(name, ""))
        if failure is not None and not self._loss_path:
            raise failure  # nothing can be kept, nor said: the caller records nowhere

    # --- space ---------------------------------------------------------------------

    def _claim(self, size: int) -> int:
        """Where the next `size` bytes go, with their space reserved; -1 once nothing more can be kept."""
        if self._full:
            return -1
        pos = self._pos
        try:
            if self._mm is None or pos + size > SEGMENT_BYTES:
                self._next_segment()
                pos = 0
            if pos + size > self._reserved:
                grown = min(SEGMENT_BYTES, max(pos + size, self._reserved + RESERVE_BYTES))
                fd = os.open(self._path, os.O_RDWR)  # not kept open: a worker may have many threads
                try:
                    reserve(fd, self._reserved, grown - self._reserved)
                finally:
                    os.close(fd)
                self._reserved = grown
        except OSError as error:
            self._stop(error)
            return -1
        return pos

    def _next_segment(self) -> None:
        """Open the next segment file: its first piece reserved before the file grows and is mapped."""
        path = os.path.join(self._directory, f"{self.pid}.{self._sink_id}.{self._segment + 1}.ev")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            reserve(fd, 0, RESERVE_BYTES)
            os.ftruncate(fd, SEGMENT_BYTES)  # the rest is a hole until reserved (readers use pread: no fault)
            mm = mmap.mmap(fd, SEGMENT_BYTES)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise
        finally:
            os.close(fd)
        if self._mm is not None:
            self._mm[self._pos] = Event.SEGMENT_END  # reserved: the writer keeps one byte of room
            self._mm.close()
        self._segment += 1
        self._mm, self._path, self._pos, self._reserved = mm, path, 0, RESERVE_BYTES

    def _stop(self, error: OSError) -> None:
        """Keep nothing more: the file system refused (`error`); say so in a ``.lost`` file."""
        self._full = True
        self._reserved = 0
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        code = error.errno or 0
        path = os.path.join(self._directory, f"{self.pid}.{self._sink_id}.{code}.lost")
        with contextlib.suppress(OSError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
            self._loss_path = path
        self._failure = error

    def _lose(self) -> None:
        """One more span not kept (its BEGIN could not be stored)."""
        self._lost += 1
        if self._loss_path:
            with contextlib.suppress(OSError):
                os.truncate(self._loss_path, self._lost)

    # --- records -------------------------------------------------------------------

    def _write_variable(self, kind: int, body: bytes) -> OSError | None:
        """Store a variable record; the error that stopped the sink if it could not."""
        record = _variable(kind, body)
        pos = self._pos
        if pos + len(record) + 1 > self._reserved:
            pos = self._claim(len(record) + 1)
            if pos < 0:
                return self._failure
        self._mm[pos : pos + len(record)] = record
        self._pos = pos + len(record)
        return None

    def begin(self, task: TaskInfo, lane: int = 0, seconds: float = NO_SECONDS) -> int:
        seq = self._seq = self._seq + 1
        if task.task_id not in self._tasks:
            needs = needs_of(task)[:255]
            if self._write_variable(TASK, _TASK_BODY.pack(task.task_id, KIND_CODE[task.kind], len(needs))
                                    + _strings(task.name, *needs)) is not None:
                self._lose()
                return seq
            self._tasks.add(task.task_id)
        pos = self._pos
        if pos + _ROOM > self._reserved:
            pos = self._claim(_ROOM)
            if pos < 0:
                self._lose()
                return seq
        _BEGIN.pack_into(self._mm, pos, BEGIN, seq, lane or self.lane, task.task_id, perf_counter_ns(),
                         thread_time_ns(), seconds, BEGIN)
        self._pos = pos + _BEGIN_SIZE
        return seq

    def end(self, seq: int, status_code: int, error: str) -> None:
        # A span whose END cannot be stored stays open in the reader, which counts it as lost.
        now, cpu = perf_counter_ns(), thread_time_ns()
        text_id = 0
        if error:
            self._texts += 1
            text_id = self._texts
            if self._write_variable(TEXT, _TEXT_BODY.pack(text_id) + _strings(error)) is not None:
                return
        pos = self._pos
        if pos + _ROOM > self._reserved:
            pos = self._claim(_ROOM)
            if pos < 0:
                return
        _END.pack_into(self._mm, pos, END, seq, now, cpu, status_code, text_id, END)
        self._pos = pos + _END_SIZE

    def wait(self, seq: int, start_ns: int, end_ns: int, state_code: int) -> None:
        pos = self._pos
        if pos + _ROOM > self._reserved:
            pos = self._claim(_ROOM)
            if pos < 0:
                return
        _WAIT.pack_into(self._mm, pos, WAIT, seq, start_ns, end_ns, state_code, WAIT)
        self._pos = pos + _WAIT_SIZE

    def run(self, seq: int, start_ns: int, end_ns: int) -> None:
        pos = self._pos
        if pos + _ROOM > self._reserved:
            pos = self._claim(_ROOM)
            if pos < 0:
                return
        _RUN.pack_into(self._mm, pos, RUN, seq, start_ns, end_ns, RUN)
        self._pos = pos + _RUN_SIZE

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
            task_id, kind_code, count = _TASK_BODY.unpack_from(data, body)
            (name, *needs), _ = _decode_strings(data, body + _TASK_BODY.size, 1 + count)
            yield (TASK, task_id, name, kind_code, tuple(needs)), end
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


READ_BYTES = 16 << 10
"""What a `FileSource` reads at a time (more when one record is longer)."""


class FileSource:
    """The new events of one worker thread's segment files since the last read.

    It reads with ``pread``, not a mapping: reading a part of a file that has
    no space on disk yet gives zeros, where touching it through a mapping
    would fault when the disk is full.
    """

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
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                return events
            try:
                finished = self._read_segment(fd, events)
            except (OSError, ValueError, struct.error):
                return events
            finally:
                os.close(fd)
            if not finished:
                return events
            self._segment += 1
            self._pos = 0

    def _read_segment(self, fd: int, events: list[tuple]) -> bool:
        """Add the segment's complete records from the cursor on; True once its end marker is read."""
        size = os.fstat(fd).st_size
        want = READ_BYTES
        while self._pos < size:
            data = _read_at(fd, min(want, size - self._pos), self._pos)
            used = 0
            for event, after in decode(data, 0):
                if event[0] == Event.SEGMENT_END:
                    self._pos += after
                    return True
                events.append(event)
                used = after
            self._pos += used
            if used < len(data) and data[used] == 0:
                return False  # nothing more written yet
            if self._pos + len(data) - used >= size:
                return False  # the rest of the file holds a record not yet complete
            if used == 0:
                want *= 2  # a record longer than what was read
        return False


class Loss(NamedTuple):
    """Spans a worker thread could not keep: ``spans`` of them, in process ``pid``, for ``errno``."""

    pid: int
    spans: int
    errno: int


class Scan(NamedTuple):
    """What `scan_spool` found: new sources, and every sink that could not keep its spans (by source key)."""

    sources: list[FileSource]
    losses: dict[tuple[int, int], Loss]


def scan_spool(directory: str, known: set[tuple[int, int]]) -> Scan:
    """Sources for the worker sinks in `directory` not yet in `known`, and the losses (stray files are ignored)."""
    found = Scan([], {})
    try:
        names = os.listdir(directory)
    except OSError:
        return found
    for name in names:
        match = SEGMENT_NAME.match(name)
        if match is not None:
            pid, sink_id, _ = (int(part) for part in match.groups())
            if (pid, sink_id) not in known:
                known.add((pid, sink_id))
                found.sources.append(FileSource(directory, pid, sink_id))
            continue
        match = LOSS_NAME.match(name)
        if match is not None:
            pid, sink_id, code = (int(part) for part in match.groups())
            with contextlib.suppress(OSError):
                found.losses[(pid, sink_id)] = Loss(pid, os.stat(os.path.join(directory, name)).st_size, code)
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
        self.tasks: dict[tuple, tuple[str, Kind, tuple[str, ...]]] = {}
        self.finished: list[RawSpan] = []
        self.open: dict[tuple, OpenSpan] = {}
        self._texts: dict[tuple, str] = {}
        self._losses: dict[tuple[int, int], Loss] = {}

    def note_losses(self, losses: dict[tuple[int, int], Loss]) -> None:
        """What the sinks that stopped keeping events say they lost (by source key; the latest count wins)."""
        self._losses.update(losses)

    def losses(self) -> list[Loss]:
        """The spans not kept, per process and reason: those never stored, and those whose end was not."""
        counts: dict[tuple[int, int], int] = {}
        for key, loss in self._losses.items():
            unfinished = sum(1 for source_key, _ in self.open if source_key == key)
            counts[(loss.pid, loss.errno)] = counts.get((loss.pid, loss.errno), 0) + loss.spans + unfinished
        return [Loss(pid, count, code) for (pid, code), count in counts.items() if count]

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
                self.tasks[(pid, event[1])] = (event[2], KINDS[event[3]], event[4])
            elif kind == TEXT:
                self._texts[(source_key, event[1])] = event[2]

    def open_spans(self, now_ns: int, status: Status) -> list[RawSpan]:
        """The spans still open, as if they ended at `now_ns` with `status`.

        Left out: those of a sink that stopped keeping events, whose end will never come (`losses`
        counts them).
        """
        lost = self._losses
        return [
            RawSpan(s.lane, s.task, s.start_ns, None, 0, s.seconds, status, "", _waits(s), s.runs)
            for (source_key, _), s in list(self.open.items()) if source_key not in lost
        ]


def _waits(span: OpenSpan) -> list[tuple[int, int, State]]:
    return sorted((start, end, STATES[code]) for start, (end, code) in span.waits.items())


def after_fork_in_child() -> None:
    """A lock held by another thread at the fork stays held in the child: give the child a new one."""
    _Lanes._lock = threading.Lock()


def describe(error: BaseException) -> str:
    """``"ValueError: message"`` for a span's ``error``, whatever the message holds."""
    return f"{type(error).__name__}: {to_text(error)}"
