"""conctutor: see Python's concurrency models by recording real runs.

    from conctutor import consulta_dados, processa_dados, grava_log, record

    with record() as timeline:
        main()              # the chapter's code, unchanged
    timeline.plot()

``import conctutor`` stays light (every worker process pays for it): the
recording, the timeline and NumPy load on first use of `record` or `Timeline`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import _moved
from .course.tasks import calcula, consulta_dados, grava_log, processa_dados
from .engine.model import Kind, Lane, Series, Span, State, Status
from .engine.recorder import Task, task
from .engine.settings import get_durations, set_durations
from .render.themes import use_theme

_moved.install()  # the module paths of 0.2.0 (conctutor.widgets, conctutor.taskqueue...) keep working

if TYPE_CHECKING:
    from .engine.recording import record
    from .engine.timeline import Timeline

__all__ = [
    "Kind",
    "Lane",
    "Series",
    "Span",
    "State",
    "Status",
    "Task",
    "Timeline",
    "calcula",
    "consulta_dados",
    "get_durations",
    "grava_log",
    "processa_dados",
    "record",
    "set_durations",
    "task",
    "use_theme",
]
__version__ = "0.2.0"

_LAZY = {"record": ("engine.recording", "record"), "Timeline": ("engine.timeline", "Timeline")}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'conctutor' has no attribute {name!r}")
