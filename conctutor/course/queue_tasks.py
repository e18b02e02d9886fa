"""The chapter's tasks as Celery tasks (notebook 07, "Filas de tarefas"; notebook 08 uses `baixa`).

Each one calls the package's own task (`conctutor.consulta_dados`, ...), so it
prints and waits exactly like everywhere else. They are *shared* tasks: they
belong to whichever Celery app is current, the embedded one or one that points
at Redis (see `conctutor.taskqueue.make_app`, whose workers import this module
by name).

A worker finds them by name, so they must live in a module both the producer
and the workers can import: a function defined in a notebook cell cannot be
found by a worker process.

``segundos=None`` means "the producer's default duration": the producer sends
its defaults (the sliders) and its ``CONCTUTOR_TIME_SCALE`` in the message
headers, so a worker on another machine waits as long as the producer asked.
Each task declares what it does (``kind``): the queue's timeline draws a
waiting one as E/S and a computing one as running.
"""

from __future__ import annotations

import numbers
import time

from celery import Task, shared_task

from ..engine.model import Kind
from ..queue.reporting import QueueTask, is_finite_number, requested_seconds, time_scale_from_environment
from . import tasks

TASK_NAMES = ("consulta_dados", "processa_dados", "grava_log", "calcula", "falha", "grava_log_instavel",
              "grava_log_com_backoff", "baixa")
"""The short names of the tasks this module defines."""


@shared_task(bind=True, base=QueueTask, name="conctutor.consulta_dados", kind=Kind.IO)
def consulta_dados(self: Task, segundos: float | None = None) -> str:
    """The chapter's `consulta_dados` in a worker: returns ``"dados"``."""
    return tasks.consulta_dados(segundos=requested_seconds(self, "consulta_dados", segundos))


@shared_task(bind=True, base=QueueTask, name="conctutor.processa_dados", kind=Kind.IO, needs=("consulta_dados",))
def processa_dados(self: Task, dados: str, segundos: float | None = None) -> None:
    """The chapter's `processa_dados(dados)` in a worker."""
    return tasks.processa_dados(dados, segundos=requested_seconds(self, "processa_dados", segundos))


@shared_task(bind=True, base=QueueTask, name="conctutor.grava_log", kind=Kind.IO)
def grava_log(self: Task, segundos: float | None = None) -> None:
    """The chapter's `grava_log` in a worker."""
    return tasks.grava_log(segundos=requested_seconds(self, "grava_log", segundos))


@shared_task(bind=True, base=QueueTask, name="conctutor.calcula", kind=Kind.CPU)
def calcula(self: Task, segundos: float | None = None) -> int:
    """The package's CPU-bound `calcula` in a worker: it computes until its thread has used `segundos`
    of CPU time, on whatever machine the worker runs."""
    return tasks.calcula(segundos=requested_seconds(self, "calcula", segundos))


@shared_task(bind=True, base=QueueTask, name="conctutor.grava_log_instavel", max_retries=5, kind=Kind.IO)
def grava_log_instavel(self: Task, falhas: int = 1, segundos: float | None = None) -> None:
    """`grava_log` whose confirmation is lost in its first `falhas` executions, so Celery runs it again.

    The log line is written every time: a task that is retried runs *at least
    once*, maybe more, and must be safe to repeat.
    """
    tasks.grava_log(segundos=requested_seconds(self, "grava_log", segundos))
    if isinstance(falhas, numbers.Integral) and self.request.retries < falhas:
        raise self.retry(exc=ConnectionError("a confirmação da gravação não chegou"), countdown=0)


BACKOFF_MAX = 1
"""`grava_log_com_backoff`'s ``retry_backoff_max``: at most 1 s between tries. Celery counts the backoff in whole
seconds (1, 2, 4, 8... up to this), whatever ``CONCTUTOR_TIME_SCALE`` says: a larger maximum would make every run
of notebook 07, CI's too, wait that long."""


@shared_task(bind=True, base=QueueTask, name="conctutor.grava_log_com_backoff", kind=Kind.IO,
             autoretry_for=(ConnectionError,), retry_backoff=True, retry_backoff_max=BACKOFF_MAX,
             retry_jitter=False, max_retries=3)
def grava_log_com_backoff(self: Task, falhas: int = 1, segundos: float | None = None) -> None:
    """`grava_log_instavel`, but Celery itself schedules each new try (``autoretry_for``), after a wait that
    doubles from 1 s (``retry_backoff``) up to `BACKOFF_MAX` s, with no random part (``retry_jitter=False``).
    """
    tasks.grava_log(segundos=requested_seconds(self, "grava_log", segundos))
    if isinstance(falhas, numbers.Integral) and self.request.retries < falhas:
        raise ConnectionError("a confirmação da gravação não chegou")


@shared_task(bind=True, base=QueueTask, name="conctutor.baixa", kind=Kind.IO)
def baixa(self: Task, url: str) -> int:
    """`conctutor.workloads.baixa` in a worker (notebook 08): fetch `url`, return how many bytes came."""
    from .workloads import baixa as fetch

    return fetch(url)


@shared_task(bind=True, base=QueueTask, name="conctutor.falha", kind=Kind.IO)
def falha(self: Task, mensagem: str = "falha proposital", segundos: float = 0.0) -> None:
    """Wait `segundos` (times the time scale) and raise ``RuntimeError(mensagem)``."""
    seconds = requested_seconds(self, "falha", segundos)
    if is_finite_number(seconds) and 0 <= seconds <= 3600:  # type: ignore[operator]
        time.sleep(float(seconds) * (time_scale_from_environment() or 1.0))  # type: ignore[arg-type]
    raise RuntimeError(mensagem)
