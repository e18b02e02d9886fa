"""Recorded calls: the `task` decorator, and how a call finds the recording it belongs to.

    @task                      # any function, any signature
    def baixa(url): ...

    @task(kind="cpu")          # tells the ideal time that it computes
    def fib(n): ...

    @task
    async def busca(): ...     # coroutines too: one lane per asyncio task

The public names of five modules, gathered here (``conctutor.recorder`` is this module too):

* `conctutor.engine.decorators`: ``task``, ``chapter_task`` and the wrappers they make;
  `conctutor.engine.suspensions`: coroutines and generators, whose suspensions are waits;
* `conctutor.engine.routing`: the recording (`Collector`) and lane a call goes to;
* `conctutor.engine.quiet`: what a quiet recording's code prints is dropped;
* `conctutor.engine.invitation`: how a worker process learns which recording to report to;
* `conctutor.engine.hooks`: the patches that let threads, pools and new processes follow
  the recording that started them, installed and uninstalled in one place.
"""

from __future__ import annotations

from .decorators import (
    AsyncChapterTask,
    AsyncGeneratorTask,
    AsyncTask,
    ChapterTask,
    GeneratorTask,
    RecursiveTask,
    Task,
    chapter_task,
    current_span,
    task,
    wait,
)
from .hooks import install_hooks, uninstall_hooks
from .invitation import Invitation, accept_invitation
from .quiet import quiet_begin, quiet_end
from .routing import Collector, current_collector, enter, leave
from .suspensions import await_wait

__all__ = [
    "AsyncChapterTask",
    "AsyncGeneratorTask",
    "AsyncTask",
    "ChapterTask",
    "Collector",
    "GeneratorTask",
    "Invitation",
    "RecursiveTask",
    "Task",
    "accept_invitation",
    "await_wait",
    "chapter_task",
    "current_collector",
    "current_span",
    "enter",
    "install_hooks",
    "leave",
    "quiet_begin",
    "quiet_end",
    "task",
    "uninstall_hooks",
    "wait",
]
