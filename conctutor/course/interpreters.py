"""Finding free-threaded Pythons (3.13t, 3.14t, 3.15t) on this machine, for notebook 08.

Looks on the PATH and where ``tools/build-pythons.sh`` installs them
(``$CONCTUTOR_PYTHONS_DIR``, by default ``~/.cache/conctutor/pythons``).
An interpreter counts only if it really runs without the GIL.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

NAMES = ("python3.15t", "python3.14t", "python3.13t")
CHECK = "import sys; print(sys.version.split()[0], int(sys._is_gil_enabled()))"


def pythons_dir() -> str:
    return os.environ.get("CONCTUTOR_PYTHONS_DIR") or os.path.expanduser("~/.cache/conctutor/pythons")


def free_threaded_pythons() -> dict[str, str]:
    """Version → path of each free-threaded interpreter found that runs without the GIL."""
    candidates = [shutil.which(name) for name in NAMES]
    candidates += sorted(glob.glob(os.path.join(pythons_dir(), "*", "bin", "python3.1[3-9]t")))
    found: dict[str, str] = {}
    for path in candidates:
        if not path or not os.access(path, os.X_OK):
            continue
        try:
            answer = subprocess.run([path, "-c", CHECK], capture_output=True, text=True, timeout=30, check=True)
        except (OSError, subprocess.SubprocessError):
            continue
        words = answer.stdout.split()
        if len(words) == 2 and words[1] == "0":
            version = words[0]
            found.setdefault(version + "t", os.path.realpath(path))
    return found
