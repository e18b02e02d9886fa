"""Tests of `conctutor.render.drawing`: every figure here is drawn from a real recording.

Most are runs saved once in tests/data/ (tests/data/make_runs.py says how), loaded: what is tested is the
figure, not the recording. Recorded here: the live ones (a timeline while its block runs) and the 64 threads
(its test counts every span it kept). The time scale makes the chapter's 2-second tasks take a few hundredths
of a second; ``segundos=0`` gives thousands of real (tiny) spans. Nothing here asserts a speed: see
benchmarks/bench_drawing.py for that.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import time

import matplotlib

matplotlib.use("Agg")

import pytest
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.text import Text

import conctutor
from conctutor.render import drawing
from conctutor.render.drawing import THEMES, Theme, get_theme, plot_timeline, use_theme

SCALE = "0.02"


@pytest.fixture(scope="module", autouse=True)
def fast_time_scale():
    previous = os.environ.get("CONCTUTOR_TIME_SCALE")
    os.environ["CONCTUTOR_TIME_SCALE"] = SCALE
    yield
    if previous is None:
        os.environ.pop("CONCTUTOR_TIME_SCALE", None)
    else:
        os.environ["CONCTUTOR_TIME_SCALE"] = previous


@pytest.fixture(autouse=True)
def default_theme():
    use_theme("padrao")
    yield
    use_theme("padrao")


DATA = os.path.join(os.path.dirname(__file__), "data")


def saved(file: str) -> conctutor.Timeline:
    """A real run saved in tests/data/ (made by tests/data/make_runs.py)."""
    return conctutor.Timeline.load(os.path.join(DATA, file))


def _many_logs(calls: int) -> None:
    for _ in range(calls):
        conctutor.grava_log(segundos=0)


def _record(body) -> conctutor.Timeline:
    with contextlib.redirect_stdout(io.StringIO()):
        with conctutor.record() as timeline:
            body()
    return timeline


@pytest.fixture(scope="module")
def threads_timeline() -> conctutor.Timeline:
    """The chapter's thread example (a ThreadPoolExecutor runs the three tasks)."""
    return saved("run-threads.json")


@pytest.fixture(scope="module")
def failing_timeline() -> conctutor.Timeline:
    """consulta_dados, then a task that raises, then one interrupted (SystemExit) in a thread."""
    return saved("run-failures.json")


