"""``python -m conctutor.imgs``, and ``import conctutor.imgs``: the module is `conctutor.course.imgs`.

Importing this path gives that module itself (not a copy of its names), as every other path of conctutor
0.2.0 does (`conctutor._moved`); running it runs that module.
"""

import importlib
import runpy
import sys

if __name__ == "__main__":
    runpy.run_module("conctutor.course.imgs", run_name="__main__", alter_sys=True)
else:
    sys.modules[__name__] = importlib.import_module("conctutor.course.imgs")
