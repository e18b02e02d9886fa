"""Regenerate the timelines in ``imgs/`` from real runs of the chapter's programs.

    python -m conctutor.imgs imgs/
    python -m conctutor.imgs imgs/ fila.png corrida.png     # only these

Writes ``sync.png`` (the sequential program), ``threads.png`` (the
ThreadPoolExecutor program), ``processos.png`` (the same program with a
ProcessPoolExecutor), ``gil.png`` (two ``calcula`` in threads), ``laco.png``
(a plain loop of one's own in two threads), and two of
notebook 05's programs with a number watched under the lanes: ``fila.png``
(a producer and two consumer threads, the items in the queue) and
``corrida.png`` (two threads updating a counter without a lock, the counter); and notebook 07's
``visibilidade.png`` (a task longer than Redis's ``visibility_timeout`` runs twice: it needs
Debian's ``redis-server``, which `redelivery` starts and stops).
``microscopio-com-gil.json`` and ``microscopio-sem-gil.json`` are notebook 05's race under the
microscope (`microscope.watch_race`: the run, the instants measured on its lanes and the lines the
notebook prints), kept for the Pythons that cannot make them: the first needs 3.12+ with the GIL
(``python3.14 -m conctutor.imgs imgs/ microscopio-com-gil.json``), the second a free-threaded build
(``python3.14t ...``); each is also drawn beside it, as ``microscopio-com-gil.png`` and
``microscopio-sem-gil.png``.
``fila_shutdown.json`` is not a picture but a saved run (`Timeline.save`):
notebook 05's producer and consumers that end with ``queue.Queue.shutdown()``,
which needs Python 3.13+; the notebook draws it on older Pythons. Make it with
a 3.13+ Python (``python3.14 -m conctutor.imgs imgs/ fila_shutdown.json``); an
older one, making every image, leaves it as it is and says why.
Every image is a recording of a run on this machine; the chapter's programs
run at the chapter's durations (2 s per task). ``gil.png`` uses two
``calcula`` of 0.2 s: the GIL hands over every few milliseconds, and over
4 s those slices would be too thin to see. ``laco.png`` is the same with a
loop of one's own (`programs.soma_quadrados`, about 0.2 s of CPU each), which
reports nothing about itself: its slices are what the sampler saw. It takes about 30 seconds; the
images are never edited by hand. Run it on a quiet machine: other busy
programs show up in the CPU strip.
"""

from __future__ import annotations

import argparse
import os
import platform
import queue
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..engine.python_build import gil_enabled
from ..engine.settings import get_durations, time_scale
from ..render.scene import format_seconds
from . import microscope, programs, redelivery
from .widgets import run_recorded

Watch = Mapping[str, Callable[[], float]]
"""What ``record(watch=...)`` takes: name -> function that reads a number."""


@dataclass(frozen=True)
class Image:
    """How to record one image."""

    title: str
    program: Callable[..., Any]
    durations: dict[str, float] = field(default_factory=dict)
    """Task durations for this run (the chapter's tasks)."""
    options: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of `program`."""
    setup: Callable[[], tuple[dict[str, Any], Watch]] | None = None
    """Called just before the run, for what must exist before ``record`` starts (the queue to
    watch, say): more keyword arguments of `program`, and the numbers to watch."""
    ideal: bool = True
    """Whether the figure gives the ideal time (not for locks and queues, where it means nothing)."""
    needs: tuple[int, int] = (3, 10)
    """The oldest Python that runs `program`. (A name ending in ``.json`` saves the run, not a figure.)"""
    records_itself: bool = False
    """`program` records its own run and returns the finished `Timeline` (a task queue's, with
    ``record_queue``), instead of being run inside ``record()``."""
    gil: bool | None = None
    """The build that runs `program`: with the GIL (True), without it (False), or either (None)."""
    keep: Callable[[Any, str], None] | None = None
    """Writes what `program` returned (it records itself) to the path, instead of a figure or a saved run."""


def watch_queue() -> tuple[dict[str, Any], Watch]:
    """A fresh queue for `programs.producer_consumer`, watched as "itens na fila"."""
    fila: queue.Queue = queue.Queue()
    return {"queue": fila}, {"itens na fila": fila.qsize}


def watch_counter() -> tuple[dict[str, Any], Watch]:
    """`programs.contador` from 0, watched as "contador" while `programs.race` updates it."""
    programs.contador = 0
    return {}, {"contador": lambda: programs.contador}


def loop_of_02_seconds() -> tuple[dict[str, Any], Watch]:
    """`programs.own_loop_in_threads`'s loop sized to about 0.2 s of CPU, measured before the run."""
    return {"n": programs.iterations_in(0.2)}, {}


