"""The chapter's programs as importable functions, with knobs for the sliders.

Each function is the chapter's ``main()`` (same tasks, same submissions, same
prints), with the parts a slider changes turned into parameters: the number
of workers, the start method of the worker processes, how many more
``grava_log`` calls to submit. The notebooks show the chapter's code itself;
these copies exist so that a panel can re-run a program with other settings.

The last ones are notebook 05's programs (a race on a shared counter, a
producer and its consumers around a queue), for the images in ``imgs/``.

Only the *tasks* travel to worker processes, and they live in
`conctutor.tasks`, so these programs work under every start method.

``quiet=True`` silences the prints of worker processes (a panel re-runs the
program many times; under *spawn* and *forkserver* the workers' prints reach
the notebook late, in whatever cell is running then).
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import queue as queues
import sys
import threading
import time
from collections.abc import Callable
from queue import Queue
from typing import Any

from ..engine import validate
from ..engine.recorder import task
from ..engine.settings import check_seconds
from .handoff import FIM
from .tasks import calcula, consulta_dados, grava_log, processa_dados

MAX_WORKERS = 64
"""The most workers a program accepts (more is a typo, not a lesson)."""

MAX_EXTRA_LOGS = 50
MAX_COUNT = 50
MAX_ITEMS = 1000
MAX_MS = 10_000

MODELS = ("sequencial", "threads", "processos")
"""How `side_by_side` runs its tasks."""

TASKS: dict[str, Callable[..., Any]] = {"calcula": calcula, "grava_log": grava_log}
"""The tasks `side_by_side` can repeat: one CPU-bound, one that waits."""


# --- checking the knobs ---------------------------------------------------------


def check_workers(workers: object) -> int | None:
    """`workers` as an int from 1 to MAX_WORKERS, or None (the executor's default)."""
    if workers is None:
        return None
    return int(validate.number(workers, "o número de workers", 1, MAX_WORKERS, whole=True,
                               note="ou None para o padrão do executor; com 0, nenhuma tarefa rodaria"))


def check_count(value: object, what: str, low: int, high: int) -> int:
    return int(validate.number(value, what, low, high, whole=True))


def check_start_method(method: object) -> str | None:
    """`method` if this platform offers it ('fork', 'spawn', 'forkserver'), or None (the default)."""
    if method is None:
        return None
    return validate.choice(method, "o método de início (os que este sistema tem)",
                           multiprocessing.get_all_start_methods())


def quiet_worker() -> None:
    """Pool initializer: send this worker process's prints (stdout and stderr) nowhere.

    The parent still learns about failures: an exception in a task comes back
    through its future, and a worker that dies breaks the pool
    (``BrokenProcessPool``).
    """
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the worker
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115


def _process_pool(workers: int | None, start_method: str | None, quiet: bool) -> concurrent.futures.Executor:
    context = multiprocessing.get_context(start_method) if start_method else None
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=quiet_worker if quiet else None
    )


# --- the chapter's programs -------------------------------------------------------


def sequential() -> None:
    """The chapter's sequential program."""
    start = time.perf_counter()
    print("Inicio")
    dados = consulta_dados()
    processa_dados(dados)
    grava_log()
    print("fim")
    finish = time.perf_counter()
    print(f"Finished in {round(finish-start, 2)} second(s)")


def with_threads(workers: int | None = None, extra_logs: int = 0) -> None:
    """The chapter's ThreadPoolExecutor program; `extra_logs` more `grava_log` calls."""
    workers = check_workers(workers)
    extra_logs = check_count(extra_logs, "o número de grava_log a mais", 0, MAX_EXTRA_LOGS)
    _chapter_main(concurrent.futures.ThreadPoolExecutor(max_workers=workers), extra_logs)


def with_processes(
    workers: int | None = None, start_method: str | None = None, extra_logs: int = 0, quiet: bool = False
) -> None:
    """The chapter's program with a ProcessPoolExecutor; `extra_logs` more `grava_log` calls."""
    workers = check_workers(workers)
    start_method = check_start_method(start_method)
    extra_logs = check_count(extra_logs, "o número de grava_log a mais", 0, MAX_EXTRA_LOGS)
    _chapter_main(_process_pool(workers, start_method, quiet), extra_logs)


def _chapter_main(pool: concurrent.futures.Executor, extra_logs: int) -> None:
    """The chapter's ``main()`` with a given executor (created, not yet entered)."""
    start = time.perf_counter()
    print("Inicio")
    with pool as executor:
        future = executor.submit(consulta_dados)
        dados = future.result()
        futures = [executor.submit(processa_dados, dados), executor.submit(grava_log)]
        futures += [executor.submit(grava_log) for _ in range(extra_logs)]
    finish = time.perf_counter()
    for future in futures:
        future.result()  # a task that failed (or a worker that died) is not silent
    print("fim")
    print(f"Finished in {round(finish-start, 2)} second(s)")


def side_by_side(
    task: str = "calcula",
    count: int = 2,
    model: str = "threads",
    workers: int | None = None,
    start_method: str | None = None,
    quiet: bool = False,
) -> None:
    """Run `count` copies of one task: one after another, in threads or in processes."""
    if task not in TASKS:
        raise ValueError(f"tarefa {task!r} desconhecida; use uma destas: {', '.join(TASKS)}")
    if model not in MODELS:
        raise ValueError(f"modelo {model!r} desconhecido; use um destes: {', '.join(MODELS)}")
    count = check_count(count, "o número de tarefas", 1, MAX_COUNT)
    workers = check_workers(workers)
    start_method = check_start_method(start_method)
    function = TASKS[task]
    if model == "sequencial":
        for _ in range(count):
            function()
        return
    if model == "threads":
        pool: concurrent.futures.Executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
    else:
        pool = _process_pool(workers, start_method, quiet)
    with pool as executor:
        futures = [executor.submit(function) for _ in range(count)]
    for future in futures:
        future.result()


