"""Where a recorded thread's events go: a `Sink`, one per thread.

No two threads ever write to the same place (no lock, no reliance on the GIL):

* `MemorySink`: in the process that recorded, a list of event tuples
  (`conctutor.engine.events`);
* `FileSink`: in a worker process, the same tuples packed into a file that is
  memory-mapped (``mmap``, records of `conctutor.engine.event_files`): one
  store per event, no system call, and what was stored survives a SIGKILL of
  the worker a moment later. Its space on disk is reserved before the mapping
  reaches it, so a full disk is an error the sink sees, not a SIGBUS that
  kills the program; from then on it keeps nothing and counts what it lost
  (a ``.lost`` file, read back as a `conctutor.engine.assembly.Loss`).
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import threading
from time import perf_counter_ns, thread_time_ns
from typing import Any, Protocol

from .event_files import (
    BEGIN_RECORD,
    END_RECORD,
    FIXED_ROOM,
    RUN_RECORD,
    SEGMENT_BYTES,
    WAIT_RECORD,
    lane_record,
    loss_name,
    segment_name,
    task_record,
    text_record,
)
from .events import BEGIN, END, KIND_CODE, LANE, NO_SECONDS, RUN, TASK, TEXT, WAIT, Event, TaskInfo, needs_of, to_text
from .subinterpreters import ID_BASE, INTERPRETER_ID


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


class _Lanes:
    """Lane ids of one process: one per thread, one per asyncio task (rare: a lock is cheap here)."""

    _next = ID_BASE
    _lock = threading.Lock()

    @classmethod
    def new_id(cls) -> int:
        with cls._lock:
            cls._next += 1
            return cls._next


def after_fork_in_child() -> None:
    """A lock held by another thread at the fork stays held in the child: give the child a new one."""
    _Lanes._lock = threading.Lock()


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
        self.events.append((LANE, lane_id, ident, native, main, name, "", INTERPRETER_ID))

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
            self.events.append((LANE, lane, *self._thread, task_name, INTERPRETER_ID))
        return lane


# --- a worker's files ------------------------------------------------------------------------

RESERVE_BYTES = 64 << 10
"""Space reserved on disk ahead of a segment's writer, a piece at a time (about 1700 spans).

A page of a mapped file with no space behind it kills the process that touches
it with SIGBUS when the disk is full (a tmpfs ``/tmp``); a reservation fails
with an error instead, which the sink can survive."""

_NOT_SUPPORTED = {errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.ENOSYS}
"""Errors of ``posix_fallocate`` that mean "not on this file system", not "no space"."""


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


# Bound once: a method of an imported name is looked up anew at each call (Python compiles no
# LOAD_METHOD for it), which costs a span about 0.1 us.
_pack_begin, _pack_wait, _pack_run, _pack_end = (
    record.pack_into for record in (BEGIN_RECORD, WAIT_RECORD, RUN_RECORD, END_RECORD))
_BEGIN_SIZE, _WAIT_SIZE, _RUN_SIZE, _END_SIZE = BEGIN_RECORD.size, WAIT_RECORD.size, RUN_RECORD.size, END_RECORD.size


class FileSink:
    """Events of one thread of a worker process, packed into memory-mapped segment files.

    When the disk has no space left for it (or any other error of the file
    system), the sink stops keeping events, and a ``.lost`` file (see
    `conctutor.engine.event_files.LOSS_NAME`) counts the spans it could not
    keep, so the recording can say so; the recorded program itself goes on
    unharmed.
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
        failure = self._write_variable(lane_record(lane_id, ident, native, main, name, "", INTERPRETER_ID))
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
        path = os.path.join(self._directory, segment_name(self.pid, self._sink_id, self._segment + 1))
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
        path = os.path.join(self._directory, loss_name(self.pid, self._sink_id, error.errno or 0))
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

    def _write_variable(self, record: bytes) -> OSError | None:
        """Store a variable record; the error that stopped the sink if it could not."""
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
            record = task_record(task.task_id, KIND_CODE[task.kind], task.name, needs_of(task))
            if self._write_variable(record) is not None:
                self._lose()
                return seq
            self._tasks.add(task.task_id)
        pos = self._pos
        if pos + FIXED_ROOM > self._reserved:
            pos = self._claim(FIXED_ROOM)
            if pos < 0:
                self._lose()
                return seq
        _pack_begin(self._mm, pos, BEGIN, seq, lane or self.lane, task.task_id, perf_counter_ns(), thread_time_ns(),
                    seconds, BEGIN)
        self._pos = pos + _BEGIN_SIZE
        return seq

    def end(self, seq: int, status_code: int, error: str) -> None:
        # A span whose END cannot be stored stays open in the reader, which counts it as lost.
        now, cpu = perf_counter_ns(), thread_time_ns()
        text_id = 0
        if error:
            self._texts += 1
            text_id = self._texts
            if self._write_variable(text_record(text_id, error)) is not None:
                return
        pos = self._pos
        if pos + FIXED_ROOM > self._reserved:
            pos = self._claim(FIXED_ROOM)
            if pos < 0:
                return
        _pack_end(self._mm, pos, END, seq, now, cpu, status_code, text_id, END)
        self._pos = pos + _END_SIZE

    def wait(self, seq: int, start_ns: int, end_ns: int, state_code: int) -> None:
        pos = self._pos
        if pos + FIXED_ROOM > self._reserved:
            pos = self._claim(FIXED_ROOM)
            if pos < 0:
                return
        _pack_wait(self._mm, pos, WAIT, seq, start_ns, end_ns, state_code, WAIT)
        self._pos = pos + _WAIT_SIZE

    def run(self, seq: int, start_ns: int, end_ns: int) -> None:
        pos = self._pos
        if pos + FIXED_ROOM > self._reserved:
            pos = self._claim(FIXED_ROOM)
            if pos < 0:
                return
        _pack_run(self._mm, pos, RUN, seq, start_ns, end_ns, RUN)
        self._pos = pos + _RUN_SIZE

    def lane_for(self, task_name: str) -> int:
        lane = self._task_lanes.get(task_name)
        if lane is None:
            lane = self._task_lanes[task_name] = _Lanes.new_id()
            self._write_variable(lane_record(lane, *self._thread, task_name, INTERPRETER_ID))
        return lane
