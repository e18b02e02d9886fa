"""The command line, `python -m conctutor run|show`, with the chapter's programs as files.

The programs are the chapter's (tests/test_recording.py has the same ``main()`` bodies), with the
tasks imported from conctutor, as a student who copied a notebook cell into a ``.py`` file has
them. They run in a child process, as a user runs them, at CONCTUTOR_TIME_SCALE=0.05. No timing
is asserted: only exit codes, outputs, files and span names.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conctutor import Timeline
from conctutor.cli import in_portuguese, main, split_run_arguments

START_METHODS = [m for m in ("fork", "spawn", "forkserver") if m in multiprocessing.get_all_start_methods()]
CHAPTER_TASKS = ["consulta_dados", "processa_dados", "grava_log"]

SEQUENCIAL = '''
import time
from conctutor import consulta_dados, processa_dados, grava_log


def main():
    start = time.perf_counter()
    print("Inicio")
    dados = consulta_dados()
    processa_dados(dados)
    grava_log()
    print("fim")
    finish = time.perf_counter()
    print(f"Finished in {round(finish-start, 2)} second(s)")


main()
'''

THREADS = '''
import time
import concurrent.futures
from conctutor import consulta_dados, processa_dados, grava_log


def main():
    start = time.perf_counter()
    print("Inicio")
    with concurrent.futures.ThreadPoolExecutor() as executor:
        future = executor.submit(consulta_dados)
        dados = future.result()
        executor.submit(processa_dados, dados)
        executor.submit(grava_log)
    finish = time.perf_counter()
    print("fim")
    print(f"Finished in {round(finish-start, 2)} second(s)")


main()
'''

# The notebook's variant: ProcessPoolExecutor in place of ThreadPoolExecutor. Under spawn and
# forkserver each worker re-runs this file as __mp_main__, so the start goes under the guard;
# the start method comes as the program's first argument.
PROCESSOS = '''
import multiprocessing
import sys
import time
import concurrent.futures
from conctutor import consulta_dados, processa_dados, grava_log


def main():
    start = time.perf_counter()
    print("Inicio")
    with concurrent.futures.ProcessPoolExecutor() as executor:
        future = executor.submit(consulta_dados)
        dados = future.result()
        executor.submit(processa_dados, dados)
        executor.submit(grava_log)
    finish = time.perf_counter()
    print("fim")
    print(f"Finished in {round(finish-start, 2)} second(s)")


if __name__ == "__main__":
    multiprocessing.set_start_method(sys.argv[1], force=True)
    main()
'''


def write(folder: Path, name: str, code: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(code).lstrip(), encoding="utf-8")
    return path


def conctutor_cli(*args: str, cwd: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CONCTUTOR_TIME_SCALE="0.05", MPLBACKEND="Agg", PYTHONIOENCODING="utf-8", **environment)
    return subprocess.run(
        [sys.executable, "-m", "conctutor", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )


def is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def sequential_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    write(folder, "sequencial.py", SEQUENCIAL)
    result = conctutor_cli(
        "run", "sequencial.py", "-o", "figura.png", "--save", "run.json", "--perfetto", "trace.json", cwd=folder
    )
    return folder, result


def test_run_records_the_sequential_program(sequential_run):
    folder, result = sequential_run
    assert result.returncode == 0, result.stderr
    assert "Inicio\nConsultando dados...\nProcessando dados...\nGravando log...\nfim\n" in result.stdout
    assert "tempo medido:" in result.stderr and "tempo ideal:" in result.stderr
    assert "sequencial.py terminou" in result.stderr
    assert is_png(folder / "figura.png")
    assert (folder / "trace.json").stat().st_size > 0
    timeline = Timeline.load(folder / "run.json")
    assert [s.name for s in timeline.spans] == CHAPTER_TASKS
    assert all(s.status == "ok" for s in timeline.spans)


def test_show_draws_a_saved_run_beside_it(sequential_run, tmp_path, capsys):
    folder, _ = sequential_run
    run = shutil.copy(folder / "run.json", tmp_path / "aula.json")
    assert main(["show", str(run)]) == 0
    assert is_png(tmp_path / "aula.png")
    assert main(["show", str(run), "-o", str(tmp_path / "outra.svg"), "--tema", "projetor"]) == 0
    assert b"<svg" in (tmp_path / "outra.svg").read_bytes()
    assert "tempo medido:" in capsys.readouterr().err


def test_run_records_the_thread_program_as_svg(tmp_path):
    write(tmp_path, "threads.py", THREADS)
    result = conctutor_cli("run", "threads.py", "-o", "threads.svg", "--save", "threads.json", "--tema", "projetor",
                           cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Consultando dados..." in result.stdout and "fim" in result.stdout
    assert b"<svg" in (tmp_path / "threads.svg").read_bytes()
    spans = Timeline.load(tmp_path / "threads.json").spans
    assert sorted(s.name for s in spans) == sorted(CHAPTER_TASKS)
    assert all(s.worker.startswith("thread ") for s in spans)


@pytest.mark.parametrize("method", START_METHODS)
def test_run_records_the_process_program_under_each_start_method(tmp_path, method):
    write(tmp_path, "processos.py", PROCESSOS)
    # the program's argument first, conctutor's options after it, as DESIGN.md writes the command
    result = conctutor_cli("run", "processos.py", method, "-o", "processos.png", "--save", "processos.json",
                           cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "fim" in result.stdout
    assert is_png(tmp_path / "processos.png")
    spans = Timeline.load(tmp_path / "processos.json").spans
    assert sorted(s.name for s in spans) == sorted(CHAPTER_TASKS)
    assert all(s.status == "ok" and s.worker.startswith("processo ") for s in spans)


def test_a_failing_script_exits_with_its_own_code_and_still_writes_the_figure(tmp_path):
    write(tmp_path, "falha.py", """
        from conctutor import consulta_dados

        def passo():
            raise ValueError("dados inválidos")

        consulta_dados()
        passo()
    """)
    result = conctutor_cli("run", "falha.py", "-o", "falha.svg", "--save", "falha.json", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert 'falha.py", line 4, in passo' in result.stderr and "ValueError: dados inválidos" in result.stderr
    assert "runpy" not in result.stderr and "cli.py" not in result.stderr  # the script's traceback only
    assert "falha.py falhou com ValueError" in result.stderr
    # what was recorded up to the exception, said to be partial on the console and in the figure's title
    assert "figura (parcial, até o erro): falha.svg" in result.stderr
    assert "execução salva (parcial, até o erro): falha.json" in result.stderr
    assert "falha.py (parcial: falhou com ValueError)" in (tmp_path / "falha.svg").read_text(encoding="utf-8")
    assert [s.name for s in Timeline.load(tmp_path / "falha.json").spans] == ["consulta_dados"]


def test_a_script_that_fails_before_any_task_writes_no_figure_and_says_so(tmp_path):
    write(tmp_path, "cedo.py", """
        raise ValueError("cedo demais")
    """)
    result = conctutor_cli("run", "cedo.py", "-o", "cedo.png", "--save", "cedo.json", "--perfetto", "cedo.trace",
                           cwd=tmp_path)
    assert result.returncode == 1
    assert "ValueError: cedo demais" in result.stderr and "cedo.py falhou com ValueError" in result.stderr
    assert "nenhuma tarefa gravada até o erro" in result.stderr
    assert "figura não gravada: cedo.png" in result.stderr
    assert "execução salva não gravada: cedo.json" in result.stderr
    assert "trace Perfetto não gravado: cedo.trace" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cedo.py"]


@pytest.mark.parametrize(("code", "expected"), [("sys.exit(3)", 3), ("sys.exit('acabou mal')", 1), ("sys.exit()", 0)])
def test_the_scripts_exit_code_is_the_commands(tmp_path, capsys, code, expected):
    script = write(tmp_path, "sai.py", f"import sys\nprint('argv', sys.argv[1:])\n{code}\n")
    assert main(["run", str(script), "a", "--b", "-o", str(tmp_path / "sai.png")]) == expected
    out, err = capsys.readouterr()
    assert "argv ['a', '--b']" in out
    if "acabou mal" in code:
        assert "acabou mal" in err
    if expected:  # it failed before any task: nothing to draw
        assert f"sai.py saiu com o código {expected}" in err and "figura não gravada" in err
        assert not (tmp_path / "sai.png").exists()
    else:
        assert "sai.py terminou" in err and is_png(tmp_path / "sai.png")
    assert sys.argv[0] != str(script)  # restored


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "falta o comando: run ou show"),
        (["--bogus"], "argumentos não reconhecidos: --bogus"),
        (["rodar", "x.py"], "valor inválido"),
        (["run"], "falta o argumento obrigatório: programa.py"),
        (["run", "--bogus"], "argumentos não reconhecidos: --bogus"),
        (["show", "--bogus"], "argumentos não reconhecidos: --bogus"),
        (["show"], "falta o argumento obrigatório: run.json"),
        (["run", "nao_existe.py"], "programa não encontrado"),
        (["run", "{script}", "-o", "figura.jpg"], "a figura deve terminar em .png ou .svg"),
        (["run", "{script}", "--tema", "escuro"], "argumento --tema: valor inválido"),
        (["run", "{script}", "-o"], "argumento -o/--output: falta o valor"),
        (["run", "{script}", "-o", "{tmp}/nao/existe/f.png"], "a pasta da figura não existe"),
        (["run", "--nada", "{script}"], "argumentos não reconhecidos: --nada"),
        (["show", "nao_existe.json"], "execução gravada não encontrada"),
        (["show", "{script}"], "não é uma execução gravada pelo conctutor"),
    ],
)
def test_bad_usage_exits_with_2_and_says_why_in_portuguese(tmp_path, capsys, args, message):
    script = write(tmp_path, "nada.py", "raise AssertionError('não deveria rodar')\n")
    args = [a.format(script=script, tmp=tmp_path) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "uso: conctutor" in err and "erro:" in err
    assert message in err


def test_help_is_in_portuguese_and_exits_with_0(capsys):
    assert main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    assert "uso: conctutor run programa.py" in out and "opções:" in out


def test_words_after_the_script_are_its_own_except_conctutors_options():
    own, script_args = split_run_arguments(["-o", "a.png", "p.py", "x", "-v", "--save", "r.json", "--", "-o", "y"])
    assert own == ["-o", "a.png", "--save", "r.json", "--", "p.py"]
    assert script_args == ["x", "-v", "-o", "y"]
    assert split_run_arguments(["p.py", "--help"]) == (["--", "p.py"], ["--help"])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork exists only on POSIX")
def test_a_forked_child_that_reaches_the_end_of_the_script_leaves_the_run_to_its_parent(tmp_path):
    # The child returns normally (no os._exit) and ends after its parent, so a child that ran the CLI's
    # ending would print a second summary and overwrite the saved run with its own, empty one.
    write(tmp_path, "garfo.py", """
        import os
        import time
        from conctutor import consulta_dados

        consulta_dados()
        parent = os.getpid()
        if os.fork() == 0:
            deadline = time.monotonic() + 60
            while os.getppid() == parent and time.monotonic() < deadline:
                time.sleep(0.01)
            print("o filho chegou ao fim depois do pai:", os.getppid() != parent, flush=True)
    """)
    result = conctutor_cli("run", "garfo.py", "-o", "garfo.png", "--save", "garfo.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "o filho chegou ao fim depois do pai: True" in result.stdout  # the pipes close when the child exits
    assert result.stderr.count("conctutor: garfo.py") == 1, result.stderr
    assert is_png(tmp_path / "garfo.png")
    assert [s.name for s in Timeline.load(tmp_path / "garfo.json").spans] == ["consulta_dados"]


def test_show_titles_the_figure_after_the_saved_files_name(sequential_run, tmp_path, monkeypatch, capsys):
    # A saved run holds no program name (the format has no field for it): `show` uses the file's stem,
    # `run` the program's name.
    titles = []
    plot = Timeline.plot

    def spy(self, *args, **kwargs):
        titles.append(kwargs.get("title"))
        return plot(self, *args, **kwargs)

    monkeypatch.setattr(Timeline, "plot", spy)
    folder, _ = sequential_run
    run = shutil.copy(folder / "run.json", tmp_path / "aula de terça.json")
    assert main(["show", str(run)]) == 0
    script = write(tmp_path, "meu_programa.py", "from conctutor import grava_log\ngrava_log()\n")
    assert main(["run", str(script), "-o", str(tmp_path / "meu.png")]) == 0
    assert titles == ["aula de terça", "meu_programa.py"]


def the_cli_lines(err: str) -> list[str]:
    """The lines conctutor printed: its summary, from its header on (not the script's traceback)."""
    lines = err.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("conctutor: "))
    return lines[start:]


