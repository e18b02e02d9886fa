"""`pytest notebooks/` run on its own gets the tests' setup too: the time scale and the start method.

The setup lives in tests/conftest.py; this file only runs it and uses its hook (pytest does not load that
conftest for paths outside tests/).
"""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "_conctutor_tests_conftest", Path(__file__).resolve().parents[1] / "tests" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_conftest)
pytest_runtest_setup = _conftest.pytest_runtest_setup
pytest_collection_modifyitems = _conftest.pytest_collection_modifyitems
pytest_xdist_make_scheduler = _conftest.pytest_xdist_make_scheduler
