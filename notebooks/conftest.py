"""Notebooks run on their own (`pytest notebooks/`) get the tests' time scale too: see tests/conftest.py."""

import os

os.environ.setdefault("CONCTUTOR_TIME_SCALE", "0.05")
