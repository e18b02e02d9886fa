"""Notebook 05's producer and consumers that end with ``queue.Queue.shutdown()`` (Python 3.13+).

The same program as the notebook's cell (section 14): this thread `produz`
items into a queue, consumer threads `trata` them until ``get()`` raises
``queue.ShutDown``, and the producer ends with one ``fila.shutdown()`` instead
of one `FIM` per consumer. The notebook runs its own copy where the Python has
``Queue.shutdown``; on older Pythons it draws the run that
``python -m conctutor.imgs imgs/ fila_shutdown.json`` recorded with this
function on a 3.13+ Python and saved in ``imgs/``.
"""

from __future__ import annotations

import queue as queues
import threading
from queue import Queue

from ..engine import validate
from .programs import MAX_ITEMS, MAX_MS, MAX_WORKERS, check_count, produz, trata

NEEDS = (3, 13)
"""The first Python whose `queue.Queue` has ``shutdown()`` and ``queue.ShutDown``."""


def has_shutdown() -> bool:
    """Whether this Python's `queue.Queue` can be shut down (3.13+)."""
    return hasattr(Queue, "shutdown")


def _consumer_until_shutdown(queue: Queue, seconds: float) -> None:
    while True:
        try:
            item = queue.get()
        except queues.ShutDown:  # type: ignore[attr-defined,unused-ignore]  # 3.13+
            break
        trata(item, seconds)


def producer_shutdown(
    consumers: int = 2, items: int = 10, produce_ms: float = 20, handle_ms: float = 60, queue: Queue | None = None
) -> None:
    """This thread `produz` `items` items into `queue`; `consumers` threads `trata` them until it is shut down.

    Pass your own `queue` to watch it (``record(watch={"itens na fila": fila.qsize})``). The queue is
    shut down (and the consumers joined) also when producing fails. Needs Python 3.13+: on an older
    one, a `RuntimeError` says so before anything runs.
    """
    if not has_shutdown():
        raise RuntimeError("queue.Queue.shutdown() só existe a partir do Python 3.13; este é mais antigo")
    consumers = check_count(consumers, "o número de consumidores", 1, MAX_WORKERS)
    items = check_count(items, "o número de itens", 0, MAX_ITEMS)
    produce_s = validate.number(produce_ms, "produce_ms", 0, MAX_MS, unit="milissegundos") / 1000
    handle_s = validate.number(handle_ms, "handle_ms", 0, MAX_MS, unit="milissegundos") / 1000
    if queue is None:
        queue = Queue()
    threads = [threading.Thread(target=_consumer_until_shutdown, args=(queue, handle_s)) for _ in range(consumers)]
    for thread in threads:
        thread.start()
    try:
        for number in range(items):
            queue.put(produz(number, produce_s))
    finally:
        queue.shutdown()  # type: ignore[attr-defined,unused-ignore]  # no FIM: get() raises ShutDown once empty
        for thread in threads:
            thread.join()
