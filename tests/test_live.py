"""The live timeline: frames while the program runs, the final figure after.

No timing assertions here (the box is small and noisy); the speed targets are
measured by benchmarks/bench_live.py. Tests of what a frame shows draw runs saved in
tests/data/ (tests/data/make_runs.py says how); tests of the live view record.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
import time
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import ClassVar

import pytest

from conctutor import Timeline, consulta_dados, grava_log, processa_dados, record
from conctutor.course.widgets import run_live, show_live
from conctutor.render.live import TEXT, LiveView, figure_bundle, open_view
from conctutor.render.scene import axis_end, build_scene, nice_ceiling
from conctutor.render.svg import render

DATA = Path(__file__).parent / "data"


class FakeTarget:
    """Keeps what a notebook would have shown."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.frames: list[tuple[str, Timeline]] = []
        self.final = None
        self.fail_after = fail_after

    def show(self, svg: str, snapshot: Timeline) -> None:
        if self.fail_after is not None and len(self.frames) >= self.fail_after:
            raise OSError("the front-end went away")
        self.frames.append((svg, snapshot))

    def finish(self, figure) -> None:
        self.final = figure


def main_threads() -> None:
    with concurrent.futures.ThreadPoolExecutor() as executor:
        future = executor.submit(consulta_dados)
        dados = future.result()
        executor.submit(processa_dados, dados)
        executor.submit(grava_log)


def main_processes() -> None:
    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as executor:
        future = executor.submit(consulta_dados)
        dados = future.result()
        executor.submit(processa_dados, dados)
        executor.submit(grava_log)


@pytest.fixture
def long_tasks():
    """Each chapter task lasts 0.4 s whatever the time scale: frames surely land mid-run.

    (Starting a process pool with fork holds the GIL while the kernel's memory is
    copied: in a big process that pauses every other thread, the drawing one too,
    for tens of milliseconds. The default 0.1 s tasks can finish inside such a pause.)
    """
    from conctutor import set_durations
    from conctutor.engine.settings import time_scale

    seconds = 0.4 / time_scale()
    previous = set_durations(consulta_dados=seconds, processa_dados=seconds, grava_log=seconds)
    yield
    set_durations(**previous)


def run_recorded(program, target: FakeTarget) -> tuple:
    view = LiveView(target, interval=0.01)
    with record(live=view) as timeline:
        program()
    return timeline, view


@pytest.mark.parametrize("program", [main_threads, main_processes], ids=["threads", "processes"])
def test_frames_grow_while_the_program_runs(program, long_tasks) -> None:
    target = FakeTarget()
    timeline, view = run_recorded(program, target)

    counts = [len(snapshot.spans) for _, snapshot in target.frames]
    assert len(counts) >= 3, counts
    assert counts == sorted(counts), f"span counts must never shrink: {counts}"
    assert counts[0] < 3 and counts[-1] <= 3
    clocks = [round(snapshot.makespan, 3) for _, snapshot in target.frames]
    assert any(0 < c < 3 for c in counts), f"no frame caught the run in the middle: {counts} at {clocks}"
    clocks = [snapshot.makespan for _, snapshot in target.frames]
    assert clocks == sorted(clocks) and clocks[-1] > clocks[0]
    assert all(snapshot.live for _, snapshot in target.frames)
    assert len(view.frames) == len(target.frames)
    # every frame is a complete SVG document that says how many spans it holds
    for svg, snapshot in target.frames:
        root = ET.fromstring(svg)
        assert root.get("data-conctutor-frame") == str(len(snapshot.spans))
    # in-progress tasks: status "running", end = the frame's "now"
    running = [(s, snap) for _, snap in target.frames for s in snap.spans if s.status == "running"]
    assert running, "no frame showed a task in progress"
    for span, snap in running:
        assert span.end == pytest.approx(snap.makespan, abs=0.05)
    # the final figure replaced the frames, drawn from the finished timeline
    assert target.final is not None
    assert sorted(s.name for s in timeline.spans) == ["consulta_dados", "grava_log", "processa_dados"]
    assert all(s.status == "ok" for s in timeline.spans)
    assert not view._thread.is_alive()


