"""The events of a worker process as bytes: the records of its segment files and the files' names.

Each record starts and ends with its type byte. A writer stores a record
with one `pack_into` (or one slice assignment); a reader accepts a record
only when both ends are there, so it never reads one that is half written.
Variable records (LANE, TASK, TEXT) carry their total length after the first
byte, and their texts as a length and UTF-8 bytes.
"""

from __future__ import annotations

import mmap
import re
import struct
from collections.abc import Iterator

from .events import BEGIN, END, LANE, RUN, TASK, TEXT, WAIT, Event

SEGMENT_BYTES = 1 << 20
"""Size of one mmap'd segment file (sparse: only the reserved part has space on disk)."""

BEGIN_RECORD = struct.Struct("<BIIIqqdB")
WAIT_RECORD = struct.Struct("<BIqqBB")
RUN_RECORD = struct.Struct("<BIqqB")
END_RECORD = struct.Struct("<BIqqBIB")
FIXED_RECORDS = {BEGIN: BEGIN_RECORD, WAIT: WAIT_RECORD, RUN: RUN_RECORD, END: END_RECORD}
FIXED_ROOM = 64
"""Bytes a fixed record needs at most (plus the segment's end marker)."""

_HEAD = struct.Struct("<BI")  # type, total length
_LANE_BODY = struct.Struct("<IQQBI")  # ..., interpreter
_TASK_BODY = struct.Struct("<IBB")  # task id, kind, how many task names it needs
_TEXT_BODY = struct.Struct("<I")
_LENGTH = struct.Struct("<I")
MAX_NEEDS = 255
"""Task names a TASK record keeps of those a task needs (their count is one byte)."""

ENCODING = "utf-8"
ERRORS = "surrogatepass"
"""Lone surrogates (``"\\udc80"`` from a badly decoded file name) travel unchanged."""

MAX_TEXT = SEGMENT_BYTES // 16
"""Characters kept of one text (a message, a name) in a file: a record with two of them, at up to 4
bytes a character, fits in a segment."""

SEGMENT_NAME = re.compile(r"^(\d+)\.(\d+)\.(\d+)\.ev$")
"""``pid.sink.segment.ev``: anything else in the directory is not ours and is ignored."""

LOSS_NAME = re.compile(r"^(\d+)\.(\d+)\.(\d+)\.lost$")
"""``pid.sink.errno.lost``: a sink that could not keep its spans, because of ``errno``.

The file holds no data (there may be no space for any): its *size* is the
number of spans the sink could not keep, grown with ``ftruncate``, which
needs no space on disk."""


def segment_name(pid: int, sink_id: int, segment: int) -> str:
    return f"{pid}.{sink_id}.{segment}.ev"


def loss_name(pid: int, sink_id: int, code: int) -> str:
    return f"{pid}.{sink_id}.{code}.lost"


# --- writing variable records ------------------------------------------------------------


def lane_record(lane_id: int, ident: int, native: int, main: bool, name: str, task_name: str,
                interpreter: int) -> bytes:
    body = _LANE_BODY.pack(lane_id, ident, native, main, interpreter)
    return _variable(LANE, body + _strings(name, task_name))


def task_record(task_id: int, kind_code: int, name: str, needs: tuple[str, ...]) -> bytes:
    needs = needs[:MAX_NEEDS]
    return _variable(TASK, _TASK_BODY.pack(task_id, kind_code, len(needs)) + _strings(name, *needs))


def text_record(text_id: int, text: str) -> bytes:
    return _variable(TEXT, _TEXT_BODY.pack(text_id) + _strings(text))


def _strings(*texts: str) -> bytes:
    out = b""
    for text in texts:
        data = text[:MAX_TEXT].encode(ENCODING, ERRORS)  # cut as text: cut bytes may split a character
        out += _LENGTH.pack(len(data)) + data
    return out


def _variable(kind: int, body: bytes) -> bytes:
    total = _HEAD.size + len(body) + 1
    return _HEAD.pack(kind, total) + body + bytes((kind,))


# --- reading records -----------------------------------------------------------------------


def decode(data: bytes | mmap.mmap, pos: int) -> Iterator[tuple[tuple, int]]:
    """The complete records of a segment from `pos` on, as event tuples, each with the position after it.

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
        layout = FIXED_RECORDS.get(kind)
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
            lane_id, ident, native, main, interpreter = _LANE_BODY.unpack_from(data, body)
            (name, task), _ = _decode_strings(data, body + _LANE_BODY.size, 2)
            yield (LANE, lane_id, ident, native, bool(main), name, task, interpreter), end
        elif kind == TASK:
            task_id, kind_code, count = _TASK_BODY.unpack_from(data, body)
            (name, *needs), _ = _decode_strings(data, body + _TASK_BODY.size, 1 + count)
            yield (TASK, task_id, name, kind_code, tuple(needs)), end
        else:
            (text_id,) = _TEXT_BODY.unpack_from(data, body)
            (text,), _ = _decode_strings(data, body + _TEXT_BODY.size, 1)
            yield (TEXT, text_id, text), end
        pos = end


def _decode_strings(data: bytes | mmap.mmap, pos: int, count: int) -> tuple[list[str], int]:
    texts = []
    for _ in range(count):
        (length,) = _LENGTH.unpack_from(data, pos)
        pos += _LENGTH.size
        texts.append(bytes(data[pos : pos + length]).decode(ENCODING, ERRORS))
        pos += length
    return texts, pos
