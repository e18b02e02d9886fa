"""Reading events back and assembling them into spans.

A source reads the new events of one sink: `MemorySource` those of a
`MemorySink` in this process, `FileSource` those of a worker's `FileSink`,
found in the recording's spool directory by `scan_spool` (with the `Loss` of
any sink that could not keep its spans). `Assembler` turns the events of all
of them into spans (`RawSpan`), as often as it is fed.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

from .event_files import LOSS_NAME, SEGMENT_NAME, decode, segment_name
from .events import BEGIN, END, KINDS, LANE, RUN, STATES, STATUSES, TASK, TEXT, WAIT, Event
from .model import Kind, Lane, State, Status

if TYPE_CHECKING:
    from .sinks import MemorySink


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
            path = os.path.join(self.directory, segment_name(self.pid, self._sink_id, self._segment))
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


def _read_at(fd: int, size: int, offset: int) -> bytes:
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # Windows
    return os.read(fd, size)


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


# --- spans ---------------------------------------------------------------------------------


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
                _, lane_id, ident, native, main, name, task_name, interpreter = event
                self.lanes[(pid, lane_id)] = Lane(pid, ident, native, name, main, task_name, interpreter=interpreter)
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