@pytest.mark.parametrize("program", [main_threads, main_processes], ids=["threads", "processes"])
def test_a_task_in_progress_shows_as_waiting_while_it_sleeps(program, long_tasks) -> None:
    target = FakeTarget()
    run_recorded(program, target)
    seen = [
        span
        for _, snapshot in target.frames
        for span in snapshot.spans
        if span.status == "running" and span.duration > 0 and span.seconds and span.duration >= span.seconds / 3
    ]
    assert seen, "no frame caught a task well into its sleep"
    for span in seen:
        # it printed a line and went to sleep: nearly all of it is waiting, not running
        assert span.running_time < span.duration / 2, span


def test_live_without_a_notebook_just_records() -> None:
    view = open_view()
    assert view.target is None  # pytest is not a Jupyter kernel
    with record(live=True) as timeline:
        main_threads()
    assert len(timeline.spans) == 3
    assert not timeline.is_live


def test_the_final_figure_stays_when_the_program_fails() -> None:
    def failing() -> None:
        consulta_dados()
        raise RuntimeError("boom")

    target = FakeTarget()
    with pytest.raises(RuntimeError, match="boom"):
        run_live(failing, target)
    assert target.final is not None
    assert target.frames


def test_a_broken_front_end_does_not_stop_the_program() -> None:
    target = FakeTarget(fail_after=1)
    view = LiveView(target, interval=0.01)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with record(live=view) as timeline:
            main_threads()
    assert len(timeline.spans) == 3 and all(s.status == "ok" for s in timeline.spans)
    assert isinstance(view.error, OSError)
    assert any("ao vivo" in str(w.message) for w in caught)


def test_live_off_by_environment(monkeypatch) -> None:
    monkeypatch.setenv("CONCTUTOR_LIVE", "0")
    target = FakeTarget()
    timeline, _ = run_recorded(main_threads, target)
    assert target.frames == [] and target.final is not None
    assert len(timeline.spans) == 3


def test_frames_of_an_empty_and_of_a_finished_timeline() -> None:
    with record() as timeline:
        empty = render(build_scene(timeline.snapshot()))
    assert "nenhuma tarefa" in empty
    finished = Timeline.load(DATA / "run-threads.json")
    done = render(build_scene(finished))
    ET.fromstring(empty)
    ET.fromstring(done)
    assert "tempo total" in done and "consulta_dados" in done
    assert render(build_scene(finished, theme="projetor")) != done


def test_axis_moves_in_round_steps() -> None:
    assert [nice_ceiling(v) for v in (0.07, 0.1, 0.11, 1.3, 4.2, 9.5)] == [0.08, 0.1, 0.12, 1.5, 5.0, 10.0]
    assert axis_end(Timeline()) == 1.0


def test_figure_bundle_keeps_the_live_text() -> None:
    data, _ = figure_bundle(Timeline.load(DATA / "run-one-lane.json").plot())
    assert data["text/plain"] == TEXT
    assert "image/png" in data