@pytest.fixture(scope="module")
def mass_timeline() -> conctutor.Timeline:
    """64 threads, 160 spans each: 64 lanes and 10 240 real spans."""

    def body():
        workers = [threading.Thread(target=_many_logs, args=(160,)) for _ in range(64)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    return _record(body)


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def legend_texts(fig: Figure) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def lanes_axes(fig: Figure):
    return fig.axes[0]


def with_comma(value: float) -> str:
    """Two decimals after a comma, written here independently of the package."""
    return f"{value:.2f}".replace(".", ",")


# --- the chapter's thread example ------------------------------------------------


def test_returns_a_figure_that_draws(threads_timeline):
    fig = threads_timeline.plot()
    assert isinstance(fig, Figure)
    fig.canvas.draw()
    png = fig._repr_png_()
    assert png.startswith(b"\x89PNG")


def test_one_lane_per_worker(threads_timeline):
    fig = plot_timeline(threads_timeline)
    labels = [t.get_text() for t in lanes_axes(fig).get_yticklabels()]
    assert labels == threads_timeline.workers
    assert all(label.startswith("thread ") for label in labels)


def test_legend_names_tasks_and_states(threads_timeline):
    legend = legend_texts(plot_timeline(threads_timeline))
    for name in ("consulta_dados", "processa_dados", "grava_log"):
        assert name in legend
    assert "rodando (na CPU)" in legend
    assert "E/S" in legend  # the chapter's tasks wait for (simulated) I/O
    assert "esperando" not in legend  # no entry for what the figure does not draw
    assert not any(text.startswith("erro") for text in legend)  # nothing failed here


def test_total_and_ideal_time_written_with_decimal_comma(threads_timeline):
    fig = plot_timeline(threads_timeline, title="Threads")
    written = " | ".join(texts(fig))
    assert f"tempo total: {with_comma(threads_timeline.makespan)} s" in written
    assert f"ideal: {with_comma(threads_timeline.ideal_time)} s" in written
    assert "Threads" in written
    assert "tempo (s)" in written


def test_time_ticks_use_decimal_comma(threads_timeline):
    fig = plot_timeline(threads_timeline)
    fig.canvas.draw()
    ticks = [t.get_text() for t in fig.axes[-1].get_xticklabels() if t.get_text()]
    assert any("," in tick for tick in ticks)
    assert not any("." in tick for tick in ticks)


def test_cpu_strip_has_one_row_per_core_on_the_same_time_axis(threads_timeline):
    fig = plot_timeline(threads_timeline)
    cores = threads_timeline.cpu.cores
    assert cores >= 1
    lanes, strip = fig.axes[0], fig.axes[1]
    assert strip.get_shared_x_axes().joined(lanes, strip)
    labels = [t.get_text() for t in strip.get_yticklabels()]
    assert labels[0] == "núcleo 0"
    assert len(labels) <= cores
    assert strip.get_ylim() == (cores, 0)


def test_no_cpu_strip_when_asked(threads_timeline):
    fig = plot_timeline(threads_timeline, cpu=False)
    assert len(fig.axes) == 1


def test_each_task_drawn_running_and_waiting(threads_timeline):
    fig = plot_timeline(threads_timeline)
    polys = [c for c in lanes_axes(fig).collections if isinstance(c, PolyCollection)]
    palette = get_theme("padrao").palette
    solid = {tuple(c.get_facecolor()[0]) for c in polys if len(c.get_facecolor())}
    for index in range(3):  # consulta_dados, processa_dados, grava_log keep their colours
        assert to_rgba(palette[index]) in solid
    assert len(polys) >= 3


# --- failures, interruptions, live and empty timelines -----------------------------


def test_error_and_interrupted_are_marked(failing_timeline):
    statuses = {s.name: s.status for s in failing_timeline.spans}
    assert statuses["tarefa_que_falha"] == "error"
    assert statuses["tarefa_interrompida"] == "interrupted"
    theme = get_theme()
    fig = plot_timeline(failing_timeline)
    legend = legend_texts(fig)
    assert "erro (exceção)" in legend
    assert "interrompida" in legend
    assert "tarefa_que_falha" in legend
    edges = [
        tuple(c.get_edgecolor()[0]) for c in lanes_axes(fig).collections if len(c.get_edgecolor()) == 1
    ]
    assert to_rgba(theme.error_color) in edges
    assert to_rgba(theme.interrupted_color) in edges
    fig.canvas.draw()


def test_live_timeline_draws_running_tasks():
    started = threading.Event()

    def slow():
        started.set()
        conctutor.grava_log(segundos=10)  # 0.2 s at this time scale

    with contextlib.redirect_stdout(io.StringIO()):
        with conctutor.record() as timeline:
            worker = threading.Thread(target=slow)
            worker.start()
            started.wait()
            while not timeline.spans:
                time.sleep(0.001)
            fig = timeline.plot()
            fig.canvas.draw()
            worker.join()
    written = " | ".join(texts(fig))
    assert "gravando" in written
    assert "ainda rodando" in legend_texts(fig)
    assert timeline.spans[0].status == "ok"  # and after the block it is finished


def test_empty_timeline_draws_a_note():
    with conctutor.record() as timeline:
        pass
    assert timeline.spans == []
    fig = timeline.plot(title="nada")
    fig.canvas.draw()
    written = " | ".join(texts(fig))
    assert "nenhuma tarefa gravada" in written
    assert "tempo total: " in written


# --- many lanes, many spans -------------------------------------------------------------


def test_sixty_four_lanes_and_ten_thousand_spans(mass_timeline, threads_timeline):
    spans = mass_timeline.spans
    assert len(spans) == 64 * 160
    fig = plot_timeline(mass_timeline)
    fig.canvas.draw()
    labels = [t.get_text() for t in lanes_axes(fig).get_yticklabels()]
    assert labels == mass_timeline.workers
    assert len(labels) == 64
    # thin lanes: smaller labels, and a figure taller than for 2 lanes (up to the cap)
    small = plot_timeline(threads_timeline)
    assert lanes_axes(fig).get_yticklabels()[0].get_fontsize() < lanes_axes(small).get_yticklabels()[0].get_fontsize()
    assert small.get_figheight() < fig.get_figheight() <= get_theme().max_height + 1e-9
    # no labels on bars when there are thousands of them
    assert not [t for t in lanes_axes(fig).texts if t.get_text() == "grava_log"]


def test_projector_with_many_lanes_keeps_its_size(mass_timeline):
    fig = plot_timeline(mass_timeline, theme="projetor")
    fig.canvas.draw()
    width, height = fig.canvas.get_width_height()
    assert (width, height) == (1024, 768)
    # lanes too thin for a label each: every k-th lane labelled, and a tick only there
    labels = [t.get_text() for t in lanes_axes(fig).get_yticklabels()]
    every = -(-64 // len(labels))
    assert 1 < every < 64 and labels == mass_timeline.workers[::every], labels
    assert labels[0] == "thread 1"


# --- themes -------------------------------------------------------------------------


def test_projector_theme_is_big_and_fits_1024x768(threads_timeline):
    fig = plot_timeline(threads_timeline, theme="projetor", title="Threads")
    fig.canvas.draw()
    width, height = fig.canvas.get_width_height()
    assert width == 1024 and height <= 768
    ax = lanes_axes(fig)
    checked = [ax.title, fig._suptitle, *ax.get_yticklabels(), *fig.axes[-1].get_xticklabels(),
               fig.axes[-1].xaxis.label, *fig.legends[0].get_texts()]
    for text in checked:
        if text.get_text():
            assert text.get_fontsize() >= 20, text.get_text()
    # task names written on the bars
    on_bars = {t.get_text() for t in ax.texts}
    assert {"consulta_dados", "processa_dados", "grava_log"} <= on_bars


def test_use_theme_switches_later_figures(threads_timeline):
    assert conctutor.use_theme is use_theme
    default = threads_timeline.plot()
    chosen = conctutor.use_theme("projetor")
    assert chosen is THEMES["projetor"]
    projected = threads_timeline.plot()
    assert projected.get_figwidth() == pytest.approx(10.24)
    assert default.get_figwidth() != projected.get_figwidth()
    # one figure can still ask for another theme
    assert threads_timeline.plot(theme="padrao").get_figwidth() == default.get_figwidth()
    use_theme("padrão")  # the accent is fine too
    assert get_theme() is THEMES["padrao"]


def test_bad_theme_name_lists_the_allowed_ones():
    with pytest.raises(ValueError) as error:
        use_theme("escuro")
    for name in THEMES:
        assert name in str(error.value)
    with pytest.raises(ValueError):
        plot_timeline(conctutor.Timeline(), theme="nenhum")


def test_custom_theme_and_figsize(threads_timeline):
    import dataclasses

    theme = dataclasses.replace(get_theme("padrao"), name="meu", figure_width=6.0, bar_labels=False)
    assert isinstance(theme, Theme)
    fig = plot_timeline(threads_timeline, theme=theme)
    assert fig.get_figwidth() == pytest.approx(6.0)
    assert not lanes_axes(fig).texts
    fig = plot_timeline(threads_timeline, figsize=(8, 3))
    assert tuple(fig.get_size_inches()) == pytest.approx((8, 3))


def test_two_runs_side_by_side_in_subfigures(threads_timeline, failing_timeline):
    fig = Figure(figsize=(14, 4))
    left, right = fig.subfigures(1, 2)
    assert plot_timeline(threads_timeline, fig=left, title="A") is fig
    assert plot_timeline(failing_timeline, fig=right, title="B") is fig
    fig.savefig(io.BytesIO(), format="png")
    assert len(fig.axes) == 4


def test_merging_keeps_lanes_apart():
    import numpy as np

    starts = np.array([0.0, 0.1, 0.5, 0.0])
    ends = np.array([0.1, 0.2, 0.6, 0.05])
    lanes = np.array([0, 0, 0, 1])
    s, e, lane = drawing._merge(starts, ends, lanes, gap=0.01)
    assert list(zip(s.round(6), e.round(6), lane)) == [(0.0, 0.2, 0), (0.5, 0.6, 0), (0.0, 0.05, 1)]


def test_many_cores_become_shaded_rows(threads_timeline):
    import dataclasses

    from matplotlib.collections import QuadMesh

    # rows too thin for areas (as with 64 cores): one shaded row per core instead
    theme = dataclasses.replace(get_theme("padrao"), cpu_row_height=0.02, max_cpu_height=0.1)
    fig = plot_timeline(threads_timeline, theme=theme)
    fig.canvas.draw()
    assert any(isinstance(c, QuadMesh) for c in fig.axes[1].collections)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"figsize": "big"}, TypeError, "figsize"),
        ({"figsize": (0, 0)}, ValueError, "figsize"),
        ({"figsize": (10, float("nan"))}, ValueError, "figsize"),
        ({"figsize": (10,)}, TypeError, "figsize"),
        ({"figsize": (1e6, 3)}, ValueError, "figsize"),
        ({"title": 3}, TypeError, "title"),
        ({"cpu": "sim"}, TypeError, "cpu"),
        ({"theme": 7}, ValueError, "tema"),
        ({"fig": "figura"}, TypeError, "fig"),
    ],
)
def test_bad_options_fail_at_the_call_with_a_clear_message(threads_timeline, options, error, message):
    with pytest.raises(error, match=message):
        plot_timeline(threads_timeline, **options)


