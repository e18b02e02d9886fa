"""Where each module of conctutor 0.2.0 lives now, and the finder that keeps the old paths working.

The package is four layers (``course`` → ``queue`` → ``render`` → ``engine``:
see ``conctutor/__init__.py``). Notebooks, saved programs and the README
import the flat paths of 0.2.0 (``conctutor.widgets``, ``conctutor.taskqueue``,
``python -m conctutor.imgs``): each old path is the *same module object* as
its new one (not a copy that re-exports its names), so what a program changes
in one it changes in the other, and ``python -m`` runs the new file.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType

MOVED: dict[str, str] = {
    **{f"conctutor.{name}": f"conctutor.engine.{name}" for name in (
        "contention", "cpu", "events", "interrupts", "model", "recorder", "recording", "sampling", "settings",
        "sidecar", "spool", "timeline", "watch")},
    **{f"conctutor.{name}": f"conctutor.render.{name}" for name in (
        "drawing", "live", "perfetto", "scene", "svg", "themes")},
    "conctutor.queue_timeline": "conctutor.queue.queue_timeline",
    **{f"conctutor.{name}": f"conctutor.course.{name}" for name in (
        "aio", "chapter", "checks", "comparison", "handoff", "interpreters", "programs", "queue_tasks",
        "readings", "tasks", "widgets", "workloads")},
}
"""Old module path → new module path. The two that ``python -m`` runs, ``conctutor.taskqueue`` and
``conctutor.imgs``, are files of their own that hand over to the new module."""


class _SameModule(importlib.abc.Loader):
    """Loads an old path as the module at its new path (imported there, once)."""

    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.new)
        self._spec = module.__spec__  # the import system sets the old path's spec on it: put it back
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = self._spec



class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: object = None,
                  target: object = None) -> importlib.machinery.ModuleSpec | None:
        new = MOVED.get(fullname)
        if new is None:
            return None
        found = importlib.util.find_spec(new)
        return importlib.util.spec_from_loader(fullname, _SameModule(new),
                                               origin=found.origin if found is not None else None)


def install() -> None:
    if not any(isinstance(finder, _MovedFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())
