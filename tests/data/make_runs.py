"""How the saved runs that the drawing tests load were made (tests/test_drawing.py, test_live.py, test_widgets.py):
real runs, recorded once with conctutor at commit bcef0a4 (format 3) on a 2-core Linux VM, so that the tests of
figures, frames and printed summaries draw real data without recording it again. Kept so the files can be
understood and made again:

    CONCTUTOR_TIME_SCALE=0.02 python tests/data/make_runs.py tests/data [run-threads.json ...]

(the files named, or all of them). Each run is what a test module recorded before in a fixture or test of its own
(the bodies are theirs, unchanged). The 64 threads of test_drawing.py are still recorded there: the test counts
their 10 240 spans, and the file would weigh 1.7 MB.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gzip
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

import conctutor


@conctutor.task("io")
def tarefa_que_falha(segundos: float = 0.02) -> None:
    """A task that waits a little and then raises, like a failed request."""
    time.sleep(segundos)
    raise RuntimeError("falhou de propósito")


@conctutor.task("io")
def tarefa_interrompida(segundos: float = 0.02) -> None:
    """A task that is stopped (SystemExit) while it runs."""
    time.sleep(segundos)
    raise SystemExit("parada de propósito")


def chapter_sequential() -> None:
    """Notebook 01's main(): the chapter's sequential program."""
    dados = conctutor.consulta_dados()
    conctutor.processa_dados(dados)
    conctutor.grava_log()


def chapter_threads() -> None:
    """The chapter's thread example, verbatim apart from the timing prints."""
    with concurrent.futures.ThreadPoolExecutor() as executor:
        future = executor.submit(conctutor.consulta_dados)
        dados = future.result()
        executor.submit(conctutor.processa_dados, dados)
        executor.submit(conctutor.grava_log)


def failures() -> None:
    """A task that ends well, one that fails and one interrupted in a thread."""
    conctutor.consulta_dados()
    with contextlib.suppress(RuntimeError):
        tarefa_que_falha()
    with concurrent.futures.ThreadPoolExecutor(1) as pool, contextlib.suppress(SystemExit):
        pool.submit(tarefa_interrompida).result()


def one_lane() -> None:
    conctutor.grava_log()


def twelve_lanes() -> None:
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        for k in range(12):
            pool.submit(conctutor.grava_log, segundos=0.5 + k / 12)


ODD_NAMES = ("R$ 5 e R$ 10", "custa $3", "$_$ quebra o TeX", "a\udc80b")
ODD_WATCH = "R$ na fila $x^$"


def odd_names() -> None:
    """Tasks, asyncio tasks (lane labels) and a watched number (recorded with `ODD_WATCH`) named with dollars and a
    lone surrogate."""

    def named(name: str, function: Callable) -> Callable:
        function.__name__ = function.__qualname__ = name
        return conctutor.task("io")(function)

    async def espera() -> None:
        await asyncio.sleep(0.01)

    def conta() -> int:
        return 1

    async def main() -> None:
        named(ODD_NAMES[2], conta)()
        cara = named(ODD_NAMES[0], espera)
        await asyncio.gather(*(asyncio.create_task(cara(), name=name) for name in ODD_NAMES[1:]))

    asyncio.run(main())


MARKUP_NAME = "R$ 5 <e> R$ 10 & \udc80"
MARKUP_WATCH = "$x^$ <fila>"


def markup_names() -> None:
    """An asyncio task named with what SVG would read as markup, run in two lanes named with a dollar and a lone
    surrogate, and a watched number (recorded with `MARKUP_WATCH`) named likewise (tests/test_live.py)."""

    async def espera() -> None:
        await asyncio.sleep(0.01)

    espera.__name__ = espera.__qualname__ = MARKUP_NAME
    cara = conctutor.task("io")(espera)

    async def main() -> None:
        await asyncio.gather(*(asyncio.create_task(cara(), name=name) for name in ("custa $3", "a\udc80b")))

    asyncio.run(main())


async def espera_curta(numero: int) -> None:
    await asyncio.sleep(0.2)
    if numero % 4000 == 3:
        raise RuntimeError("falhou de propósito")


def ten_thousand_tasks() -> None:
    """10 000 asyncio tasks in one thread, each a recorded wait of 0.2 s (scaled); three of them fail and one is
    named by the program, 'vigia' (tests/test_folding.py: the figure folds the others into one band)."""
    recorded = conctutor.task("io")(espera_curta)

    async def main() -> None:
        tarefas = [asyncio.create_task(recorded(numero)) for numero in range(9_999)]
        tarefas.append(asyncio.create_task(recorded(1), name="vigia"))
        await asyncio.gather(*tarefas, return_exceptions=True)

    asyncio.run(main())


RUNS: dict[str, tuple[Callable[[], None], dict]] = {
    "run-10000-tasks.json.gz": (ten_thousand_tasks, {}),
    "run-sequential.json": (chapter_sequential, {}),
    "run-threads.json": (chapter_threads, {}),
    "run-failures.json": (failures, {}),
    "run-one-lane.json": (one_lane, {}),
    "run-12-lanes.json": (twelve_lanes, {}),
    "run-odd-names.json": (odd_names, {"watch": {ODD_WATCH: lambda: 1}}),
    "run-markup-names.json": (markup_names, {"watch": {MARKUP_WATCH: lambda: 1}}),
}


def main(folder: Path, only: list[str]) -> None:
    for file, (program, options) in RUNS.items():
        if only and file not in only:
            continue
        with contextlib.redirect_stdout(io.StringIO()), conctutor.record(**options) as timeline:
            program()
        if file.endswith(".gz"):  # 10 000 lanes: 2.7 MB of JSON, a tenth of that compressed
            plain = folder / file.removesuffix(".gz")
            timeline.save(plain)
            with open(plain, "rb") as source, gzip.open(folder / file, "wb") as target:
                target.write(source.read())
            plain.unlink()
        else:
            timeline.save(folder / file)
        workers = sorted(set(timeline.workers))
        print(file, len(timeline.spans), "spans", workers if len(workers) <= 12 else f"{len(workers)} lanes")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
