"""What this Python is: its cores, its GIL, how it was built (saved with each run)."""

from __future__ import annotations

import os
import platform
import sys
import sysconfig


def available_cores() -> int:
    """The cores this process may run on (what a process pool could use)."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13+
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def gil_enabled() -> bool:
    """Whether this interpreter runs with the GIL (free-threaded builds may run without it)."""
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


def free_threaded_build() -> bool:
    """Whether this interpreter was built free-threaded (3.13t, 3.14t): it may still run with the
    GIL, when started with ``-X gil=1`` or after importing a C extension that does not declare it
    can run without one (Python then warns, and turns the GIL on for good)."""
    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def python_description() -> str:
    """"CPython 3.14.7 (sem GIL)": saved with each run (`Timeline.python`)."""
    if not gil_enabled():
        build = " (sem GIL)"
    elif free_threaded_build():
        build = " (free-threaded, mas com o GIL ligado)"
    else:
        build = ""
    return f"{platform.python_implementation()} {platform.python_version()}{build}"
