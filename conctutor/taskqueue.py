"""``python -m conctutor.taskqueue``, and ``import conctutor.taskqueue``: the module is `conctutor.queue.taskqueue`.

Importing this path gives that module itself (not a copy of its names), as every other path of conctutor
0.2.0 does (`conctutor._moved`); running it runs that module.
"""

import importlib
import runpy
import sys

if __name__ == "__main__":
    runpy.run_module("conctutor.queue.taskqueue", run_name="__main__", alter_sys=True)
else:
    sys.modules[__name__] = importlib.import_module("conctutor.queue.taskqueue")
