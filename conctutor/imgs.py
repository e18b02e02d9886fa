"""Regenerate the timelines in ``imgs/`` from real runs of the chapter's programs.

    python -m conctutor.imgs imgs/

Writes ``sync.png`` (the sequential program), ``threads.png`` (the
ThreadPoolExecutor program), ``processos.png`` (the same program with a
ProcessPoolExecutor) and ``gil.png`` (two ``calcula`` in threads). Every
image is a recording of a run on this machine; the chapter's programs run at
the chapter's durations (2 s per task). ``gil.png`` uses two ``calcula`` of
0.2 s: the GIL hands over every few milliseconds, and over 4 s those slices
would be too thin to see. It takes about 15 seconds; the images are never
edited by hand. Run it on a quiet machine: other busy programs show up in the
CPU strip.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from . import programs
from .settings import get_durations, time_scale
from .widgets import run_recorded

IMAGES: dict[str, tuple[str, Callable[..., None], dict[str, float], dict]] = {
    # file: (title, program, task durations, program options)
    "sync.png": ("Programa sequencial", programs.sequential, {}, {}),
    "threads.png": ("Com ThreadPoolExecutor", programs.with_threads, {}, {}),
    "processos.png": ("Com ProcessPoolExecutor", programs.with_processes, {}, {}),
    "gil.png": (
        "Duas calcula de 0,2 s em threads: o GIL",
        programs.side_by_side,
        {"calcula": 0.2},
        {"task": "calcula", "count": 2, "model": "threads"},
    ),
}


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
        title, program, durations, options = IMAGES[name]
        timeline = run_recorded(program, durations, **options)
        figure = timeline.plot(title=title)
        path = os.path.join(directory, name)
        figure.savefig(path, dpi=figure.dpi, facecolor=figure.get_facecolor())
        print(f"{path}: {timeline.makespan:.2f} s medidos, ideal {timeline.ideal_time:.2f} s")
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