# --- notebook 05: synchronisation and queues ---------------------------------------

contador = 0
"""The counter `race` updates without a lock: a module global, like the notebook's."""


@task
def incrementa(segundos: float) -> None:
    """Add 1 to `contador` the unsafe way: read it, pause `segundos`, write it."""
    global contador
    valor = contador
    time.sleep(segundos)
    contador = valor + 1


def race(threads: int = 2, times: int = 4, pause_s: float = 0.05) -> int:
    """Notebook 05's race: `threads` threads call `incrementa` `times` times each, no lock.

    `contador` starts at 0; returns its value at the end. Threads that read
    it while another one pauses write the same result, so it ends below
    ``threads * times`` (4 instead of 8 with the defaults).
    """
    global contador
    threads = check_count(threads, "o número de threads", 1, MAX_WORKERS)
    times = check_count(times, "o número de somas por thread", 1, MAX_COUNT)
    pause_s = check_seconds(pause_s, "pause_s")

    def repeat() -> None:
        for _ in range(times):
            incrementa(pause_s)

    contador = 0
    workers = [threading.Thread(target=repeat) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return contador


@task
def produz(item: int, segundos: float) -> int:
    """Prepare one item (it takes `segundos`)."""
    time.sleep(segundos)
    return item


@task
def trata(item: int, segundos: float) -> None:
    """Handle one item (it takes `segundos`)."""
    time.sleep(segundos)


SHUTDOWN_NEEDS = (3, 13)
"""The first Python whose `queue.Queue` has ``shutdown()`` and ``queue.ShutDown``."""
_SHUT_DOWN: Any = getattr(queues, "ShutDown", ())  # ``except ()`` catches nothing: older Pythons


def has_queue_shutdown() -> bool:
    """Whether this Python's `queue.Queue` can be shut down (3.13+)."""
    return hasattr(Queue, "shutdown")


def _consumer(queue: Queue, seconds: float) -> None:
    while True:
        try:
            item = queue.get()
        except _SHUT_DOWN:  # the queue was shut down and is empty
            break
        if item is FIM:
            break
        trata(item, seconds)


def _check_ms(value: object, what: str) -> float:
    return validate.number(value, what, 0, MAX_MS, unit="milissegundos")


def producer_consumer(
    consumers: int = 2, items: int = 20, produce_ms: float = 20, handle_ms: float = 60, queue: Queue | None = None,
    shutdown: bool = False,
) -> None:
    """Notebook 05's producer and consumers: this thread `produz` items into `queue`, threads `trata` them.

    `consumers` threads take items from the queue until each takes a `FIM`, or, with `shutdown`
    (Python 3.13+, notebook 05's section 14), until ``get()`` raises ``queue.ShutDown``: the
    producer ends with one ``queue.shutdown()`` instead of one `FIM` per consumer.
    Pass your own `queue` to watch it (``record(watch={"itens na fila":
    fila.qsize})``); by default the program makes one. The consumers get
    their `FIM` (or the queue is shut down) and are joined also when producing fails.
    """
    if shutdown and not has_queue_shutdown():
        raise RuntimeError("queue.Queue.shutdown() só existe a partir do Python 3.13; este é mais antigo")
    consumers = check_count(consumers, "o número de consumidores", 1, MAX_WORKERS)
    items = check_count(items, "o número de itens", 0, MAX_ITEMS)
    produce_s = _check_ms(produce_ms, "produce_ms") / 1000
    handle_s = _check_ms(handle_ms, "handle_ms") / 1000
    if queue is None:
        queue = Queue()
    threads = [threading.Thread(target=_consumer, args=(queue, handle_s)) for _ in range(consumers)]
    for thread in threads:
        thread.start()
    try:
        for number in range(items):
            queue.put(produz(number, produce_s))
    finally:
        if shutdown:
            queue.shutdown()  # type: ignore[attr-defined,unused-ignore]  # 3.13+
        else:
            for _ in threads:
                queue.put(FIM)
        for thread in threads:
            thread.join()


# --- a loop of one's own, for the image of the GIL seen from outside -------------------------------


@task
def soma_quadrados(n: int) -> int:
    """Sum the squares of 0 .. n-1 the slow way: a plain loop, as a student would write it."""
    total = 0
    for i in range(n):
        total += i * i
    return total


def iterations_in(seconds: float) -> int:
    """How many turns of `soma_quadrados`'s loop this machine runs in about `seconds` of CPU."""
    seconds = check_seconds(seconds)
    plain = soma_quadrados.__wrapped__
    turns, start = 0, time.thread_time()
    while time.thread_time() - start < 0.05:
        plain(5_000)
        turns += 5_000
    return max(1, int(turns * seconds / (time.thread_time() - start)))


def own_loop_in_threads(threads: int = 2, n: int = 1_000_000) -> None:
    """`threads` threads each run `soma_quadrados(n)` (`iterations_in` says how long a loop takes).

    The function has no kind and says nothing about itself while it runs: what
    the timeline shows inside its spans (running, waiting for the GIL) comes
    from the sampler alone, as for any student's code.
    """
    threads = check_count(threads, "o número de threads", 1, MAX_WORKERS)
    n = check_count(n, "o número de voltas", 1, 10**9)
    start_line = threading.Barrier(threads)  # all start their loops together: none runs alone at first

    def loop() -> None:
        start_line.wait()
        soma_quadrados(n)

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
