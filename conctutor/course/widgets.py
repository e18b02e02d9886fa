"""The slider panel of the notebooks: change durations and workers, re-run for real.

    from conctutor.widgets import panel, run_and_show

    panel(main)                                   # sliders for the chapter's three tasks
    panel(programs.with_processes, workers=(1, 8, 2), start_method=["fork", "spawn"])
    timeline = run_and_show(main, durations={"grava_log": 1.0})   # the same run, no widgets

`run_and_show` is the one function that runs a program recorded and shows
its figure, with the measured time beside the ideal one. The panel only
gathers values from its controls and calls it.

Labels and messages on screen are in Portuguese, like the notebooks.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..engine.recording import LiveTimeline, record
from ..engine.settings import Durations, check_durations, get_durations
from ..engine.timeline import Timeline
from ..engine.watch import check_watch
from ..render.live import Target, open_view
from ..render.scene import check_prediction, format_seconds, others_warning
from . import programs
from .chapter import IO_TASKS

LABELS = {
    "workers": "workers",
    "start_method": "início dos processos",
    "extra_logs": "grava_log a mais",
    "model": "modelo",
    "count": "tarefas",
    "task": "tarefa",
}
"""What each program option is called on screen."""

MAX_SLIDER_SECONDS = 10.0


def _accepts(program: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(program).parameters
    except (TypeError, ValueError):
        return False


def check_inputs(program: Callable[..., Any], durations: Mapping[str, float] | None,
                 options: dict[str, Any]) -> Durations:
    """Raise a clear error for a bad program, duration or option before anything runs or is drawn; returns
    the durations checked (`Durations`), which pass on from here to the tasks without another check."""
    if not callable(program):
        raise TypeError(f"o programa deve ser uma função, como main; recebido {type(program).__name__}: {program!r}")
    checked = check_durations(durations)
    unknown = [name for name in options if not _accepts(program, name) and not _takes_any_keyword(program)]
    if unknown:
        raise TypeError(f"o programa {getattr(program, '__name__', program)!r} não tem o(s) parâmetro(s) "
                        f"{', '.join(unknown)}")
    if "workers" in options:
        programs.check_workers(options["workers"])
    if "start_method" in options:
        programs.check_start_method(options["start_method"])
    if "extra_logs" in options:
        programs.check_count(options["extra_logs"], "o número de grava_log a mais", 0, programs.MAX_EXTRA_LOGS)
    if "count" in options:
        programs.check_count(options["count"], "o número de tarefas", 1, programs.MAX_COUNT)
    return checked


def _takes_any_keyword(program: Callable[..., Any]) -> bool:
    try:
        return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(program).parameters.values())
    except (TypeError, ValueError):
        return True


def run_recorded(program: Callable[..., Any], durations: Mapping[str, float] | None = None, *,
                 watch: Mapping[str, Callable[[], float]] | None = None, **options: Any) -> Timeline:
    """Run ``program(**options)`` inside `record()` and return the finished timeline.

    `durations` (task name -> seconds) are the task defaults during this run
    only (another thread's recording is not affected). The program's prints
    are left out: with several tasks at once they interleave, and a program
    that accepts ``quiet`` also silences its worker processes. `watch` is
    `record`'s: numbers to follow over the run, such as a queue's size.
    """
    durations = check_inputs(program, durations, options)
    if _accepts(program, "quiet"):
        options.setdefault("quiet", True)
    with record(durations=durations, quiet=True, watch=watch) as timeline:
        program(**options)
    assert timeline.final is not None
    return timeline.final


def show_live(run: Callable[[], Timeline], target: Target | str | None = "auto", **plot_options: Any) -> Timeline:
    """Show live a function that records a program itself and returns its `Timeline`.

    ``show_live(lambda: run_recorded(main, durations))``: the frames come from
    a recording around ``run()`` (the inner one shares it); the final figure is
    drawn from the timeline ``run()`` returns (from the outer one if it raised).
    """
    view = open_view(target, **plot_options)
    result: Any = None
    outer: LiveTimeline | None = None
    try:
        with record() as outer:
            view.start(outer)
            try:
                result = run()
            finally:
                view.stop()
    finally:
        final = result if isinstance(result, Timeline) else outer
        if final is not None:
            view.finish(final)
    assert isinstance(result, Timeline)
    return result


def run_live(program: Callable[[], Any], target: Target | str | None = "auto", **plot_options: Any) -> Timeline:
    """Run ``program()`` recorded, showing it live on `target`; returns the finished timeline.

    The final figure stays on the target, also when the program raises
    (the exception then propagates).
    """
    with record(live=open_view(target, **plot_options)) as timeline:
        program()
    assert timeline.final is not None
    return timeline.final


def summary(timeline: Timeline, ideal: bool = True) -> str:
    """One line: the measured time beside the ideal time for these tasks on this machine
    (the measured time alone with ``ideal=False``), with a decimal comma as in the figures."""
    line = f"tempo medido: {format_seconds(timeline.makespan)}"
    if ideal:
        cores = f"{timeline.cores} núcleo" + ("s" if timeline.cores != 1 else "")
        extra = timeline.makespan - timeline.ideal_time
        line += (f" | ideal para estas tarefas em {cores}: {format_seconds(timeline.ideal_time)}"
                 f" | diferença: {format_seconds(extra)}")
    warning = others_warning(timeline)
    return f"{line}\n{warning}" if warning else line


def run_and_show(
    program: Callable[..., Any],
    durations: Mapping[str, float] | None = None,
    *,
    title: str | None = None,
    watch: Mapping[str, Callable[[], float]] | None = None,
    ideal: bool = True,
    prediction: float | None = None,
    **options: Any,
) -> Timeline:
    """Run `program` recorded (see `run_recorded`), show its figure and `summary`.

    The figure is live: it grows while the program runs and the final figure
    takes its place (`conctutor.live.show_live`). This is what the panel's
    button calls; call it directly to re-run with fixed values. `ideal` and
    `prediction` are ``timeline.plot``'s; with a prediction, a sentence
    compares it with the measured time (`conctutor.checks.compare_prediction`).
    Returns the timeline.
    """
    from ..render.live import in_kernel
    from .checks import compare_prediction

    durations = check_inputs(program, durations, options)  # a bad value: a clear error, and no empty figure
    check_watch(watch)
    if not isinstance(ideal, bool):
        raise TypeError(f"ideal deve ser True ou False; recebido {ideal!r}")
    if prediction is not None:
        check_prediction(prediction)
    plot_options: dict[str, Any] = {"title": title, "ideal": ideal, "prediction": prediction}
    if not in_kernel():  # no notebook to draw in live: just show the result
        from IPython.display import display

        timeline = run_recorded(program, durations, watch=watch, **options)
        display(timeline.plot(**plot_options))
    else:
        timeline = show_live(lambda: run_recorded(program, durations, watch=watch, **options), **plot_options)
    print(summary(timeline, ideal))
    if prediction is not None:
        print(compare_prediction(timeline, prediction))
    return timeline


# --- the panel ----------------------------------------------------------------------


def _control(name: str, spec: Any) -> Any:
    import ipywidgets as w

    label = LABELS.get(name, name)
    style = {"description_width": "initial"}
    if isinstance(spec, tuple) and len(spec) == 3 and all(isinstance(v, int) and not isinstance(v, bool) for v in spec):
        low, high, value = spec
        if name == "workers" and low < 1:
            raise ValueError(f"o número de workers começa em 1 (com 0 nenhuma tarefa roda); recebido mínimo {low}")
        if not low <= value <= high:
            raise ValueError(f"{label}: o valor inicial {value} deve estar entre {low} e {high}")
        return w.IntSlider(value=value, min=low, max=high, description=label, style=style, continuous_update=False)
    if isinstance(spec, (list, tuple)) and spec and all(isinstance(v, str) for v in spec):
        return w.Dropdown(options=list(spec), value=spec[0], description=label, style=style)
    raise TypeError(
        f"controle {name!r}: use (mínimo, máximo, inicial) com inteiros para um slider, "
        f"ou uma lista de textos para uma escolha; recebido {spec!r}"
    )


def _values(control: Any) -> list[Any]:
    if hasattr(control, "options"):
        return list(control.options)
    return [control.min, control.max]


def panel(
    program: Callable[..., Any],
    tasks: Sequence[str] = IO_TASKS,
    *,
    title: str | None = None,
    watch: Mapping[str, Callable[[], float]] | None = None,
    ideal: bool = True,
    **controls: Any,
) -> Any:
    """Sliders for the durations of `tasks` and for `controls`, and a button that re-runs `program`.

    Each control becomes a keyword argument of `program`: ``(min, max, value)``
    with ints makes a slider, a list of strings a drop-down (the first is
    the initial choice). `watch` is `record`'s (a queue's size, say); `ideal`
    is ``timeline.plot``'s (``False`` for locks and queues). Returns the
    widget (display it as a cell's result).
    """
    if not isinstance(ideal, bool):
        raise TypeError(f"ideal deve ser True ou False; recebido {ideal!r}")
    import ipywidgets as w

    known = get_durations()
    if isinstance(tasks, str) or not all(isinstance(name, str) for name in tasks):
        raise TypeError(f"tasks deve ser uma lista de nomes de tarefas, como ['grava_log']; recebido {tasks!r}")
    check_durations({name: known.get(name, 0.0) for name in tasks})
    style = {"description_width": "initial"}
    sliders = {
        name: w.FloatSlider(
            value=min(known[name], MAX_SLIDER_SECONDS), min=0.0, max=MAX_SLIDER_SECONDS, step=0.1,
            description=f"{name} (s)", style=style, continuous_update=False, readout_format=".1f",
        )
        for name in tasks
    }
    options = {name: _control(name, spec) for name, spec in controls.items()}
    # every value a control can take is checked now, not when the button is clicked
    check_watch(watch)
    check_inputs(program, {name: slider.value for name, slider in sliders.items()},
                 {name: control.value for name, control in options.items()})
    for name, control in options.items():
        for value in _values(control):
            check_inputs(program, None, {name: value})
    button = w.Button(description="Rodar", icon="play", button_style="primary")
    output = w.Output()

    def run(_: Any = None) -> None:
        button.disabled = True
        button.description = "rodando…"
        output.clear_output(wait=True)
        try:
            with output:
                try:
                    run_and_show(
                        program,
                        {name: slider.value for name, slider in sliders.items()},
                        title=title,
                        watch=watch,
                        ideal=ideal,
                        **{name: control.value for name, control in options.items()},
                    )
                except (ValueError, TypeError, OSError, RuntimeError) as error:
                    print(f"Não deu para rodar: {error}")
        finally:
            button.disabled = False
            button.description = "Rodar"

    button.on_click(run)
    hint = w.HTML("Ajuste os controles e clique em <b>Rodar</b>: o programa roda de verdade, de novo.")
    return w.VBox([hint, *sliders.values(), *options.values(), button, output])
