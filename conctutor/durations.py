"""How long the tasks take: validation, the time scale and adjustable defaults.

Every duration a task uses goes through `effective_seconds`, which checks the
value and multiplies it by ``CONCTUTOR_TIME_SCALE`` (so CI can run the chapter's
2-second examples in a fraction of the time).
"""

from __future__ import annotations

import math
import numbers
import os

MAX_SECONDS = 3600.0
"""The longest duration a task accepts: anything above is a typo, not a lesson."""

MAX_TIME_SCALE = 100.0

_defaults: dict[str, float] = {}
_scale_from_sender: float | None = None
"""In a worker process: the time scale of the process that sent us the task."""


def check_seconds(value: object, what: str = "segundos") -> float:
    """Return `value` as a float if it is a sensible duration, else raise.

    Allowed: an int or float (not bool) from 0 to MAX_SECONDS, finite.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{what} deve ser um número de segundos (int ou float) entre 0 e "
            f"{MAX_SECONDS:g}; recebido {type(value).__name__}: {value!r}"
        )
    seconds = float(value)
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(
            f"{what} deve ser um número finito de segundos entre 0 e {MAX_SECONDS:g}; recebido {value!r}"
        )
    if seconds < 0:
        raise ValueError(f"{what} não pode ser negativo: use um valor entre 0 e {MAX_SECONDS:g}; recebido {value!r}")
    if seconds > MAX_SECONDS:
        raise ValueError(
            f"{what}={value!r} é grande demais: o máximo é {MAX_SECONDS:g} segundos (uma hora)"
        )
    return seconds


def time_scale() -> float:
    """The factor from ``CONCTUTOR_TIME_SCALE`` (default 1.0) applied to every duration."""
    if _scale_from_sender is not None:
        return _scale_from_sender
    raw = os.environ.get("CONCTUTOR_TIME_SCALE", "").strip()
    if not raw:
        return 1.0
    try:
        scale = float(raw)
    except ValueError:
        scale = math.nan
    if not (0 < scale <= MAX_TIME_SCALE):
        raise ValueError(
            f"CONCTUTOR_TIME_SCALE deve ser um número maior que 0 e no máximo {MAX_TIME_SCALE:g} "
            f"(por exemplo 0.05 para rodar 20 vezes mais rápido); recebido {raw!r}"
        )
    return scale


def register_default(task_name: str, seconds: float) -> None:
    _defaults[task_name] = check_seconds(seconds, f"duração padrão de {task_name}")


def get_durations() -> dict[str, float]:
    """The current default duration of each task, in unscaled seconds."""
    return dict(_defaults)


def set_durations(**seconds_by_task: float) -> dict[str, float]:
    """Change the default duration of tasks (what the sliders do).

    ``set_durations(consulta_dados=1.0, calcula=0.5)``; returns the previous
    values, so ``set_durations(**previous)`` restores them. The new values
    travel with the task into worker processes under every start method.
    """
    unknown = sorted(set(seconds_by_task) - set(_defaults))
    if unknown:
        raise ValueError(
            f"tarefa(s) desconhecida(s): {', '.join(unknown)}; as tarefas são: {', '.join(sorted(_defaults))}"
        )
    checked = {name: check_seconds(value, name) for name, value in seconds_by_task.items()}
    previous = {name: _defaults[name] for name in checked}
    _defaults.update(checked)
    return previous


def adopt(task_name: str, seconds: float, scale: float) -> None:
    """In a worker process: use the sender's default duration and time scale."""
    global _scale_from_sender
    _defaults[task_name] = seconds
    _scale_from_sender = scale


def default_seconds(task_name: str) -> float:
    return _defaults[task_name]


def effective_seconds(task_name: str, segundos: object = None, scale: float | None = None) -> float:
    """The duration a call really uses: explicit or default, times the time scale."""
    seconds = _defaults[task_name] if segundos is None else check_seconds(segundos)
    return seconds * (time_scale() if scale is None else scale)
