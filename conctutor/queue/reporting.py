"""What every task that runs on `make_app`'s queues shares: the `QueueTask` base and what it reads from its message.

* `QueueTask` reports the end of its body to the worker's records
  (`on_body_end`), raises `BrokerUnavailable` in Portuguese when it cannot be
  published, and declares what it does (`QueueTask.kind`), which the records
  carry to the timeline.
* `requested_seconds`: how long a task asked to wait or compute must take in
  this worker, from the producer's defaults and time scale in the message.

The chapter's tasks themselves are in `conctutor.course.queue_tasks`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

from celery import Task
from kombu.exceptions import OperationalError

from ..engine.model import Kind
from ..engine.settings import time_scale


class BrokerUnavailable(ConnectionError):
    """The broker could not be reached: the message was not published."""


on_body_end: Callable[[Task, BaseException | None], None] | None = None
"""Set by `conctutor.queue.channel`: called in the worker when a task's body has
returned or raised, *before* Celery stores the result, so a producer that has
the result also finds the record of the execution's end."""


class QueueTask(Task):
    """A Celery task whose publishing errors speak Portuguese, and that reports when its body ended."""

    kind: Kind | None = None
    """What the task does: `Kind.IO` (waits), `Kind.CPU` (computes) or None (not declared: its worker's
    CPU time decides how it is drawn). Set with ``@shared_task(base=QueueTask, kind=Kind.IO)``."""
    needs: tuple[str, ...] = ()
    """The (short) names of the tasks whose results it needs: the ideal time waits for them."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            result = super().__call__(*args, **kwargs)
        except BaseException as error:
            if on_body_end is not None:
                on_body_end(self, error)
            raise
        if on_body_end is not None:
            on_body_end(self, None)
        return result

    def apply_async(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().apply_async(*args, **kwargs)
        except Exception as error:
            if not is_connection_problem(error):
                raise
            url = self.app.conf.broker_url
            raise BrokerUnavailable(
                f"não foi possível publicar a tarefa {self.name!r} no broker {safe_url(url)}: "
                f"{str(error).strip().rstrip('.')}. Verifique se o servidor (por exemplo o Redis) está "
                "rodando, e o endereço, a porta e a senha na URL do broker."
            ) from error


def kind_code(task: object) -> str:
    """The code of what `task` declares it does (``"io"``, ``"cpu"``), or ``""``: what a record carries."""
    kind = getattr(task, "kind", None)
    return kind.value if isinstance(kind, Kind) else ""


def needs_of(task: object) -> list[str]:
    """The names of the tasks whose results `task` declares it needs: what a record carries."""
    return [str(name) for name in getattr(task, "needs", ())]


def short_name(task_name: str) -> str:
    """``"conctutor.grava_log"`` → ``"grava_log"``."""
    return task_name.rsplit(".", 1)[-1]


def is_connection_problem(error: BaseException | None) -> bool:
    """True if `error`, or what caused it, says a server could not be reached."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, (OperationalError, OSError)) or type(error).__name__ in (
                "ConnectionError", "TimeoutError"):
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False


def safe_url(url: object) -> str:
    """The broker URL without its password."""
    text = str(url)
    if "@" in text and "://" in text:
        scheme, rest = text.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user + ':***' if ':' in credentials else user}@{host}"
    return text


def time_scale_from_environment() -> float | None:
    """``CONCTUTOR_TIME_SCALE`` of this process (1.0 when unset; None when invalid)."""
    try:
        return time_scale()
    except ValueError:
        return None


def is_finite_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def request_header(request: Any, key: str) -> Any:
    """A header the producer stamped on the message a task runs, or None."""
    value = getattr(request, key, None)
    if value is None:
        headers = getattr(request, "headers", None)
        if isinstance(headers, dict):
            value = headers.get(key)
    return value


def requested_seconds(task: Task, short_name: str, segundos: object) -> object:
    """The `segundos` to pass to the package's task in this worker.

    Explicit or the producer's default, scaled by the producer's time scale,
    then divided by this process's scale (which the package's task applies
    again), so the worker waits exactly what the producer asked for. Anything
    that is not a sensible number goes through unchanged: the package's task
    rejects it with its own message, and the error reaches ``AsyncResult.get()``.
    """
    if segundos is None:
        segundos = (request_header(task.request, "conctutor_defaults") or {}).get(short_name)
        if segundos is None:
            return None  # a message from elsewhere: this worker's own default
    sender_scale = request_header(task.request, "conctutor_scale")
    own_scale = time_scale_from_environment()
    if isinstance(segundos, numbers.Real) and isinstance(sender_scale, numbers.Real) and own_scale and \
            is_finite_number(segundos) and is_finite_number(sender_scale) and float(segundos) >= 0 \
            and float(sender_scale) > 0:
        return float(segundos) * float(sender_scale) / own_scale
    return segundos