def test_every_number_the_cli_prints_has_a_decimal_comma(sequential_run, tmp_path, capsys):
    folder, result = sequential_run
    printed = the_cli_lines(result.stderr)
    assert main(["show", str(folder / "run.json"), "-o", str(tmp_path / "de_novo.png")]) == 0
    printed += the_cli_lines(capsys.readouterr().err)
    script = write(tmp_path, "parcial.py", "from conctutor import grava_log\ngrava_log()\nraise SystemExit(3)\n")
    assert main(["run", str(script), "-o", str(tmp_path / "parcial.png")]) == 3
    printed += the_cli_lines(capsys.readouterr().err)
    text = "\n".join(printed)
    assert len(re.findall(r"\d,\d\d s\b", text)) >= 6, text  # measured and ideal times, three times
    assert not re.search(r"\d\.\d", text), text


@pytest.mark.parametrize(
    ("english", "portuguese"),
    [
        ("unrecognized arguments: --bogus x", "argumentos não reconhecidos: --bogus x"),
        ("argument --tema: invalid choice: 'escuro' (choose from 'padrao', 'projetor')",
         "argumento --tema: valor inválido: 'escuro' (escolha entre 'padrao', 'projetor')"),
        # Python 3.14's suggestion (suggest_on_error), argparse's default from 3.15
        ("argument {run,show}: invalid choice: 'rum', maybe you meant 'run'? (choose from run, show)",
         "argumento {run,show}: valor inválido: 'rum'; você quis dizer 'run'? (escolha entre run, show)"),
        ("argument -o/--output: expected one argument", "argumento -o/--output: falta o valor"),
        ("ambiguous option: --t could match --tema, --titulo", "opção ambígua: --t pode ser --tema, --titulo"),
        ("argument -h/--help: ignored explicit argument 'x'", "argumento -h/--help: valor não esperado 'x'"),
    ],
)
def test_argparse_messages_are_said_in_portuguese(english, portuguese):
    assert in_portuguese(english) == portuguese


