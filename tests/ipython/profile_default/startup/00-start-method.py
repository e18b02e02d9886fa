"""Test-only IPython startup file: the notebook kernels that nbval starts use the start method
the test run asks for (``CONCTUTOR_START_METHOD``: fork, spawn or forkserver), as the default of
``multiprocessing`` -- what a student on macOS/Windows (spawn) or Linux with Python 3.14+
(forkserver) gets without asking. tests/conftest.py points ``IPYTHONDIR`` at a copy of this folder
only when the variable is set; students' kernels never read it."""

import os as _os

_method = _os.environ.get("CONCTUTOR_START_METHOD", "").strip()
if _method:
    import multiprocessing as _multiprocessing

    _multiprocessing.set_start_method(_method, force=True)
    del _multiprocessing
del _os, _method
