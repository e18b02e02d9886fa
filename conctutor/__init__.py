"""conctutor: see Python's concurrency models by recording real runs.

    from conctutor import consulta_dados, processa_dados, grava_log, record

    with record() as timeline:
        main()              # the chapter's code, unchanged
    timeline.plot()
"""

from .durations import get_durations, set_durations
from .recording import Task, record, task
from .spans import Span
from .tasks import calcula, consulta_dados, grava_log, processa_dados
from .themes import use_theme
from .timeline import Timeline

__all__ = [
    "Span",
    "Task",
    "Timeline",
    "calcula",
    "consulta_dados",
    "get_durations",
    "grava_log",
    "processa_dados",
    "record",
    "set_durations",
    "task",
    "use_theme",
]
__version__ = "0.1.0"