def spool_directories(temp: Path) -> list[Path]:
    """conctutor's spool directories under `temp`: folders named conctutor-* that hold a file."""
    return [p for p in temp.rglob("conctutor-*") if p.is_dir() and any(f.is_file() for f in p.rglob("*"))]


def test_a_script_that_calls_os_exit_leaves_no_spool_directory(tmp_path):
    # os._exit skips record()'s cleanup: the sampler removes the spool when its recording process dies
    temp = tmp_path / "tmp"
    temp.mkdir()
    write(tmp_path, "sai_ja.py", """
        import os
        import tempfile
        from pathlib import Path
        from conctutor import consulta_dados

        consulta_dados()
        print("arquivos na pasta temporária:", sum(p.is_file() for p in Path(tempfile.gettempdir()).rglob("*")),
              flush=True)  # os._exit does not flush stdout (a pipe here, unless PYTHONUNBUFFERED is set)
        os._exit(0)
    """)
    result = conctutor_cli("run", "sai_ja.py", "-o", "sai_ja.png", cwd=tmp_path, TMPDIR=str(temp))
    assert result.returncode == 0, result.stderr
    spooled = re.search(r"arquivos na pasta temporária: (\d+)", result.stdout)
    assert spooled and int(spooled.group(1)) > 0, result.stdout  # the recording spooled under our TMPDIR
    deadline = time.monotonic() + 2.0
    while spool_directories(temp) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert spool_directories(temp) == []
