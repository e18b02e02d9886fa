"""The command line: record a whole script, or draw a saved run again.

    python -m conctutor run programa.py [args...] -o figura.png [--save run.json]
                                        [--perfetto trace.json] [--tema projetor]
    python -m conctutor show run.json [-o figura.png]

``run`` executes the script the way ``python programa.py`` would (``__name__``
is ``"__main__"``, ``sys.argv`` holds the script and its arguments, the
script's folder comes first on ``sys.path``) inside ``conctutor.record()``,
prints a summary and writes the figure. Worker processes under *spawn* and
*forkserver* re-run the script as ``__mp_main__``, exactly as they do for
``python programa.py``: keep the program's start under
``if __name__ == "__main__":``.

conctutor's own options may come before the script or after its arguments;
after ``--`` every word goes to the script.

When the script fails (an exception, Ctrl-C, a non-zero ``SystemExit``), the
figure and files show what was recorded up to the failure, and say so; when
nothing was recorded by then, none is written. A forked child that reaches the
end of the script exits as it would under ``python programa.py``: the run is
ended (summary, figure, files) only by the process that started it.

Exit codes: the script's own when it fails (the ``SystemExit`` code, 1 for an
uncaught exception, whose traceback is printed, 130 for Ctrl-C), 2 for bad
usage, 1 when the figure or a file cannot be written, 0 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import runpy
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

FIGURE_SUFFIXES = (".png", ".svg")
THEMES = ("padrao", "projetor")
USAGE_ERROR = 2

# argparse's own messages, in Portuguese (argparse is translated through gettext,
# which has no pt-BR catalogue installed here, and installing one would change the
# messages of a script's own argparse); unknown messages pass unchanged.
_TRANSLATIONS = [
    (r"unrecognized arguments: (.*)", r"argumentos não reconhecidos: \1"),
    (r"argument (.+?): invalid choice: (.+?), maybe you meant (.+?)\? \(choose from (.*)\)",
     r"argumento \1: valor inválido: \2; você quis dizer \3? (escolha entre \4)"),
    (r"argument (.+?): invalid choice: (.+?) \(choose from (.*)\)",
     r"argumento \1: valor inválido: \2 (escolha entre \3)"),
    (r"argument (.+?): expected one argument", r"argumento \1: falta o valor"),
    (r"argument (.+?): expected at least one argument", r"argumento \1: falta pelo menos um valor"),
    (r"ambiguous option: (.+?) could match (.*)", r"opção ambígua: \1 pode ser \2"),
    (r"argument (.+?): ignored explicit argument (.*)", r"argumento \1: valor não esperado \2"),
]


class UsageError(Exception):
    """Bad usage found after parsing (a missing file, a wrong suffix): exit code 2."""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def add_usage(self, usage: Any, actions: Any, groups: Any, prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, prefix="uso: " if prefix is None else prefix)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        kwargs.setdefault("add_help", False)
        super().__init__(*args, **kwargs)
        self._positionals.title = "argumentos"
        self._optionals.title = "opções"
        self.add_argument("-h", "--help", action="help", default=argparse.SUPPRESS, help="mostra esta ajuda e sai")

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(USAGE_ERROR, f"{self.prog}: erro: {in_portuguese(message)}\n")


def in_portuguese(message: str) -> str:
    """One of argparse's error messages in Portuguese; a message we do not know passes unchanged."""
    for pattern, replacement in _TRANSLATIONS:
        if re.fullmatch(pattern, message, flags=re.DOTALL):
            return re.sub(pattern, replacement, message, flags=re.DOTALL)
    return message


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="conctutor",
        description="Grava a execução de um programa Python e desenha a linha do tempo das suas tarefas.",
        epilog=(
            "exemplos:\n"
            "  python -m conctutor run programa.py -o figura.png\n"
            "  python -m conctutor run programa.py arg1 arg2 -o figura.svg --save run.json --tema projetor\n"
            "  python -m conctutor show run.json -o figura.png"
        ),
    )
    # The command and the file are checked after parsing (`_parse`), not by argparse, which
    # reports a missing argument before an unknown one ("--bogus" would read "faltam argumentos").
    commands = parser.add_subparsers(dest="command", title="comandos", metavar="{run,show}", parser_class=_Parser)

    run = commands.add_parser(
        "run",
        help="executa um programa gravando suas tarefas e desenha a linha do tempo",
        description=(
            "Executa programa.py como `python programa.py args...` faria, dentro de conctutor.record(),\n"
            "mostra um resumo (tempo medido, tempo ideal, uso da CPU por outros programas) e grava a figura.\n"
            "As opções do conctutor podem vir antes do programa ou depois dos argumentos dele;\n"
            "depois de `--`, tudo vai para o programa."
        ),
        usage="%(prog)s programa.py [args ...] [-o FIGURA] [--save RUN.json] [--perfetto TRACE.json] [--tema TEMA]"
        " [--titulo TEXTO]",
    )
    run.set_defaults(parser=run)
    run.add_argument("script", metavar="programa.py", nargs="?",
                     help="o programa a executar; as palavras depois dele são os argumentos dele (sys.argv)")
    _figure_options(run, default_help="padrão: o nome do programa com .png, na pasta atual")
    run.add_argument("--save", metavar="RUN.json",
                     help="grava também a execução (leia de novo com `show` ou Timeline.load)")
    run.add_argument("--perfetto", metavar="TRACE.json", help="grava também um trace para https://ui.perfetto.dev")

    show = commands.add_parser(
        "show",
        help="desenha de novo uma execução gravada com --save",
        description="Desenha de novo uma execução gravada (run.json) e grava a figura.",
        usage="%(prog)s run.json [-o FIGURA] [--tema TEMA] [--titulo TEXTO]",
    )
    show.set_defaults(parser=show)
    show.add_argument("run", metavar="run.json", nargs="?",
                      help="a execução gravada com `run --save` ou timeline.save()")
    _figure_options(show, default_help="padrão: ao lado da execução, com o mesmo nome e .png")
    return parser