IMAGES: dict[str, Image] = {
    "sync.png": Image("Programa sequencial", programs.sequential),
    "threads.png": Image("Com ThreadPoolExecutor", programs.with_threads),
    "processos.png": Image("Com ProcessPoolExecutor", programs.with_processes),
    "gil.png": Image(
        "Duas calcula de 0,2 s em threads: o GIL",
        programs.side_by_side,
        {"calcula": 0.2},
        {"task": "calcula", "count": 2, "model": "threads"},
    ),
    "laco.png": Image(
        "Seu próprio laço em duas threads: o GIL",
        programs.own_loop_in_threads,
        options={"threads": 2},
        setup=loop_of_02_seconds,
    ),
    "fila.png": Image(
        "Um produtor, dois consumidores",
        programs.producer_consumer,
        options={"consumers": 2, "items": 20, "produce_ms": 20, "handle_ms": 60},
        setup=watch_queue,
        ideal=False,
    ),
    "corrida.png": Image(
        "Duas threads, um contador, nenhuma trava",
        programs.race,
        options={"threads": 2, "times": 4, "pause_s": 0.05},
        setup=watch_counter,
        ideal=False,
    ),
    "fila_shutdown.json": Image(
        "Fechando a fila com shutdown()",
        programs.producer_consumer,
        options={"consumers": 2, "items": 10, "produce_ms": 20, "handle_ms": 60, "shutdown": True},
        setup=watch_queue,
        ideal=False,
        needs=programs.SHUTDOWN_NEEDS,
    ),
    "visibilidade.png": Image(
        "Redis: tarefa de 6 s, visibility_timeout de 3 s",
        redelivery.record_redelivery,
        ideal=False,
        records_itself=True,
    ),
    # sys.monitoring is 3.12+; a free-threaded build, 3.13t+
    **{f"microscopio-{build}-gil.json": Image(
        f"A corrida ao microscópio, {build} GIL",
        microscope.watch_race,
        options={"threads": 4, "iterations": 5_000},
        records_itself=True,
        needs=(3, 12) if gil else (3, 13),
        gil=gil,
        keep=microscope.save_seen,
    ) for build, gil in (("com", True), ("sem", False))},
}


def record_image(image: Image) -> Any:
    """Run `image`'s program recorded, as `generate` does; returns the finished timeline (or what a program
    that records itself returns)."""
    if image.records_itself:
        return image.program(**image.options)
    options, watch = image.setup() if image.setup is not None else ({}, {})
    return run_recorded(image.program, image.durations, watch=watch or None, **image.options, **options)


def generate(directory: str, names: list[str] | None = None) -> list[str]:
    """Run each program recorded and save its figure in `directory`; returns the paths."""
    scale = time_scale()
    if scale != 1.0:
        raise SystemExit(
            f"CONCTUTOR_TIME_SCALE={os.environ.get('CONCTUTOR_TIME_SCALE')!r}: as imagens mostram as durações "
            "do capítulo; rode sem essa variável."
        )
    changed = {name: seconds for name, seconds in get_durations().items() if seconds != 2.0}
    if changed:
        raise SystemExit(f"durações diferentes das do capítulo (2 s): {changed}")
    os.makedirs(directory, exist_ok=True)
    written = []
    for name in names or list(IMAGES):
        if name not in IMAGES:
            raise SystemExit(f"imagem desconhecida: {name}; as imagens são: {', '.join(IMAGES)}")
        image = IMAGES[name]
        build = "com GIL" if image.gil else "sem GIL"
        unable = (f"{name} precisa do Python {'.'.join(map(str, image.needs))} ou mais novo; "
                  f"este é o {platform.python_version()}" if sys.version_info < image.needs else
                  f"{name} precisa de um Python {build}" if image.gil not in (None, gil_enabled()) else "")
        if unable:
            if names:
                raise SystemExit(unable)
            print(f"{unable}: ficou como estava")
            continue
        made = record_image(image)
        timeline = getattr(made, "timeline", made)
        path = os.path.join(directory, name)
        if image.keep is not None:
            image.keep(made, path)
            # and the figure a notebook draws from it, beside (for the README and the notes)
            figure = made.plot()
            figure.savefig(os.path.splitext(path)[0] + ".png", dpi=figure.dpi, facecolor=figure.get_facecolor())
        elif name.endswith(".json"):
            timeline.save(path)
        else:
            figure = timeline.plot(title=image.title, ideal=image.ideal)
            figure.savefig(path, dpi=figure.dpi, facecolor=figure.get_facecolor())
        print(f"{path}: {format_seconds(timeline.makespan)} medidos, ideal {format_seconds(timeline.ideal_time)}")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m conctutor.imgs", description=__doc__.splitlines()[0])
    parser.add_argument("directory", help="where to write the PNG files (the repository's imgs/)")
    parser.add_argument("names", nargs="*", help=f"only these images (default: all of {', '.join(IMAGES)})")
    arguments = parser.parse_args(argv)
    generate(arguments.directory, arguments.names or None)


if __name__ == "__main__":
    main(sys.argv[1:])