def test_the_png_a_notebook_shows_is_the_saved_figure_and_keeps_its_layout_engine(threads_timeline):
    import io

    import numpy as np
    from matplotlib.layout_engine import ConstrainedLayoutEngine
    from PIL import Image

    fig = threads_timeline.plot()
    shown = fig._repr_png_()
    assert isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine)
    saved = io.BytesIO()
    fig.savefig(saved, format="png", dpi=fig.dpi, facecolor=fig.get_facecolor())
    a, b = (np.asarray(Image.open(io.BytesIO(data))) for data in (shown, saved.getvalue()))
    assert a.shape == b.shape and (a == b).all()



# --- the words of a legend, and what its swatches look like ----------------------------------

@pytest.fixture(scope="module")
def saved_run() -> conctutor.Timeline:
    """A real run saved by conctutor 0.2.0: threads, a worker process, asyncio tasks, a watched queue."""
    return saved("run-0.2.0.json")


def swatch(fig: Figure, label: str) -> list:
    """The artists that make the legend swatch of the entry `label`."""
    from matplotlib.offsetbox import DrawingArea

    legend = fig.legends[0]
    first = legend.legend_handles[[t.get_text() for t in legend.get_texts()].index(label)]
    return next(area.get_children() for area in legend.findobj(DrawingArea)
                if any(child is first for child in area.get_children()))