def _figure_options(parser: argparse.ArgumentParser, default_help: str) -> None:
    parser.add_argument("-o", "--output", metavar="FIGURA", help=f"a figura, .png ou .svg ({default_help})")
    parser.add_argument("--tema", choices=THEMES, help="tema da figura: projetor (letras grandes) ou padrao")
    parser.add_argument("--titulo", metavar="TEXTO", help="título da figura (padrão: o nome do arquivo)")


# --- `run`: conctutor's options may also follow the script's arguments -------------------

_VALUE_OPTIONS = ("-o", "--output", "--save", "--perfetto", "--tema", "--titulo")
_FLAG_OPTIONS = ("-h", "--help")


def _own_option(word: str) -> str | None:
    """'value' if `word` is one of run's options taking a value ('-o', '--save', ...), 'inline'
    if it carries its value ('--save=x', '-ox'), 'flag' for -h/--help, None otherwise."""
    if word in _VALUE_OPTIONS:
        return "value"
    if word in _FLAG_OPTIONS:
        return "flag"
    if word.startswith("--") and word.split("=", 1)[0] in _VALUE_OPTIONS and "=" in word:
        return "inline"
    if word.startswith("-o") and len(word) > 2 and not word.startswith("--"):
        return "inline"
    return None


def split_run_arguments(words: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split the words after ``run`` into conctutor's (options and the script) and the script's.

    Before the script every word is conctutor's. After it, conctutor's options
    with a value (-o, --save, --perfetto, --tema, --titulo) are still
    conctutor's; everything else, and everything after ``--``, is the script's.
    """
    own: list[str] = []
    script_args: list[str] = []
    script: str | None = None
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--":
            rest = list(words[i + 1 :])
            if script is None and rest:
                script = rest.pop(0)
            script_args.extend(rest)
            break
        kind = _own_option(word)
        if script is not None and kind in (None, "flag"):
            script_args.append(word)
        elif kind == "value":
            own.extend(words[i : i + 2])
            i += 1
        elif kind is not None:
            own.append(word)
        elif word.startswith("-") and word != "-":
            own.append(word)  # an unknown option before the script: argparse says so
        else:
            script = word
        i += 1
    if script is not None:
        own.extend(["--", script])
    return own, script_args


# --- helpers ------------------------------------------------------------------------------


def _figure_path(value: str | None, default: Path) -> Path:
    path = Path(value) if value else default
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise UsageError(f"a figura deve terminar em .png ou .svg: {str(path)!r}")
    return path


def _writable(path: Path, what: str) -> Path:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"a pasta {what} não existe: {str(folder)!r}")
    if path.is_dir():
        raise UsageError(f"{str(path)!r} é uma pasta; {what[1:].strip()} precisa de um nome de arquivo")
    return path


def _exit_code(exc: SystemExit) -> int:
    """The code `python programa.py` would exit with after `raise SystemExit(exc.code)`."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, bool):
        return int(code)
    if isinstance(code, int):
        return code & 0xFF if code >= 0 else code % 256
    print(code, file=sys.stderr)  # sys.exit("mensagem") prints the message and exits with 1
    return 1


def _print_script_traceback(exc: BaseException, script: Path) -> None:
    """The traceback `python programa.py` would print: without conctutor's and runpy's frames."""
    tb = exc.__traceback__
    target = os.path.realpath(script)
    frame_tb = tb
    while frame_tb is not None and os.path.realpath(frame_tb.tb_frame.f_code.co_filename) != target:
        frame_tb = frame_tb.tb_next
    exc.__traceback__ = frame_tb or tb
    traceback.print_exception(type(exc), exc, exc.__traceback__)


class Ending(NamedTuple):
    """How the script ended: its exit code and, when it failed, how and up to what it was recorded."""

    code: int = 0
    failure: str = ""  # "falhou com ValueError"; empty when the script ended well
    until: str = ""  # what a partial figure reaches: "o erro"


def _execute(script: Path) -> Ending:
    """Run the script as `python programa.py` would, printing its traceback if it raises."""
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        code = _exit_code(exc)
        return Ending(code, f"saiu com o código {code}", f"a saída com o código {code}") if code else Ending()
    except KeyboardInterrupt:
        return Ending(130, "foi interrompido com Ctrl-C", "a interrupção")
    except BaseException as exc:
        sys.stdout.flush()
        _print_script_traceback(exc, script)
        return Ending(1, f"falhou com {type(exc).__name__}", "o erro")
    return Ending()


@contextlib.contextmanager
def _as_the_script(script: Path, script_args: Sequence[str]) -> Iterator[None]:
    """`sys.argv` and `sys.path` as `python programa.py args...` has them, restored afterwards."""
    saved_argv, saved_path = sys.argv[:], list(sys.path)
    sys.argv = [str(script), *script_args]
    sys.path.insert(0, str(script.resolve().parent))
    try:
        yield
    finally:
        sys.argv = saved_argv
        sys.path[:] = saved_path


class Output(NamedTuple):
    """A file the command writes: the figure, the saved run or the Perfetto trace."""

    what: str  # "figura"
    not_written: str  # "figura não gravada"
    path: Path
    write: Callable[[Path], None]
    hint: str = ""


def _outputs(
    timeline: Any, figure: Path, save: Path | None, perfetto: Path | None, title: str, theme: str | None,
) -> list[Output]:
    outputs = [Output("figura", "figura não gravada", figure, lambda path: _draw(timeline, path, title, theme))]
    if save:
        outputs.append(Output("execução salva", "execução salva não gravada", save, timeline.save))
    if perfetto:
        outputs.append(Output("trace Perfetto", "trace Perfetto não gravado", perfetto, timeline.to_perfetto,
                              " (abra em https://ui.perfetto.dev)"))
    return outputs


def _write_outputs(outputs: Sequence[Output], lines: list[str], note: str = "") -> bool:
    """Write each output, adding a line about it to `lines`; False if one could not be written."""
    ok = True
    for output in outputs:
        try:
            output.write(output.path)
        except Exception as exc:
            lines.append(f"  erro ao gravar {output.what} em {str(output.path)!r}: {type(exc).__name__}: {exc}")
            ok = False
        else:
            lines.append(f"  {output.what}{note}: {output.path}{output.hint}")
    return ok


def _draw(timeline: Any, output: Path, title: str, theme: str | None) -> None:
    options: dict[str, Any] = {"title": title}
    if theme:
        options["theme"] = theme
    figure = timeline.plot(**options)
    try:
        figure.savefig(output)
    finally:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close(figure)


def _summary(timeline: Any, name: str, until: str = "") -> list[str]:
    """The summary's lines; `until` is what a failed script's run reaches ("o erro")."""
    from .render.words import decimal_comma, format_seconds, others_warning  # the figures' numbers and warning

    spans = timeline.spans
    lines = [
        f"  tempo medido: {format_seconds(timeline.makespan)}",
        f"  tempo ideal:  {format_seconds(timeline.ideal_time)} (as mesmas tarefas, {timeline.cores} "
        f"núcleo{'s' if timeline.cores != 1 else ''} desta máquina)",
    ]
    share = getattr(timeline, "others_cpu_share", None)
    if isinstance(share, (int, float)):
        lines.append(f"  outros programas usaram {decimal_comma(100 * share, 0)} % da CPU (todos os núcleos) "
                     "durante a execução")
    warning = others_warning(timeline)  # only when they delayed our tasks: busy is not enough
    if warning:
        lines.append(f"  {warning}")
    names = list(dict.fromkeys(span.name for span in spans))
    shown = ", ".join(names[:6]) + (", …" if len(names) > 6 else "")
    lines.append(f"  tarefas gravadas: {len(spans)}" + (f" ({shown})" if spans else ""))
    failed = [span for span in spans if span.status != "ok"]
    if failed:
        lines.append(f"  tarefas com erro ou interrompidas: {len(failed)}")
    if not spans and until:
        lines.append(f"  nenhuma tarefa gravada até {until}")
    elif not spans:
        lines.append(
            f"  nenhuma tarefa gravada: {name} não chamou as tarefas do conctutor nem funções "
            "decoradas com @conctutor.task"
        )
    return lines


def _say(lines: Sequence[str]) -> None:
    sys.stdout.flush()
    print("\n".join(lines), file=sys.stderr, flush=True)


# --- the commands -------------------------------------------------------------------------


def _run(ns: argparse.Namespace, script_args: list[str]) -> int:
    script = Path(ns.script)
    if not script.exists():
        raise UsageError(f"programa não encontrado: {ns.script!r}")
    if not script.is_file():
        raise UsageError(f"{ns.script!r} não é um arquivo .py")
    figure = _writable(_figure_path(ns.output, Path(script.stem + ".png")), "da figura")
    save = _writable(Path(ns.save), "da execução") if ns.save else None
    perfetto = _writable(Path(ns.perfetto), "do trace") if ns.perfetto else None

    from . import record  # after the usage checks: importing matplotlib takes a moment

    started_by = os.getpid()
    with _as_the_script(script, script_args), record() as timeline:
        ending = _execute(script)
    if os.getpid() != started_by:
        # A child the script forked, at the script's end: it exits as under `python programa.py`.
        # Summing up, drawing and saving are the starting process's: the child would overwrite them.
        return ending.code

    lines = [f"conctutor: {script.name} {ending.failure or 'terminou'}", *_summary(timeline, script.name, ending.until)]
    title = ns.titulo or script.name
    if ending.failure:
        title = f"{title} (parcial: {ending.failure})"
    outputs = _outputs(timeline, figure, save, perfetto, title, ns.tema)
    if ending.failure and not timeline.spans:
        lines.extend(f"  {output.not_written}: {output.path}" for output in outputs)  # nothing to draw
        written = True
    else:
        written = _write_outputs(outputs, lines, f" (parcial, até {ending.until})" if ending.failure else "")
    _say(lines)
    return 1 if not written and ending.code == 0 else ending.code


def _show(ns: argparse.Namespace) -> int:
    run = Path(ns.run)
    if not run.is_file():
        raise UsageError(f"execução gravada não encontrada: {ns.run!r}")
    output = _writable(_figure_path(ns.output, run.with_suffix(".png")), "da figura")

    from . import Timeline

    try:
        timeline = Timeline.load(run)
    except Exception as exc:
        raise UsageError(
            f"{ns.run!r} não é uma execução gravada pelo conctutor (run --save ou timeline.save()): "
            f"{type(exc).__name__}: {exc}"
        ) from None
    # A saved run holds no program's name (the format has no field for it): the title is the file's.
    lines = [f"conctutor: {run.name}", *_summary(timeline, run.name)]
    ok = _write_outputs(_outputs(timeline, output, None, None, ns.titulo or run.stem, ns.tema), lines)
    _say(lines)
    return 0 if ok else 1


# Each command's positional argument: its name in the namespace and in the usage.
_REQUIRED = {"run": ("script", "programa.py"), "show": ("run", "run.json")}


def _parse(parser: argparse.ArgumentParser, words: Sequence[str]) -> argparse.Namespace:
    """Parse the words; an unknown option is named before a missing argument."""
    ns = parser.parse_args(words)
    if ns.command is None:
        parser.error("falta o comando: run ou show")
    dest, name = _REQUIRED[ns.command]
    if getattr(ns, dest) is None:
        ns.parser.error(f"falta o argumento obrigatório: {name}")
    return ns


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m conctutor`` and of the ``conctutor`` console script."""
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    script_args: list[str] = []
    if words and words[0] == "run":
        own, script_args = split_run_arguments(words[1:])
        words = ["run", *own]
    try:
        ns = _parse(parser, words)
    except SystemExit as exc:  # argparse: 0 for --help, 2 for bad usage
        return _exit_code(exc)
    subparser: argparse.ArgumentParser = ns.parser
    try:
        if ns.command == "run":
            return _run(ns, script_args)
        return _show(ns)
    except UsageError as exc:
        subparser.print_usage(sys.stderr)
        print(f"{subparser.prog}: erro: {exc}", file=sys.stderr)
        return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
