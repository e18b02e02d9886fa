"""Notebook 05 §13's two ends, ``envia`` and ``recebe`` (``conctutor.course.handoff``).

The cost per item is measured from ``envia``'s start with ``recebe`` already running (``pronta``), so that
starting a process (hundreds of milliseconds with spawn or forkserver) is not counted as passing items.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading

import pytest

from conctutor import checks, record
from conctutor.course.handoff import FIM, envia, recebe

ITEMS = 300


def _hand_over(fila: object, worker: type, pronta: object) -> tuple[object, object]:
    with record(quiet=True) as timeline:
        consumer = worker(target=recebe, args=(fila, pronta))
        consumer.start()
        assert pronta.wait(30)
        envia(fila, ITEMS)
        consumer.join(30)
    return checks.first(timeline, "envia"), checks.first(timeline, "recebe")


def test_between_threads_recebe_is_running_before_the_first_item_is_sent() -> None:
    sent, received = _hand_over(queue.Queue(), threading.Thread, threading.Event())
    assert received.start <= sent.start < received.end
    assert received.status == sent.status == "ok"


@pytest.mark.parametrize("method", multiprocessing.get_all_start_methods())
def test_between_processes_the_start_of_the_process_is_left_out(method: str) -> None:
    context = multiprocessing.get_context(method)
    sent, received = _hand_over(context.Queue(), context.Process, context.Event())
    assert received.worker != sent.worker
    # recebe sets pronta inside its span and envia starts after pronta.wait() returns: the process had started
    assert received.start <= sent.start < received.end
    assert received.status == sent.status == "ok"


def test_recebe_counts_the_items_before_fim_and_pronta_is_optional() -> None:
    fila: queue.Queue[int | None] = queue.Queue()
    for item in (*range(5), FIM, 99):
        fila.put(item)
    with record(quiet=True):
        assert recebe(fila) == 5
    assert fila.get_nowait() == 99  # nothing after FIM is taken
