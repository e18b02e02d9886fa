"""Every setting a recorded task reads, behind one accessor: durations and time scale.

* **Durations** of the chapter's tasks: adjustable defaults (`set_durations`,
  what the sliders change), optionally overridden for one ``record()`` block.
* **Time scale**: ``CONCTUTOR_TIME_SCALE`` multiplies every duration of the
  chapter's tasks, explicit ``segundos=`` included, so CI can run the 2-second
  examples in a fraction. A user's own functions are never scaled, so a bad
  value fails only a chapter task's call, never a program of the user's own.

`Settings` is the frozen value that travels to worker processes, so a worker
uses exactly what the process that sent it work was using. It travels as plain
data (`Settings.to_data`): a new process reads it before it can import anything.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from . import validate

MAX_SECONDS = 3600.0
"""The longest duration a task accepts: anything above is a typo, not a lesson."""

MAX_TIME_SCALE = 100.0

_defaults: dict[str, float] = {}
_adopted: Settings | None = None
"""In a worker process: the settings of the process that sent us work."""


@dataclass(frozen=True)
class Settings:
    """What a chapter task needs to know to run: its durations and the time scale."""

    durations: Mapping[str, float] = field(default_factory=dict)
    time_scale_text: str = ""
    """``CONCTUTOR_TIME_SCALE`` as written ("" when unset); read by `parse_time_scale` only when a
    chapter task runs."""

    def to_data(self) -> tuple[dict[str, float], str]:
        """Plain types only: what travels to a worker process."""
        return dict(self.durations), self.time_scale_text

    @classmethod
    def from_data(cls, data: object) -> Settings:
        """Rebuild settings sent by `to_data`; anything malformed gives the defaults, never an error
        (a worker must never fail because of what a recording sent it)."""
        if not (isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], dict)
                and isinstance(data[1], str)):
            return cls()
        try:
            checked = {str(name): check_seconds(value) for name, value in data[0].items()}
        except (TypeError, ValueError):
            return cls()
        return cls(MappingProxyType(checked), data[1])

    def __reduce__(self) -> tuple:  # MappingProxyType does not pickle
        return (Settings.from_data, (self.to_data(),))


def check_seconds(value: object, what: str = "segundos") -> float:
    """`value` as a float if it is a sensible duration (an int or float from 0 to MAX_SECONDS), else raise."""
    return validate.number(value, what, 0, MAX_SECONDS, unit="segundos", note="no máximo uma hora")


def _time_scale_text() -> str:
    return os.environ.get("CONCTUTOR_TIME_SCALE", "")


def parse_time_scale(text: str) -> float:
    """The factor that ``CONCTUTOR_TIME_SCALE=text`` means: 1.0 when empty; a decimal comma is fine."""
    raw = text.strip()
    if not raw:
        return 1.0
    try:
        scale = float(raw.replace(",", ".", 1) if raw.count(",") == 1 and "." not in raw else raw)
    except ValueError:
        scale = math.nan
    if not (0 < scale <= MAX_TIME_SCALE):
        raise ValueError(
            f"CONCTUTOR_TIME_SCALE deve ser um número maior que 0 e no máximo {MAX_TIME_SCALE:g} "
            f"(por exemplo 0.05 para rodar 20 vezes mais rápido); recebido {text!r}"
        )
    return scale


def time_scale() -> float:
    """The factor from ``CONCTUTOR_TIME_SCALE`` (default 1.0) applied to the chapter's durations."""
    return parse_time_scale(_adopted.time_scale_text if _adopted is not None else _time_scale_text())


def register_default(task_name: str, seconds: float) -> None:
    _defaults[task_name] = check_seconds(seconds, f"duração padrão de {task_name}")


def get_durations() -> dict[str, float]:
    """The current default duration of each chapter task, in unscaled seconds."""
    return dict(_defaults)


class Durations(Mapping[str, float]):
    """The chapter tasks' durations for one run, task name → seconds: checked once, where they enter
    (`check_durations`), and passed on as they are from the slider to the task."""

    __slots__ = ("_seconds",)

    def __init__(self, seconds: Mapping[str, float] | None = None) -> None:
        self._seconds = dict(seconds or {})

    def __getitem__(self, name: str) -> float:
        return self._seconds[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._seconds)

    def __len__(self) -> int:
        return len(self._seconds)

    def __repr__(self) -> str:
        return f"Durations({self._seconds!r})"


def check_durations(durations: object) -> Durations:
    """`durations` as checked `Durations` (known task names, valid seconds), or a clear error; checked
    `Durations` pass as they are."""
    if isinstance(durations, Durations):
        return durations
    if durations is None:
        return Durations()
    if not isinstance(durations, Mapping):
        raise TypeError(
            "as durações devem ser um dicionário de nome da tarefa para segundos, como "
            f"{{'grava_log': 1.0}}; recebido {type(durations).__name__}: {durations!r}"
        )
    unknown = sorted(str(name) for name in durations if name not in _defaults)
    if unknown:
        raise ValueError(
            f"tarefa(s) desconhecida(s): {', '.join(unknown)}; as tarefas são: {', '.join(sorted(_defaults))}"
        )
    return Durations({str(name): check_seconds(value, str(name)) for name, value in durations.items()})


def set_durations(**seconds_by_task: float) -> dict[str, float]:
    """Change the default duration of the chapter's tasks (what the sliders do).

    ``set_durations(consulta_dados=1.0, calcula=0.5)``; returns the previous
    values, so ``set_durations(**previous)`` restores them. The new values
    travel with the work into worker processes under every start method.
    """
    checked = check_durations(seconds_by_task)
    previous = {name: _defaults[name] for name in checked}
    _defaults.update(checked)
    return previous


def current(durations: Mapping[str, float] | None = None) -> Settings:
    """The settings in force here, with `durations` (one block's) on top."""
    if _adopted is not None and not durations:
        return _adopted
    in_force = dict(_defaults)
    if _adopted is not None:
        in_force.update(_adopted.durations)
    if durations:
        in_force.update(durations)
    text = _adopted.time_scale_text if _adopted is not None else _time_scale_text()
    return Settings(MappingProxyType(in_force), text)


def adopt(settings: Settings | None) -> None:
    """In a worker process: use the settings of the process that sent the work (None: our own)."""
    global _adopted
    _adopted = settings


def effective_seconds(task_name: str, segundos: object, durations: Mapping[str, float] | None) -> float:
    """The duration a chapter task's call really uses: explicit or default, times the time scale."""
    if segundos is None:
        if durations and task_name in durations:
            seconds = durations[task_name]
        elif _adopted is not None and task_name in _adopted.durations:
            seconds = _adopted.durations[task_name]
        else:
            seconds = _defaults[task_name]
    else:
        seconds = check_seconds(segundos)
    return seconds * time_scale()
