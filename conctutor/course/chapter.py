"""What the package knows about the chapter, in one place.

The chapter's tasks (names, which data each needs) and the order in which
they take the palette's colours, so a task keeps its colour from one figure
to the next. The tasks themselves are in `conctutor.tasks`; the programs
that run them, with slider knobs, in `conctutor.programs`.
"""

from __future__ import annotations

IO_TASKS = ("consulta_dados", "processa_dados", "grava_log")
"""The chapter's three tasks: each simulates I/O by sleeping."""

CPU_TASKS = ("calcula",)
"""The CPU-bound task the notebooks add to show the GIL."""

TASKS = IO_TASKS + CPU_TASKS
"""Every task the package ships, in the order they take the palette's colours."""

DEPENDS_ON: dict[str, tuple[str, ...]] = {"processa_dados": ("consulta_dados",)}
"""Data dependencies: ``processa_dados`` needs the ``dados`` that
``consulta_dados`` returns. Used for the ideal time."""

DEFAULT_SECONDS = 2.0
"""Each chapter task waits or computes this long by default."""
