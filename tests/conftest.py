"""Shared pytest setup for the package tests and the nbval notebook runs.

``CONCTUTOR_TIME_SCALE`` is set at import time, before any notebook kernel
starts, so the kernels nbval launches inherit it and the chapter's 2-second
tasks run in a twentieth of the time. An explicit value in the environment
wins. The calibration cache (``CONCTUTOR_CACHE_DIR``) keeps its default.
"""

from __future__ import annotations

import os

os.environ.setdefault("CONCTUTOR_TIME_SCALE", "0.05")
