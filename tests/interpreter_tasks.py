"""What the subinterpreter tests send to another interpreter, by name: a module that imports only what
a subinterpreter can load (conctutor's recording modules, no numpy, no psutil)."""

from __future__ import annotations

import threading

from conctutor import calcula, task


@task(kind="cpu")
def laco(passos: int) -> int:
    """A fixed pure-Python loop (the tests' own: importable by name in every interpreter)."""
    total = 0
    for i in range(passos):
        total = (total + i * i) % 1_000_003
    return total


@task
def duas_threads(segundos: float) -> None:
    """Two `calcula` in two threads of the interpreter that runs this."""
    threads = [threading.Thread(target=calcula, args=(segundos,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def chama_laco(passos: int) -> int:
    """A plain function that calls a recorded one."""
    return laco(passos)


def ids_here() -> tuple[int, int, int]:
    from conctutor.engine import subinterpreters

    return subinterpreters.INTERPRETER_ID, subinterpreters.ID_BASE, subinterpreters.own_gil_address()
