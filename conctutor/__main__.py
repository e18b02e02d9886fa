"""``python -m conctutor run programa.py ...`` and ``python -m conctutor show run.json``: see `conctutor.cli`."""

import sys

from .cli import main

if __name__ == "__main__":  # not when a spawned worker process imports this module as __mp_main__
    sys.exit(main())
