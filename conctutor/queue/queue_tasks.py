"""The chapter's tasks as Celery tasks (notebook 07, "Filas de tarefas").

Each one calls the package's own task (`conctutor.consulta_dados`, ...), so it
prints and waits exactly like everywhere else. They are *shared* tasks: they
belong to whichever Celery app is current, the embedded one or one that points
at Redis (see `conctutor.taskqueue.make_app`).

A worker finds them by name, so they must live in a module both the producer
and the workers can import: a function defined in a notebook cell cannot be
found by a worker process.

``segundos=None`` means "the producer's default duration": the producer sends
its defaults (the sliders) and its ``CONCTUTOR_TIME_SCALE`` in the message
headers, so a worker on another machine waits as long as the producer asked.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable
from typing import Any

from celery import Task, shared_task
from kombu.exceptions import OperationalError

import conctutor

TASK_NAMES = ("consulta_dados", "processa_dados", "grava_log", "calcula", "falha", "grava_log_instavel", "baixa")
"""The short names of the tasks this module defines."""


class BrokerUnavailable(ConnectionError):
    """The broker could not be reached: the message was not published."""


on_body_end: Callable[[Task, BaseException | None], None] | None = None
"""Set by `conctutor.taskqueue`: called in the worker when a task's body has
returned or raised, *before* Celery stores the result, so a producer that has
the result also finds the record of the execution's end."""


class QueueTask(Task):
    """A Celery task whose publishing errors speak Portuguese, and that reports when its body ended."""

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
            if not _is_connection_problem(error):
                raise
            url = self.app.conf.broker_url
            raise BrokerUnavailable(
                f"não foi possível publicar a tarefa {self.name!r} no broker {_safe_url(url)}: "
                f"{str(error).strip().rstrip('.')}. Verifique se o servidor (por exemplo o Redis) está "
                "rodando, e o endereço, a porta e a senha na URL do broker."
            ) from error


def _is_connection_problem(error: BaseException | None) -> bool:
    """True if `error`, or what caused it, says a server could not be reached."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, (OperationalError, OSError)) or type(error).__name__ in (
                "ConnectionError", "TimeoutError"):
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False


def _safe_url(url: object) -> str:
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
    from ..engine.settings import time_scale

    try:
        return time_scale()
    except ValueError:
        return None


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _seconds(task: Task, short_name: str, segundos: object) -> object:
    """The `segundos` to pass to the package's task in this worker.

    Explicit or the producer's default, scaled by the producer's time scale,
    then divided by this process's scale (which the package's task applies
    again), so the worker waits exactly what the producer asked for. Anything
    that is not a sensible number goes through unchanged: the package's task
    rejects it with its own message, and the error reaches ``AsyncResult.get()``.
    """
    headers = _headers(task)
    if segundos is None:
        segundos = (headers.get("conctutor_defaults") or {}).get(short_name)
        if segundos is None:
            return None  # a message from elsewhere: this worker's own default
    sender_scale = headers.get("conctutor_scale")
    own_scale = time_scale_from_environment()
    if isinstance(segundos, numbers.Real) and isinstance(sender_scale, numbers.Real) and own_scale and \
            _is_number(segundos) and _is_number(sender_scale) and float(segundos) >= 0 and float(sender_scale) > 0:
        return float(segundos) * float(sender_scale) / own_scale
    return segundos


def _headers(task: Task) -> dict:
    request = task.request
    found = {}
    for key in ("conctutor_scale", "conctutor_defaults", "conctutor_rate"):
        value = getattr(request, key, None)
        if value is None and isinstance(getattr(request, "headers", None), dict):
            value = request.headers.get(key)
        if value is not None:
            found[key] = value
    return found


@shared_task(bind=True, base=QueueTask, name="conctutor.consulta_dados")
def consulta_dados(self: Task, segundos: float | None = None) -> str:
    """The chapter's `consulta_dados` in a worker: returns ``"dados"``."""
    return conctutor.consulta_dados(segundos=_seconds(self, "consulta_dados", segundos))


@shared_task(bind=True, base=QueueTask, name="conctutor.processa_dados")
def processa_dados(self: Task, dados: str, segundos: float | None = None) -> None:
    """The chapter's `processa_dados(dados)` in a worker."""
    return conctutor.processa_dados(dados, segundos=_seconds(self, "processa_dados", segundos))


@shared_task(bind=True, base=QueueTask, name="conctutor.grava_log")
def grava_log(self: Task, segundos: float | None = None) -> None:
    """The chapter's `grava_log` in a worker."""
    return conctutor.grava_log(segundos=_seconds(self, "grava_log", segundos))


@shared_task(bind=True, base=QueueTask, name="conctutor.calcula")
def calcula(self: Task, segundos: float | None = None) -> int:
    """The package's CPU-bound `calcula` in a worker: it computes until its thread has used `segundos`
    of CPU time, on whatever machine the worker runs."""
    return conctutor.calcula(segundos=_seconds(self, "calcula", segundos))


@shared_task(bind=True, base=QueueTask, name="conctutor.grava_log_instavel", max_retries=5)
def grava_log_instavel(self: Task, falhas: int = 1, segundos: float | None = None) -> None:
    """`grava_log` whose confirmation is lost in its first `falhas` executions, so Celery runs it again.

    The log line is written every time: a task that is retried runs *at least
    once*, maybe more, and must be safe to repeat.
    """
    conctutor.grava_log(segundos=_seconds(self, "grava_log", segundos))
    if isinstance(falhas, numbers.Integral) and self.request.retries < falhas:
        raise self.retry(exc=ConnectionError("a confirmação da gravação não chegou"), countdown=0)


@shared_task(bind=True, base=QueueTask, name="conctutor.baixa")
def baixa(self: Task, url: str) -> int:
    """`conctutor.workloads.baixa` in a worker (notebook 08): fetch `url`, return how many bytes came."""
    from ..course.workloads import baixa as fetch

    return fetch(url)


@shared_task(bind=True, base=QueueTask, name="conctutor.falha")
def falha(self: Task, mensagem: str = "falha proposital", segundos: float = 0.0) -> None:
    """Wait `segundos` (times the time scale) and raise ``RuntimeError(mensagem)``."""
    seconds = _seconds(self, "falha", segundos)
    if _is_number(seconds) and 0 <= seconds <= 3600:  # type: ignore[operator]
        time.sleep(float(seconds) * (time_scale_from_environment() or 1.0))  # type: ignore[arg-type]
    raise RuntimeError(mensagem)
