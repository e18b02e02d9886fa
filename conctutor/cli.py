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

Exit codes: the script's own when it fails (the ``SystemExit`` code, 1 for an
uncaught exception, whose traceback is printed, 130 for Ctrl-C), 2 for bad
usage, 1 when the figure or a file cannot be written, 0 otherwise.
"""

from __future__ import annotations

import argparse
import os
import re
import runpy
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

FIGURE_SUFFIXES = (".png", ".svg")
THEMES = ("padrao", "projetor")
USAGE_ERROR = 2

# argparse's own messages, in Portuguese (argparse is translated through gettext,
# which has no pt-BR catalogue installed here); unknown messages pass unchanged.
_TRANSLATIONS = [
    (r"the following arguments are required: (.*)", r"faltam argumentos obrigatórios: \1"),
    (r"unrecognized arguments: (.*)", r"argumentos não reconhecidos: \1"),
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
        for pattern, replacement in _TRANSLATIONS:
            if re.fullmatch(pattern, message):
                message = re.sub(pattern, replacement, message)
                break
        self.print_usage(sys.stderr)
        self.exit(USAGE_ERROR, f"{self.prog}: erro: {message}\n")


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
    commands = parser.add_subparsers(dest="command", title="comandos", metavar="{run,show}", parser_class=_Parser)
    commands.required = True

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
    run.add_argument("script", metavar="programa.py",
                     help="o programa a executar; as palavras depois dele são os argumentos dele (sys.argv)")
    _figure_options(run, default_help="padrão: o nome do programa com .png, na pasta atual")
    run.add_argument("--save", metavar="RUN.json",
                     help="grava também a execução (leia de novo com `show` ou Timeline.load)")
    run.add_argument("--perfetto", metavar="TRACE.json", help="grava também um trace para https://ui.perfetto.dev")

    show = commands.add_parser(
        "show",
        help="desenha de novo uma execução gravada com --save",
        description="Desenha de novo uma execução gravada (run.json) e grava a figura.",
    )
    show.set_defaults(parser=show)
    show.add_argument("run", metavar="run.json", help="a execução gravada com `run --save` ou timeline.save()")
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


def _br(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}".replace(".", ",")


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


def _summary(timeline: Any, name: str) -> list[str]:
    spans = timeline.spans
    lines = [
        f"  tempo medido: {_br(timeline.makespan)} s",
        f"  tempo ideal:  {_br(timeline.ideal_time)} s (as mesmas tarefas, {timeline.cores} "
        f"núcleo{'s' if timeline.cores != 1 else ''} desta máquina)",
    ]
    share = getattr(timeline, "others_cpu_share", None)
    if isinstance(share, (int, float)):
        lines.append(f"  outros programas usaram {round(100 * share)} % da CPU (todos os núcleos) durante a execução")
        if share * timeline.cores > 0.25:
            lines.append(
                "  atenção: outros programas usaram mais de um quarto de um núcleo em média; "
                "os tempos medidos podem ter sido afetados"
            )
    names = list(dict.fromkeys(span.name for span in spans))
    shown = ", ".join(names[:6]) + (", …" if len(names) > 6 else "")
    lines.append(f"  tarefas gravadas: {len(spans)}" + (f" ({shown})" if spans else ""))
    failed = [span for span in spans if span.status != "ok"]
    if failed:
        lines.append(f"  tarefas com erro ou interrompidas: {len(failed)}")
    if not spans:
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
    output = _writable(_figure_path(ns.output, Path(script.stem + ".png")), "da figura")
    save = _writable(Path(ns.save), "da execução") if ns.save else None
    perfetto = _writable(Path(ns.perfetto), "do trace") if ns.perfetto else None

    from . import record  # after the usage checks: importing matplotlib takes a moment

    code = 0
    failure = ""
    saved_argv, saved_path0 = sys.argv[:], list(sys.path)
    sys.argv = [str(script), *script_args]
    sys.path.insert(0, str(script.resolve().parent))
    try:
        with record() as timeline:
            try:
                runpy.run_path(str(script), run_name="__main__")
            except SystemExit as exc:
                code = _exit_code(exc)
                failure = f"saiu com o código {code}" if code else ""
            except KeyboardInterrupt:
                code, failure = 130, "foi interrompido (Ctrl-C)"
            except BaseException as exc:
                sys.stdout.flush()
                _print_script_traceback(exc, script)
                code, failure = 1, f"falhou com {type(exc).__name__}"
    finally:
        sys.argv = saved_argv
        sys.path[:] = saved_path0

    head = f"conctutor: {script.name} " + (failure if failure else "terminou")
    lines = [head, *_summary(timeline, script.name)]
    written = _write_outputs(timeline, output, save, perfetto, ns.titulo or script.name, ns.tema, lines)
    _say(lines)
    if not written and code == 0:
        code = 1
    return code


def _write_outputs(
    timeline: Any, output: Path, save: Path | None, perfetto: Path | None, title: str, theme: str | None,
    lines: list[str],
) -> bool:
    ok = True
    jobs = [("figura", output, lambda p: _draw(timeline, p, title, theme))]
    if save:
        jobs.append(("execução salva", save, timeline.save))
    if perfetto:
        jobs.append(("trace Perfetto", perfetto, timeline.to_perfetto))
    for what, path, write in jobs:
        try:
            write(path)
        except Exception as exc:
            lines.append(f"  erro ao gravar {what} em {str(path)!r}: {type(exc).__name__}: {exc}")
            ok = False
        else:
            extra = " (abra em https://ui.perfetto.dev)" if what == "trace Perfetto" else ""
            lines.append(f"  {what}: {path}{extra}")
    return ok


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
    lines = [f"conctutor: {run.name}", *_summary(timeline, run.name)]
    ok = _write_outputs(timeline, output, None, None, ns.titulo or run.stem, ns.tema, lines)
    _say(lines)
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m conctutor`` and of the ``conctutor`` console script."""
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    script_args: list[str] = []
    if words and words[0] == "run":
        own, script_args = split_run_arguments(words[1:])
        words = ["run", *own]
    try:
        ns = parser.parse_args(words)
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