def test_in_a_real_kernel_frames_are_display_updates_and_the_figure_stays() -> None:
    """Execute a cell in a Jupyter kernel (nbclient): what JupyterLab would receive and store."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")

    class Client(nbclient.NotebookClient):
        updates: ClassVar[list] = []

        def process_message(self, msg, cell, cell_index):
            if msg["msg_type"] == "update_display_data":
                self.updates.append(msg["content"])
            return super().process_message(msg, cell, cell_index)

    code = (
        "import concurrent.futures\n"
        "from conctutor import consulta_dados, processa_dados, grava_log, record\n"
        "with record(live=True) as timeline:\n"
        "    with concurrent.futures.ThreadPoolExecutor() as executor:\n"
        "        dados = executor.submit(consulta_dados, segundos=4).result()\n"
        "        executor.submit(processa_dados, dados, segundos=4)\n"
        "        executor.submit(grava_log, segundos=4)\n"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    client = Client(notebook, timeout=120, kernel_name="python3")
    client.execute()

    outputs = notebook.cells[0].outputs
    figures = [o for o in outputs if o.output_type == "display_data"]
    assert len(figures) == 1, outputs
    assert figures[0].data["text/plain"] == TEXT
    assert "image/png" in figures[0].data  # the final figure, in the live output's place
    frames = [u for u in Client.updates if "image/svg+xml" in u["data"]]
    assert len(frames) >= 2, f"{len(frames)} live frames reached the client"
    assert all(u["data"]["text/plain"] == TEXT for u in Client.updates)
    counts = [int(ET.fromstring(u["data"]["image/svg+xml"]).get("data-conctutor-frame")) for u in frames]
    assert counts == sorted(counts) and counts[-1] > counts[0], counts


def test_inside_an_output_widget_frames_go_to_an_html_widget() -> None:
    """The panel's case: an Output widget ignores display updates, so frames go to an HTML widget."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipywidgets")

    class Client(nbclient.NotebookClient):
        svg_values: ClassVar[list] = []

        def process_message(self, msg, cell, cell_index):
            if msg["msg_type"] == "comm_msg":
                value = msg["content"].get("data", {}).get("state", {}).get("value")
                if isinstance(value, str) and value.startswith("<svg"):
                    self.svg_values.append(value)
            return super().process_message(msg, cell, cell_index)

    code = (
        "import ipywidgets\n"
        "from conctutor import consulta_dados, grava_log, record\n"
        "from conctutor.live import open_view\n"
        "out = ipywidgets.Output()\n"
        "with out:\n"
        "    view = open_view()\n"
        "    with record(live=view) as timeline:\n"
        "        consulta_dados(segundos=4)\n"
        "        grava_log(segundos=4)\n"
        "print(type(view.target).__name__, len(view.frames))\n"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    Client(notebook, timeout=120, kernel_name="python3").execute()

    printed = "".join(o.get("text", "") for o in notebook.cells[0].outputs if o.output_type == "stream")
    kind, frames = printed.split()[-2:]
    assert kind == "WidgetTarget" and int(frames) >= 2, printed
    assert len(Client.svg_values) >= 2


def test_show_live_shows_a_run_that_records_itself() -> None:
    def run():
        with record() as timeline:
            main_threads()
        return timeline.final

    target = FakeTarget()
    result = show_live(run, target)
    assert len(result.spans) == 3 and not result.is_live
    assert target.frames and target.final is not None
    counts = [len(snapshot.spans) for _, snapshot in target.frames]
    assert counts == sorted(counts)


def test_nbval_accepts_a_live_cell_stored_by_nbclient(tmp_path) -> None:
    """Stored output: the final PNG; nbval (which ignores display updates) still matches it."""
    import subprocess
    import sys

    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("nbval")
    code = (
        "from conctutor import consulta_dados, grava_log, record\n"
        "with record(live=True) as timeline:\n"
        "    consulta_dados(segundos=4)\n"
        "    grava_log(segundos=4)\n"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    assert "image/png" in notebook.cells[0].outputs[0].data
    path = tmp_path / "live.ipynb"
    nbformat.write(notebook, path)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--nbval", str(path), "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


# --- every text of a frame fits, and is shown as written ---------------------------------------

SAVED_RUN = DATA / "run-0.2.0.json"
"""A real run saved by conctutor 0.2.0: threads, a worker process, asyncio tasks, a watched queue."""


def svg_texts_outside(svg: str) -> list[str]:
    """The <text> elements of `svg` that reach outside it, measured with matplotlib's own text layout
    of DejaVu Sans (the widest of the fonts the SVG names), kerning included."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    root = ET.fromstring(svg)
    width, height = float(root.get("width")), float(root.get("height"))
    measure = TextToPath()
    outside = []
    for element in root.iter("{http://www.w3.org/2000/svg}text"):
        content = "".join(element.itertext())
        if not content:
            continue
        size = float(element.get("font-size"))
        bold = element.get("font-weight") == "bold"
        # each piece in its own weight: the stats line's clock is a bold <tspan> in a regular line
        pieces = [(element.text or "", bold)]
        for child in element:
            pieces += [(child.text or "", bold or child.get("font-weight") == "bold"), (child.tail or "", bold)]
        w, h, descent = 0.0, 0.0, 0.0
        for text, heavy in pieces:
            if not text:
                continue
            font = FontProperties(family="DejaVu Sans", weight="bold" if heavy else "normal", size=size)
            piece_w, piece_h, piece_descent = measure.get_text_width_height_descent(text, font, ismath=False)
            w, h, descent = w + piece_w, max(h, piece_h), max(descent, piece_descent)
        x, y = float(element.get("x")), float(element.get("y"))
        anchor = element.get("text-anchor", "start")
        x0 = x - {"start": 0.0, "middle": w / 2, "end": w}[anchor]
        if x0 < -1 or x0 + w > width + 1 or y - (h - descent) < -1 or y + descent > height + 1:
            outside.append(f"{content!r}: x {x0:.0f}–{x0 + w:.0f} of {width:.0f}, y {y:.0f} of {height:.0f}")
    return outside


def _frames_of(timeline) -> list[str]:
    options = ({"title": "Um título comprido, como os que um professor escreve para projetar na aula"},
               {"prediction": 0.3}, {"cpu": False, "series": False})
    return [render(build_scene(timeline, theme=theme, **option)) for theme in ("padrao", "projetor")
            for option in options]


def test_every_text_of_a_frame_fits_in_it() -> None:
    started = threading.Event()

    def slow() -> None:
        started.set()
        grava_log(segundos=10)

    with record() as timeline:
        worker = threading.Thread(target=slow)
        worker.start()
        started.wait()
        while not timeline.spans:
            time.sleep(0.001)
        live_frames = _frames_of(timeline.snapshot())  # "gravando… tempo até agora" is the longest stats line
        worker.join()
    outside = []
    for frame in [*live_frames, *_frames_of(Timeline.load(SAVED_RUN)), *_frames_of(timeline.final)]:
        outside += svg_texts_outside(frame)
    assert not outside, "\n".join(outside)


def test_a_frame_shows_names_as_written_and_stays_valid_svg() -> None:
    # a task named "R$ 5 <e> R$ 10 & \udc80" in asyncio tasks "custa $3" and "a\udc80b", watching "$x^$ <fila>"
    timeline = Timeline.load(DATA / "run-markup-names.json")
    for theme in ("padrao", "projetor"):
        svg = render(build_scene(timeline, title="R$ 5 e R$ 10", theme=theme))
        texts = ["".join(element.itertext()) for element in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")]
        for expected in ("R$ 5 e R$ 10", "R$ 5 <e> R$ 10 & \ufffd", "principal · custa $3", "principal · a\ufffdb",
                         "$x^$ <fila>"):
            assert expected in texts, expected
        svg.encode("utf-8")  # no lone surrogate left


def test_a_prediction_is_drawn_in_the_frames_too() -> None:
    timeline = Timeline.load(DATA / "run-one-lane.json")
    scale = float(os.environ["CONCTUTOR_TIME_SCALE"])  # a prediction is of the chapter's durations: scaled
    svg = render(build_scene(timeline, prediction=0.5 / scale))
    assert "sua previsão: 0,50 s" in svg and 'stroke-dasharray="7 4"' in svg
    assert "previsto 0,50 s · medido" in svg


def test_a_live_view_takes_the_plot_options_and_refuses_unknown_ones() -> None:
    target = FakeTarget()
    view = open_view(target, ideal=False, prediction=0.2)
    with record(live=view):
        grava_log()
    assert target.frames and all("ideal" not in svg and "sua previsão" in svg for svg, _ in target.frames)
    with pytest.raises(TypeError, match="não tem a opção 'titulo' \\(seria 'title'\\?\\)"):
        open_view(target, titulo="x")
    with pytest.raises(ValueError, match="a previsão deve ser"):
        open_view(target, prediction=-1)