def face_colours(artists: list) -> list[str]:
    from matplotlib.colors import to_hex

    return [to_hex(a.get_facecolor()) for a in artists if a.get_facecolor()[3] > 0]


def test_legend_says_each_state_in_the_drawings_words_and_saved_runs_keep_theirs(saved_run):
    from conctutor.engine.model import State
    from conctutor.render.words import STATE_WORDS

    assert STATE_WORDS == {
        State.RUNNING: "rodando (na CPU)", State.GIL: "esperando o GIL", State.READY: "pronta (sem núcleo livre)",
        State.IO: "E/S", State.BLOCKED: "bloqueada (trava, fila, evento)", State.QUEUED: "na fila",
        State.WAITING: "esperando",
    }
    # the data keep their values: a run saved by 0.2.0 loads, and its states are the old words
    assert {str(state) for span in saved_run.spans for _, _, state in span.waits} >= {"gil", "io"}
    legend = legend_texts(plot_timeline(saved_run))
    states = [text for text in legend if text in STATE_WORDS.values()]
    # only what the figure draws, in the order of STATE_WORDS
    assert states == ["rodando (na CPU)", "esperando o GIL", "E/S", "esperando"]
    assert "GIL" not in legend


def test_the_running_swatch_is_striped_in_the_colours_of_the_tasks_that_ran(saved_run):
    from matplotlib.colors import to_hex

    fig = plot_timeline(saved_run)
    ran = {span.name for span in saved_run.spans if span.running}
    task_colours = {name: face_colours(swatch(fig, name))[0] for name in ran}
    striped = face_colours(swatch(fig, "rodando (na CPU)"))
    assert len(ran) >= 2 and len(striped) == min(len(ran), 4)
    assert set(striped) <= set(task_colours.values())  # the tasks' own colours, as their bars are drawn
    assert to_hex("#6E6E6E") not in striped  # not the grey that matched no bar


