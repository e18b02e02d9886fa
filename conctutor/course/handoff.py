"""Handing items from one worker to another through a queue (notebook 05).

The two ends of a producer and a consumer, kept in a module so that worker
processes started with spawn or forkserver can import them (functions
defined in a notebook cell cannot travel there). The same two functions
work with `queue.Queue` between threads and with `multiprocessing.Queue` or
a `multiprocessing.Manager().Queue()` between processes.
"""

from __future__ import annotations

from typing import Any

from ..engine.recorder import task

FIM = None
"""What the producer puts last: the consumer that takes it knows there is nothing more."""


@task
def envia(fila: Any, quantos: int) -> None:
    """Põe os números de 0 a ``quantos - 1`` na fila e, no fim, `FIM` (None)."""
    for numero in range(quantos):
        fila.put(numero)
    fila.put(FIM)


@task
def recebe(fila: Any, pronta: Any = None) -> int:
    """Tira itens da fila até achar `FIM`; devolve quantos itens tirou.

    ``pronta``, se for dado, é um evento (`threading.Event` ou `multiprocessing.Event`)
    que `recebe` liga ao começar: quem espera por ele sabe que o consumidor já roda.
    """
    if pronta is not None:
        pronta.set()
    recebidos = 0
    while fila.get() is not FIM:
        recebidos += 1
    return recebidos
