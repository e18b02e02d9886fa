"""Events: what a recorded call reports, as tuples with codes.

One schema, for every sink that writes events (`conctutor.engine.sinks`) and
every source that reads them back (`conctutor.engine.assembly`). Every event
is a tuple whose first item is its `Event` type:

    (LANE,  lane_id, thread_id, native_id, main_thread, thread_name, task_name, interpreter)
                                                 interpreter: 0 for the main one, else a subinterpreter's id
    (TASK,  task_id, name, kind_code, needs)     needs: names of the tasks whose results it needs
    (TEXT,  text_id, text)                       an error message
    (BEGIN, seq, lane_id, task_id, start_ns, cpu_ns, seconds)   seconds: NaN if none
    (WAIT,  seq, start_ns, end_ns, state_code)   a later WAIT with the same start replaces it
    (RUN,   seq, start_ns, end_ns)               an interval the task saw itself running
    (END,   seq, end_ns, cpu_ns, status_code, text_id)          text_id 0: no message

Ids are per process (a subinterpreter's start apart: `conctutor.engine.subinterpreters`);
``seq`` is per sink. Times are ``perf_counter_ns()``
(CLOCK_MONOTONIC: comparable between processes of one machine). In a worker's
files the same tuples are packed as bytes (`conctutor.engine.event_files`).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Protocol

from .model import Kind, State, Status


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


class TaskInfo(Protocol):
    """What a TASK event says of a task."""

    task_id: int
    name: str
    kind: Kind


def needs_of(task: TaskInfo) -> tuple[str, ...]:
    """The names of the tasks whose results `task` needs, from its ``needs`` attribute (the ideal time waits
    for them): the chapter's ``processa_dados`` needs ``consulta_dados``'s data; a task of one's own, none."""
    return tuple(getattr(task, "needs", ()))


def to_text(value: object) -> str:
    """`value` as text that always encodes (never raises)."""
    try:
        return str(value)
    except Exception:  # a __str__ that raises must not break the recorded program
        return object.__repr__(value)


def describe(error: BaseException) -> str:
    """``"ValueError: message"`` for a span's ``error``, whatever the message holds."""
    return f"{type(error).__name__}: {to_text(error)}"
