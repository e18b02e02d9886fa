"""Notebook 06's call-graph image (conctutor.course.callgraph): text drawn as a PNG, and the stored copy."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from conctutor.course.callgraph import CELL_TAG, NOTEBOOK, STORED_NAME, cell_image, shorten_paths, text_png

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _size(png: bytes) -> tuple[int, int]:
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def test_text_becomes_a_png_as_tall_as_its_lines_and_as_wide_as_the_longest() -> None:
    short = text_png("* Task(name='a')\n  + Call stack:", "título")
    taller = text_png("\n".join(["linha"] * 40), "título")
    wider = text_png("x" * 200, "título")
    assert short.startswith(PNG_SIGNATURE)
    assert _size(taller)[1] > _size(short)[1]
    assert _size(wider)[0] > _size(short)[0]
    assert _size(text_png("linha", "um título bem mais comprido que as sessenta colunas do texto, que não cabe"))[0] \
        > _size(short)[0]  # a long title widens the image instead of being cut


def test_text_png_says_what_it_takes() -> None:
    with pytest.raises(TypeError, match="dois textos"):
        text_png(b"bytes", "título")  # type: ignore[arg-type]


def test_the_stored_image_is_a_png_and_the_notebook_cell_shows_it_below_python_314() -> None:
    stored = ROOT / "imgs" / STORED_NAME
    assert stored.read_bytes().startswith(PNG_SIGNATURE)
    notebook = json.loads((ROOT / NOTEBOOK).read_text(encoding="utf-8"))
    (cell,) = [c for c in notebook["cells"] if CELL_TAG in c.get("metadata", {}).get("tags", [])]
    source = "".join(cell["source"])
    assert f'Image(filename="../imgs/{STORED_NAME}")' in source
    assert "sys.version_info >= (3, 14)" in source
    assert cell_image(notebook).startswith(PNG_SIGNATURE)  # the stored output: an image, on every version


@pytest.mark.skipif(sys.version_info < (3, 14), reason="asyncio.format_call_graph é do Python 3.14+")
def test_the_call_graph_of_a_waiting_task_names_its_coroutines() -> None:
    async def inner(event: asyncio.Event) -> None:
        await event.wait()

    async def outer(event: asyncio.Event) -> None:
        await inner(event)

    async def main() -> str:
        event = asyncio.Event()
        waiting = asyncio.create_task(outer(event), name="esperando")
        await asyncio.sleep(0)
        text = asyncio.format_call_graph(waiting)  # type: ignore[attr-defined]
        event.set()
        await waiting
        return text

    text = asyncio.run(main())
    assert "name='esperando'" in text and "inner()" in text and "outer()" in text
    assert f"'...{os.sep}asyncio{os.sep}" in shorten_paths(text)  # Event.wait, in Python's own asyncio
    assert text_png(shorten_paths(text), "grafo").startswith(PNG_SIGNATURE)


def test_shorten_paths_keeps_the_file_names_and_drops_the_folders() -> None:
    tasks_py = os.path.join(os.path.dirname(asyncio.__file__), "tasks.py")
    text = (f"  |   File '{tasks_py}', line 705, in async sleep()\n"
            "  |   File '/tmp/ipykernel_16349/2841359205.py', line 9, in async trata()\n"
            "  |   File '<ipython-input-3-0123abcd>', line 2, in async main()\n"
            "  |   File '/home/aluna/meu_programa.py', line 7, in async main()")
    short = shorten_paths(text).splitlines()
    assert short[0] == f"  |   File '...{os.sep}asyncio{os.sep}tasks.py', line 705, in async sleep()"
    assert short[1] == "  |   File '<célula>', line 9, in async trata()"
    assert short[2] == "  |   File '<célula>', line 2, in async main()"
    assert short[3] == "  |   File '/home/aluna/meu_programa.py', line 7, in async main()"  # not Python's own


def test_shorten_paths_says_what_it_takes() -> None:
    with pytest.raises(TypeError, match="um texto"):
        shorten_paths(None)  # type: ignore[arg-type]
