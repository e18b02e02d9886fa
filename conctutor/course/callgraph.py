"""Notebook 06's call graph (``asyncio.format_call_graph``, Python 3.14+) as an image, and its stored copy.

    png = text_png(shorten_paths(asyncio.format_call_graph(tarefa)), "... (Python 3.14.0)")
    display(Image(png))

On Python 3.14+ the notebook's cell captures the graph of its own tasks and shows it with `text_png`;
on older Pythons, which have no call graph, the same cell shows ``imgs/grafo-de-chamadas.png``, the
image that cell drew in a real run on Python 3.14. Both are images, so the cell's text output is the
same on every version. To make the stored image again, run the notebook under Python 3.14 (this
takes as long as the notebook, a minute or two) and keep that cell's image:

    .nox/tests-3-14-forkserver/bin/python -m conctutor.course.callgraph imgs/
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import re
import sys
import sysconfig
from pathlib import Path

STORED_NAME = "grafo-de-chamadas.png"
CELL_TAG = "grafo-de-chamadas"
"""The tag of the notebook cell that draws the graph."""
NOTEBOOK = Path("notebooks") / "06-asyncio.ipynb"

CELL_FILE = re.compile(r"[^'\"\s]*ipykernel_\d+[/\\]\d+\.py|<ipython-input-[^>]*>")
"""The file name IPython gives the code of a notebook cell (a temporary file, or the old pseudo-file)."""


def shorten_paths(text: str) -> str:
    """`text` (a call graph, a traceback) with the standard library's folder written `...` and the
    kernel's temporary file of a cell written `<célula>`, so that each line fits in a figure."""
    if not isinstance(text, str):
        raise TypeError(f"shorten_paths recebe um texto (str); recebeu {type(text).__name__}")
    text = CELL_FILE.sub("<célula>", text)
    paths = sysconfig.get_paths()
    folders = {os.path.dirname(os.__file__), paths.get("stdlib", ""), paths.get("platstdlib", "")}
    for folder in sorted((f.rstrip("/\\") for f in folders if f), key=len, reverse=True):
        text = text.replace(folder + os.sep, "..." + os.sep)
    return text


def text_png(text: str, title: str) -> bytes:
    """`text` (several lines, kept as they are) in a monospaced font under `title`, as PNG bytes."""
    if not isinstance(text, str) or not isinstance(title, str):
        raise TypeError(f"text_png recebe dois textos (str): o conteúdo e o título; recebeu "
                        f"{type(text).__name__} e {type(title).__name__}")
    from matplotlib.figure import Figure

    lines = text.expandtabs().rstrip("\n").split("\n") or [""]
    width = max(60, max(len(line) for line in lines))
    font = 10.0
    inches_per_char = font * 0.6 / 72  # a monospaced glyph is about 0.6 em wide
    line_height = font * 1.35 / 72
    title_width = len(title) * 12 * 0.62 / 72  # bold 12 pt, proportional: about 0.62 em a character
    figure = Figure(figsize=(max(width * inches_per_char, title_width) + 0.6, len(lines) * line_height + 0.9),
                    dpi=100)
    figure.patch.set_facecolor("white")
    figure.text(0.3 / figure.get_figwidth(), 1 - 0.25 / figure.get_figheight(), title, fontsize=12,
                fontweight="bold", va="top", ha="left")
    figure.text(0.3 / figure.get_figwidth(), 1 - 0.65 / figure.get_figheight(), "\n".join(lines),
                family="monospace", fontsize=font, va="top", ha="left", linespacing=1.35)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", facecolor="white")
    return buffer.getvalue()


def cell_image(notebook: dict) -> bytes:
    """The PNG shown by the executed notebook's call-graph cell (tagged `CELL_TAG`)."""
    for cell in notebook["cells"]:
        if CELL_TAG in cell.get("metadata", {}).get("tags", []):
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                if "image/png" in data:
                    return base64.b64decode(data["image/png"])
            raise SystemExit(f"a célula {CELL_TAG!r} não mostrou nenhuma imagem")
    raise SystemExit(f"nenhuma célula com a etiqueta {CELL_TAG!r} em {NOTEBOOK}")


def generate(directory: str) -> str:
    """Run notebook 06 top to bottom with this Python (3.14+) and save its call-graph image in `directory`."""
    if sys.version_info < (3, 14):
        raise SystemExit(f"o grafo de chamadas do asyncio precisa do Python 3.14+; este é o {sys.version.split()[0]}")
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, STORED_NAME)
    with open(path, "wb") as file:
        file.write(cell_image(notebook))
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m conctutor.course.callgraph",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("directory", help="where to write grafo-de-chamadas.png (the repository's imgs/)")
    print(generate(parser.parse_args(argv).directory))


if __name__ == "__main__":
    main(sys.argv[1:])