def test_a_waiting_swatch_is_light_and_hatched_like_its_bars(threads_timeline):
    from matplotlib.colors import to_hex

    from conctutor.render.colours import lighten

    theme = get_theme()
    fig = plot_timeline(threads_timeline)
    artists = swatch(fig, "E/S")
    light = {to_hex(lighten(theme.palette[k], theme.wait_lighten)) for k in range(3)}
    assert set(face_colours(artists)) == light  # the three chapter tasks waited for I/O
    assert any(a.get_hatch() for a in artists)


# --- every text fits, in both themes ------------------------------------------------------------


def cut_texts(fig: Figure) -> list[str]:
    """The texts drawn (partly) outside the figure, after drawing it."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    hidden = set()  # tick labels outside the axis' view are not drawn
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            for tick, where in zip(axis.get_major_ticks(), axis.get_majorticklocs()):
                if not low - 1e-9 <= where <= high + 1e-9:
                    hidden.update((id(tick.label1), id(tick.label2)))
    cut = []
    for text in fig.findobj(Text):
        if not text.get_text() or not text.get_visible() or id(text) in hidden:
            continue
        extent = text.get_window_extent(renderer)
        if extent.x0 < box.x0 - 1 or extent.y0 < box.y0 - 1 or extent.x1 > box.x1 + 1 or extent.y1 > box.y1 + 1:
            cut.append(f"{text.get_text()!r} at {extent.bounds} in {box.bounds}")
    return cut


@pytest.fixture(scope="module")
def runs(threads_timeline, saved_run) -> dict[str, conctutor.Timeline]:
    """Typical runs: 1, 2, 8 (threads, a process, asyncio, with a watched number) and 12 lanes."""
    return {"1 lane": saved("run-one-lane.json"), "2 lanes": threads_timeline, "8 lanes": saved_run,
            "12 lanes": saved("run-12-lanes.json")}


LONG_TITLE = "Um título comprido, como os que um professor escreve para projetar na aula de hoje"


@pytest.mark.parametrize("theme", ["padrao", "projetor"])
def test_every_text_fits_in_the_figure(runs, theme):
    cut = []
    for name, timeline in runs.items():
        for options in ({"title": LONG_TITLE, "prediction": timeline.makespan * 0.6}, {"cpu": False},
                        {"series": False, "title": "Curto"}):
            fig = plot_timeline(timeline, theme=theme, **options)
            cut += [f"{name} {options}: {text}" for text in cut_texts(fig)]
            if theme == "projetor" and options.get("title") != LONG_TITLE:
                # (with a title on two lines as well, the 8 lanes' 11-entry legend needs more than 768 px)
                assert fig.canvas.get_width_height()[1] <= 768, (name, options)
    assert not cut, "\n".join(cut)


def test_texts_of_a_live_snapshot_fit_too():
    started = threading.Event()

    def slow():
        started.set()
        conctutor.grava_log(segundos=10)

    with contextlib.redirect_stdout(io.StringIO()):
        with conctutor.record() as timeline:
            worker = threading.Thread(target=slow)
            worker.start()
            started.wait()
            while not timeline.spans:
                time.sleep(0.001)
            figures = [timeline.plot(theme=theme, prediction=0.5) for theme in ("padrao", "projetor")]
            worker.join()
    for fig in figures:
        assert "gravando" in " ".join(texts(fig))
        assert not cut_texts(fig)


def test_the_cpu_caption_wraps_instead_of_being_cut_on_a_projector(threads_timeline):
    fig = plot_timeline(threads_timeline, theme="projetor")
    caption = fig.axes[-1].get_title(loc="left")
    assert "\n" in caption and caption.replace("\n", " ").endswith("claro = outros programas")
    assert not cut_texts(fig)
    for text in fig.axes[-1].title, fig.axes[-1]._left_title:
        if text.get_text():
            assert text.get_fontsize() >= 20  # wrapped, not shrunk


# --- every text is drawn as written -------------------------------------------------------------

@pytest.fixture(scope="module")
def odd_names_timeline() -> conctutor.Timeline:
    """Tasks, asyncio tasks (lane labels) and a watched number named with dollars and a lone surrogate:
    ``R$ 5 e R$ 10``, ``custa $3``, ``$_$ quebra o TeX``, ``a\\udc80b`` and ``R$ na fila $x^$``."""
    return saved("run-odd-names.json")


@pytest.mark.parametrize("theme", ["padrao", "projetor"])
def test_dollars_and_lone_surrogates_are_drawn_as_written(odd_names_timeline, theme, tmp_path):
    import xml.etree.ElementTree as ET

    from matplotlib import cbook

    fig = plot_timeline(odd_names_timeline, title="R$ 5 e R$ 10 · custa $3", theme=theme)
    for suffix in ("png", "svg", "pdf"):
        fig.savefig(tmp_path / f"figura.{suffix}")
    ET.parse(tmp_path / "figura.svg")
    drawn = texts(fig)
    for expected in ("R$ 5 e R$ 10 · custa $3", "R$ 5 e R$ 10", "$_$ quebra o TeX", "principal · custa $3",
                     "principal · a\ufffdb", "R$ na fila $x^$"):
        assert expected in drawn, expected
    for text in fig.findobj(Text):
        if cbook.is_math_text(text.get_text()):
            assert not text.get_parse_math(), text.get_text()
    fig._repr_png_()
    stacked = drawing.plot_stacked({"R$ 5": odd_names_timeline, "$_$": odd_names_timeline}, theme=theme)
    stacked.savefig(io.BytesIO(), format="png")


# --- options: the ideal time, predictions, and bad keywords --------------------------------------


def test_the_ideal_time_can_be_left_out(threads_timeline):
    assert "ideal: " in " ".join(texts(plot_timeline(threads_timeline)))
    written = " ".join(texts(plot_timeline(threads_timeline, ideal=False)))
    assert f"tempo total: {with_comma(threads_timeline.makespan)} s" in written
    assert "ideal" not in written
    stacked = drawing.plot_stacked({"a": threads_timeline, "b": threads_timeline}, ideal=False)
    assert "ideal" not in " ".join(texts(stacked))
    with pytest.raises(TypeError, match="ideal deve ser True ou False"):
        plot_timeline(threads_timeline, ideal="não")


def test_a_prediction_is_drawn_beside_the_measured_total(threads_timeline):
    from matplotlib.lines import Line2D

    measured = threads_timeline.makespan
    predicted = measured * 1.5
    scale = float(os.environ["CONCTUTOR_TIME_SCALE"])  # a prediction is of the chapter's durations: scaled
    fig = plot_timeline(threads_timeline, prediction=predicted / scale)
    ax = lanes_axes(fig)
    dashed = [line for line in ax.get_lines() if line.get_linestyle() not in ("-", "None")]
    assert len(dashed) == 1 and isinstance(dashed[0], Line2D)
    assert dashed[0].get_xdata()[0] == pytest.approx(predicted)
    assert ax.get_xlim()[1] >= predicted  # the axis reaches the prediction
    written = " | ".join(texts(fig))
    assert f"sua previsão: {with_comma(predicted)} s" in written
    difference = with_comma(predicted - measured)
    assert f"previsto {with_comma(predicted)} s · medido {with_comma(measured)} s · {difference} s a mais" in written
    lower = " | ".join(texts(plot_timeline(threads_timeline, prediction=measured / 2 / scale)))
    assert f"{with_comma(measured - measured / 2)} s a menos" in lower
    assert not cut_texts(fig)


def test_predictions_of_several_runs_side_by_side(threads_timeline, failing_timeline, saved_run):
    fig = drawing.plot_stacked({"threads": threads_timeline, "falhas": failing_timeline},
                               predictions={"threads": 2.0})
    written = " | ".join(texts(fig))
    assert f"sua previsão: {with_comma(2.0 * float(os.environ['CONCTUTOR_TIME_SCALE']))} s" in written
    assert written.count("sua previsão") == 1
    assert not cut_texts(fig)
    projected = drawing.plot_stacked({"threads": threads_timeline, "falhas": failing_timeline, "salva": saved_run},
                                     theme="projetor", cpu=True, predictions={"salva": saved_run.makespan / 2})
    assert not cut_texts(projected)
    with pytest.raises(ValueError, match="não há execução com o título 'processos'"):
        drawing.plot_stacked({"threads": threads_timeline}, predictions={"processos": 1.0})
    with pytest.raises(TypeError, match="predictions deve ser um dicionário"):
        drawing.plot_stacked({"threads": threads_timeline}, predictions=[1.0])


@pytest.mark.parametrize(
    ("prediction", "error"),
    [(-1.0, ValueError), (float("nan"), ValueError), (float("inf"), ValueError), ("6", TypeError),
     (True, TypeError), ([6], TypeError)],
)
def test_a_bad_prediction_gets_a_portuguese_error(threads_timeline, prediction, error):
    with pytest.raises(error, match="a previsão deve ser um número de segundos"):
        plot_timeline(threads_timeline, prediction=prediction)
    with pytest.raises(error, match="a previsão de 'threads' deve ser um número de segundos"):
        drawing.plot_stacked({"threads": threads_timeline}, predictions={"threads": prediction})


def test_an_unknown_plot_option_is_named_with_the_ones_there_are(threads_timeline):
    with pytest.raises(TypeError) as error:
        threads_timeline.plot(titulo="Threads")
    message = str(error.value)
    assert "plot() não tem a opção 'titulo' (seria 'title'?)" in message
    for option in ("title", "theme", "figsize", "cpu", "series", "ideal", "prediction"):
        assert option in message
    with pytest.raises(TypeError, match=r"plot_stacked\(\) não tem a opção 'prediction'.*predictions"):
        drawing.plot_stacked({"a": threads_timeline}, prediction=2)


def test_use_theme_none_names_the_themes():
    with pytest.raises(ValueError) as error:
        use_theme(None)
    assert "padrao" in str(error.value) and "projetor" in str(error.value)
    assert get_theme() is THEMES["padrao"]  # unchanged


def test_the_legend_lists_a_state_only_where_the_figure_shows_it(runs):
    import numpy as np

    from conctutor.engine.model import STATES, State
    from conctutor.render.scene import build_scene
    from conctutor.render.words import STATE_WORDS

    for name, timeline in runs.items():
        scene = build_scene(timeline)
        c = timeline.columns
        pixel = scene.t_end / (scene.width * scene.theme.dpi)
        listed = {entry.state for entry in scene.legend if entry.state is not None}
        for state in STATE_WORDS:
            drawn = c.seg_state == STATES.index(state)
            total = float((c.seg_end - c.seg_start)[drawn].sum())
            visible = drawn.any() and (state == State.RUNNING or total >= pixel)
            assert (state in listed) == visible, (name, state, total, pixel)
        assert np.all(scene.seg_state == c.seg_state)  # what is left out of the legend is still drawn


# --- the words of lanes, the colours of tasks, and what the engine asks of the render layer -----

def test_lane_labels_number_threads_and_processes_in_order_of_first_appearance():
    from conctutor.engine.model import Lane
    from conctutor.render.labels import lane_labels, process_labels

    main, worker, other = 100, 200, 300
    lanes = [
        Lane(main, 1, 11, "MainThread", True),
        Lane(main, 2, 12, "ThreadPoolExecutor-0_0", False),
        Lane(worker, 3, 13, "MainThread", True),
        Lane(main, 4, 14, "ThreadPoolExecutor-0_1", False),
        Lane(worker, 5, 15, "Thread-1", False),
        Lane(other, 6, 16, "MainThread", True),
        Lane(main, 1, 11, "MainThread", True, task="Task-2"),
        Lane(worker, 5, 15, "Thread-1", False, task="Task-3"),
    ]
    assert lane_labels(lanes, main) == [
        "principal", "thread 1", f"processo 1 (pid {worker})", "thread 2", f"processo 1 (pid {worker}) · thread 1",
        f"processo 2 (pid {other})", "principal · Task-2", f"processo 1 (pid {worker}) · thread 1 · Task-3",
    ]
    assert process_labels(lanes, main) == {main: "principal", worker: f"processo 1 (pid {worker})",
                                           other: f"processo 2 (pid {other})"}
    assert lane_labels(lanes, main_pid=999)[0] == "processo 1 (pid 100)"  # a run loaded in another process


def test_the_tasks_kept_by_the_course_take_the_palettes_first_colours_in_any_run():
    from conctutor.course.chapter import TASKS
    from conctutor.render.colours import keep_colours, kept_colours, task_colors

    palette = ("#000001", "#000002", "#000003", "#000004", "#000005")
    assert kept_colours() == TASKS  # registered by conctutor.course.tasks, which `import conctutor` loads
    assert task_colors(["minha", "grava_log", "calcula"], palette) == ["#000001", "#000003", "#000004"]
    try:
        keep_colours(("b", "a"))  # the colours come in as data: render knows no chapter
        assert task_colors(["a", "grava_log", "b"], palette) == ["#000002", "#000003", "#000001"]
    finally:
        keep_colours(TASKS)


def test_the_engine_reaches_render_through_views_without_loading_matplotlib(threads_timeline, tmp_path):
    import subprocess
    import sys

    from conctutor.render import views
    from conctutor.render.labels import lane_labels

    assert views.lane_labels is lane_labels
    assert isinstance(views.plot(threads_timeline, title="Threads"), Figure)
    views.to_perfetto(threads_timeline, tmp_path / "run.trace.json")
    assert (tmp_path / "run.trace.json").stat().st_size > 0
    code = ("import sys, conctutor.render.views as v; v.lane_labels([], 1); "
            "sys.exit('matplotlib' in sys.modules or 'numpy' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
