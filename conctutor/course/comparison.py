"""Figures of notebook 08 (Comparativo): the course layer between its cells and matplotlib.

    show_workload(medidas, "contas", predictions=palpites, cpu=True)  # the runs of one workload
    speedup_figure({1: 4.02, 2: 2.05, 3: 2.08})                      # speed-up against workers
    runs = run_in_pythons(TESTE)                                     # a script in each Python found
    free_threaded_figure(runs, increments=800_000)
    ways_figure({"threads": 2.02, "interpretadores": 1.01})          # two computations / one alone (09)

The notebook keeps what it teaches (the workloads, the models, the
formulas); the figure plumbing lives here, so that a student reads one call.
Every figure fits one projected screen: a stack of runs too tall for it is
split into several figures on one time axis.
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ..engine.validate import number
from ..render.themes import OKABE_ITO, get_theme
from .interpreters import free_threaded_pythons, pythons_dir

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SEPARATOR = " · "
"""Between a workload and a model in the runs' names: ``"contas · threads"``."""

MAX_HEIGHT_PX = 1000.0
"""The tallest figure, in pixels, that fits one projected screen (less where the theme says so)."""


# --- the runs of one workload, stacked ---------------------------------------------


def runs_of(runs: Mapping[str, Any], workload: str) -> dict[str, Any]:
    """As execuções de uma carga, pelo nome do modelo: ``{"threads": linha, ...}``.

    `runs` tem nomes ``"carga · modelo"``, como ``"E/S · threads"``; o que
    vem depois de ``" · "`` é o título de cada execução na figura.
    """
    if not isinstance(runs, Mapping):
        raise TypeError(f"esperava um dicionário de 'carga · modelo' → linha do tempo; recebido "
                        f"{type(runs).__name__}")
    prefix = f"{workload}{SEPARATOR}"
    found = {name[len(prefix):]: run for name, run in runs.items()
             if isinstance(name, str) and name.startswith(prefix)}
    if not found:
        loads = sorted({name.split(SEPARATOR)[0] for name in runs if isinstance(name, str)})
        raise ValueError(f"nenhuma execução da carga {workload!r}; as cargas medidas são: "
                         f"{', '.join(repr(load) for load in loads) or 'nenhuma'}")
    return found


def plot_workload(runs: Mapping[str, Any], workload: str, *, predictions: Mapping[str, float] | None = None,
                  cpu: bool = False, max_height_px: float | None = None) -> list[Figure]:
    """As execuções de uma carga, uma em cima da outra, em figuras que cabem numa tela.

    `runs`: ``{"carga · modelo": linha_do_tempo}``; entram as da carga
    `workload`. `predictions`: os palpites, pelos mesmos nomes
    (``{"contas · threads": 4.0}``), desenhados em cada execução. Se todas
    juntas ficariam mais altas que a tela (`max_height_px`; por padrão
    1000 pixels, ou menos se o tema pedir), elas se dividem em figuras
    seguidas, na ordem de `runs`, todas com o mesmo eixo de tempo, para
    comparar de olho de uma figura para a outra.
    """
    from ..render.drawing import plot_stacked

    chosen = runs_of(runs, workload)
    prefix = f"{workload}{SEPARATOR}"
    guesses = {name[len(prefix):]: seconds for name, seconds in (predictions or {}).items()
               if isinstance(name, str) and name.startswith(prefix)}
    unknown = [name for name in guesses if name not in chosen]
    if unknown:
        raise ValueError(f"predictions: não há execução {prefix + unknown[0]!r}; as de {workload!r} são: "
                         f"{', '.join(repr(prefix + name) for name in chosen)}")
    theme = get_theme()
    limit = max_height_px if max_height_px is not None else min(MAX_HEIGHT_PX, theme.max_height * theme.dpi)

    def draw(titles: list[str]) -> list[Figure]:
        figure = plot_stacked({title: chosen[title] for title in titles}, cpu=cpu,
                              predictions={title: guesses[title] for title in titles if title in guesses})
        if len(titles) == 1 or _height_px(figure) <= limit:
            return [figure]
        half = math.ceil(len(titles) / 2)
        return draw(titles[:half]) + draw(titles[half:])

    figures = draw(list(chosen))
    _share_time_axis(figures)
    return figures


def show_workload(runs: Mapping[str, Any], workload: str, *, predictions: Mapping[str, float] | None = None,
                  cpu: bool = False) -> None:
    """Mostra na célula as figuras de `plot_workload` (uma ou mais, cada uma cabendo numa tela)."""
    from IPython.display import display

    for figure in plot_workload(runs, workload, predictions=predictions, cpu=cpu):
        display(figure)


def _height_px(figure: Figure) -> float:
    return float(figure.get_size_inches()[1] * figure.dpi)


def _share_time_axis(figures: Sequence[Figure]) -> None:
    """Every time axis of every figure ends where the longest ends (each figure's own axes already agree)."""
    axes = [ax for figure in figures for ax in figure.get_axes()]
    if len(figures) < 2 or not axes:
        return
    right = max(ax.get_xlim()[1] for ax in axes)
    for ax in axes:
        ax.set_xlim(0, right)


# --- speed-up ----------------------------------------------------------------------


def speedup_figure(times: Mapping[int, float], cores: int | None = None) -> Figure:
    """A aceleração medida contra o número de workers, com as duas linhas do ideal.

    `times`: ``{workers: segundos}``, com a medida de 1 worker (a base).
    A aceleração com ``n`` workers é ``times[1] / times[n]``. As linhas: o
    ideal sem limite (``n``) e o ideal com os núcleos desta máquina
    (``min(n, núcleos)``; `cores`, por padrão ``os.cpu_count()``).
    """
    workers = _check_times(times)
    cores = cores if cores is not None else (os.cpu_count() or 1)
    figure, ax = _new_figure(6.0, 3.5)
    ax.plot(workers, workers, "--", color="gray", label="ideal sem limite (n)")
    ax.plot(workers, [min(n, cores) for n in workers], ":", color="black",
            label=f"ideal com {cores} {'núcleo' if cores == 1 else 'núcleos'}")
    ax.plot(workers, [times[1] / times[n] for n in workers], "o-", color=OKABE_ITO[0], label="medida")
    ax.set_xlabel("workers (processos)")
    ax.set_ylabel("aceleração")
    ax.set_xticks(workers)
    ax.yaxis.set_major_formatter(_decimal_comma())
    ax.legend()
    return figure


def _check_times(times: object) -> list[int]:
    allowed = ("times deve ser um dicionário de número de workers → segundos medidos, com 1 worker, "
               "como {1: 4.0, 2: 2.1}")
    if not isinstance(times, Mapping) or 1 not in times:
        raise ValueError(f"{allowed}; recebido {times!r}")
    for n, seconds in times.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 1 or isinstance(seconds, bool) \
                or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds <= 0:
            raise ValueError(f"{allowed}; recebido {n!r}: {seconds!r}")
    return sorted(times)


# --- Python without the GIL --------------------------------------------------------


class PythonRun(NamedTuple):
    """O que o script de teste mediu num Python."""

    name: str
    """Como a figura e as conclusões chamam este Python: ``"3.14.7t (sem GIL)"``."""
    version: str
    """``"3.14.7"``."""
    free_threaded: bool
    sequential: float
    """Segundos das duas contas, uma depois da outra (numa thread só)."""
    threads: float
    """Segundos das duas contas, em duas threads."""
    lost: int
    """Somas perdidas na corrida do ``contador += 1``."""
    cores: float | None = None
    """Núcleos que as duas threads ocuparam ao mesmo tempo: o tempo de CPU do processo dividido pelo
    tempo de relógio enquanto elas rodavam (perto de 1 com o GIL, de 2 sem ele). Varia bem menos que os
    tempos numa máquina cuja velocidade muda de um minuto para o outro."""
    gil_forced: bool = False
    """Um Python sem GIL rodado com ``-X gil=1``: o GIL ligado de novo, a pedido."""


def cores_reading(cores: float) -> str:
    """O que `PythonRun.cores` quer dizer, em palavras."""
    if cores >= 1.6:
        return "as duas threads calcularam ao mesmo tempo"
    if cores <= 1.25:
        return "uma thread de cada vez"
    return "em parte ao mesmo tempo"


VERSION_CHECK = ("import sys; print(sys.version.split()[0], "
                 "int(getattr(sys, '_is_gil_enabled', lambda: True)()))")


class Candidate(NamedTuple):
    """Um Python da comparação: onde está, a versão, se é sem GIL, e se roda com o GIL ligado a pedido."""

    path: str
    version: str
    free_threaded: bool
    gil_forced: bool = False
    """Rodar com ``-X gil=1``: um Python sem GIL com o GIL ligado de novo."""

    def command(self, *arguments: str) -> list[str]:
        """The command line that runs this Python (with ``-X gil=1`` if asked) on `arguments`."""
        return [self.path, *(["-X", "gil=1"] if self.gil_forced else []), *arguments]


def pythons_to_compare(force_gil: bool = False) -> dict[str, Candidate]:
    """Os Pythons da comparação: nome → `Candidate` (caminho, versão, sem GIL?, GIL ligado a pedido?).

    Este Python; cada Python sem GIL encontrado (`free_threaded_pythons`); e,
    para cada um deles, o Python *com* GIL da mesma versão, se houver um
    (``python3.14`` no PATH ou onde ``tools/build-pythons.sh`` os instala),
    para que o custo de tirar o GIL não se misture com o de mudar de versão.
    Com `force_gil`, cada Python sem GIL entra mais uma vez, rodado com
    ``-X gil=1``: o GIL ligado de novo.
    """
    this_version = sys.version.split()[0]
    found = {f"{this_version} (este, com GIL)": Candidate(sys.executable, this_version, False)}
    versions_with_gil = {this_version}
    for label, path in free_threaded_pythons().items():
        version = label.rstrip("t")
        minor = ".".join(version.split(".")[:2])
        same_minor = next((v for v in versions_with_gil if v.startswith(minor + ".")), None)
        if same_minor is None:
            with_gil = _python_with_gil(minor)
            if with_gil is not None:
                gil_path, gil_version = with_gil
                found[f"{gil_version} (com GIL)"] = Candidate(gil_path, gil_version, False)
                versions_with_gil.add(gil_version)
        found[f"{label} (sem GIL)"] = Candidate(path, version, True)
        if force_gil:
            found[f"{label} com -X gil=1"] = Candidate(path, version, True, gil_forced=True)
    return found


def _python_with_gil(minor: str) -> tuple[str, str] | None:
    """(path, version) of a Python `minor` (``"3.14"``) that runs with the GIL, or None: on the PATH, where
    ``tools/build-pythons.sh`` puts its builds, or among pyenv's versions (newest first)."""
    pyenv = os.path.join(os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv"), "versions")
    from_pyenv = sorted(glob.glob(os.path.join(pyenv, f"{minor}.*", "bin", f"python{minor}")),
                        key=lambda path: [int(part) for part in re.findall(r"\d+", path.split(os.sep)[-3])],
                        reverse=True)
    candidates = [shutil.which(f"python{minor}"), os.path.join(pythons_dir(), minor, "bin", f"python{minor}"),
                  *from_pyenv]
    for path in candidates:
        if not path or not os.access(path, os.X_OK):
            continue
        try:
            answer = subprocess.run([path, "-c", VERSION_CHECK], capture_output=True, text=True, timeout=30,
                                    check=True)
        except (OSError, subprocess.SubprocessError):
            continue
        words = answer.stdout.split()
        if len(words) == 2 and words[1] == "1" and words[0].startswith(minor + "."):
            return os.path.realpath(path), words[0]
    return None


def run_in_pythons(script: str, pythons: Mapping[str, Candidate | tuple[str, str, bool]] | None = None,
                   timeout: float = 300.0) -> list[PythonRun]:
    """Roda `script` em cada Python da comparação (`pythons_to_compare`) e lê o que ele imprimiu.

    O script imprime três números numa linha: os segundos das contas em
    sequência, os segundos em duas threads e as somas perdidas na corrida;
    e, se quiser, um quarto: os núcleos ocupados pelas duas threads
    (`PythonRun.cores`).
    """
    chosen = pythons_to_compare() if pythons is None else pythons
    with tempfile.TemporaryDirectory(prefix="conctutor-teste-") as folder:
        path = os.path.join(folder, "teste.py")
        with open(path, "w", encoding="utf-8") as file:
            file.write(script)
        return [_run_one(name, Candidate(*entry), path, timeout) for name, entry in chosen.items()]


def _run_one(name: str, candidate: Candidate, path: str, timeout: float) -> PythonRun:
    answer = subprocess.run(candidate.command(path), capture_output=True, text=True, timeout=timeout)
    numbers = re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", answer.stdout.strip().splitlines()[-1]) \
        if answer.returncode == 0 and answer.stdout.strip() else []
    if len(numbers) not in (3, 4):
        raise RuntimeError(f"o teste no Python {name} ({candidate.path}) não imprimiu os três números esperados "
                           f"(saída {answer.returncode}): {(answer.stdout + answer.stderr).strip()[-500:]}")
    sequential, threads, lost, *cores = (float(n) for n in numbers)
    return PythonRun(name, candidate.version, candidate.free_threaded, sequential, threads, round(lost),
                     cores[0] if cores else None, candidate.gil_forced)


def gil_baseline(run: PythonRun, runs: Sequence[PythonRun]) -> PythonRun:
    """O Python com GIL com que comparar `run` numa thread só: o da mesma versão, se houver; senão, este."""
    with_gil = [other for other in runs if not other.free_threaded]
    if not with_gil:
        raise ValueError("nenhum Python com GIL entre as execuções para comparar")
    minor = ".".join(run.version.split(".")[:2])
    return next((other for other in with_gil if other.version.startswith(minor + ".")), with_gil[0])


def free_threaded_figure(runs: Sequence[PythonRun], increments: int) -> Figure:
    """Os Pythons lado a lado: o tempo das contas (em sequência e em duas threads) e as somas perdidas.

    `increments`: quantas somas a corrida do script faz ao todo (a base da porcentagem).
    """
    if not runs:
        raise ValueError("nenhuma execução para desenhar")
    figure, (times, race) = _new_figure(10.0, 1.2 + 0.7 * len(runs), columns=2)
    positions = list(range(len(runs)))
    names = [run.name for run in runs]
    # the y axis is inverted below: the sequential bar (p - 0.2) is drawn above the threads' bar
    times.barh([p - 0.2 for p in positions], [run.sequential for run in runs], height=0.4,
               color="#999999", label="em sequência (uma thread)")
    times.barh([p + 0.2 for p in positions], [run.threads for run in runs], height=0.4,
               color=OKABE_ITO[0], label="em duas threads")
    times.set_yticks(positions, names)
    times.invert_yaxis()  # this Python, with the GIL, on top
    times.set_xlabel("tempo das duas contas (s)")
    times.xaxis.set_major_formatter(_decimal_comma())
    figure.legend(loc="outside lower left", ncols=2, frameon=False)
    race.barh(positions, [100 * run.lost / increments for run in runs], color=OKABE_ITO[5])
    race.set_yticks(positions, [""] * len(runs))
    race.invert_yaxis()
    race.set_xlim(0, 100)
    race.set_xlabel("somas perdidas na corrida (%)")
    return figure


# --- the same computation in every way (notebook 09) ------------------------------------------

WAYS_SCRIPT = r"""
import concurrent.futures as cf, json, statistics, sys, time

def conta(passos):
    total = 0
    for i in range(passos):
        total = (total + i * i) % 1_000_003
    return total

def cronometra(grupo, passos, quantas):
    inicio = time.perf_counter()
    if grupo is None:
        conta(passos)
    else:
        list(grupo.map(conta, [passos] * quantas))
    return time.perf_counter() - inicio

def main(passos, rodadas):
    jeitos = {"threads": cf.ThreadPoolExecutor(2)}
    if hasattr(cf, "InterpreterPoolExecutor"):  # Python 3.14+
        jeitos["interpretadores"] = cf.InterpreterPoolExecutor(2)
    jeitos["processos"] = cf.ProcessPoolExecutor(2)
    for grupo in jeitos.values():
        list(grupo.map(conta, [1000, 1000]))  # os workers nascem antes do cronômetro
    sozinha, razoes = [], {nome: [] for nome in jeitos}
    for _ in range(rodadas):
        for nome, grupo in jeitos.items():
            uma = cronometra(None, passos, 1)  # medida logo antes, a cada vez: a máquina muda de ritmo
            sozinha.append(uma)
            razoes[nome].append(cronometra(grupo, passos, 2) / uma)
    for grupo in jeitos.values():
        grupo.shutdown()
    print(json.dumps({"sozinha": statistics.median(sozinha),
                      "razoes": {k: [statistics.median(v), min(v), max(v)] for k, v in razoes.items()}}))

if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
"""
"""Two equal pure-Python loops in two threads, two interpreters (3.14+) and two processes, each against
one alone measured just before it; prints JSON. Standard library only: `benchmarks/bench_interpreters.py`
runs it too, in any Python."""


class WaysRun(NamedTuple):
    """O que `WAYS_SCRIPT` mediu num Python."""

    name: str
    """Como as conclusões chamam este Python: ``"3.14.7t (sem GIL)"``."""
    version: str
    free_threaded: bool
    alone: float
    """Segundos de uma conta sozinha (a mediana)."""
    ratios: dict[str, tuple[float, float, float]]
    """Jeito (``"threads"``, ``"interpretadores"``, ``"processos"``) → duas contas / uma sozinha:
    mediana, menor e maior das rodadas."""


def run_ways_in_pythons(steps: int = 3_000_000, rounds: int = 2,
                        pythons: Mapping[str, Candidate | tuple[str, str, bool]] | None = None,
                        timeout: float = 300.0) -> list[WaysRun]:
    """Roda `WAYS_SCRIPT` em cada Python da comparação (`pythons_to_compare`), um depois do outro."""
    steps = int(number(steps, "steps", 1000, 10**9, whole=True, note="voltas do laço de cada conta"))
    rounds = int(number(rounds, "rounds", 1, 100, whole=True))
    chosen = pythons_to_compare() if pythons is None else pythons
    runs = []
    with tempfile.TemporaryDirectory(prefix="conctutor-jeitos-") as folder:
        path = os.path.join(folder, "jeitos.py")
        with open(path, "w", encoding="utf-8") as file:
            file.write(WAYS_SCRIPT)
        for name, entry in chosen.items():
            candidate = Candidate(*entry)
            answer = subprocess.run(candidate.command(path, str(steps), str(rounds)), capture_output=True, text=True,
                                    timeout=timeout, cwd=folder)
            try:
                data = json.loads(answer.stdout.strip().splitlines()[-1])
                ratios = {way: (float(a), float(b), float(c)) for way, (a, b, c) in data["razoes"].items()}
                alone = float(data["sozinha"])
            except (IndexError, ValueError, KeyError, TypeError) as error:
                raise RuntimeError(f"o teste no Python {name} ({candidate.path}) não imprimiu as medidas esperadas "
                                   f"(saída {answer.returncode}): {(answer.stdout + answer.stderr).strip()[-500:]}"
                                   ) from error
            runs.append(WaysRun(name, candidate.version, candidate.free_threaded, alone, ratios))
    return runs



def ways_figure(ratios: Mapping[str, float]) -> Figure:
    """Uma barra por jeito de rodar duas contas iguais: o tempo das duas dividido pelo de uma sozinha.

    ``{"threads (com GIL)": 2.02, "interpretadores": 1.01, ...}``, de cima para baixo. Linhas marcam 1×
    (as duas ao mesmo tempo, em dois núcleos) e 2× (uma depois da outra).
    """
    if not isinstance(ratios, Mapping) or not ratios:
        raise TypeError("ways_figure recebe um dicionário não vazio de jeito → razão, como {'threads': 2.0}")
    for way, ratio in ratios.items():
        number(ratio, f"a razão de {way!r}", 0.001, 1000.0)
    figure, axes = _new_figure(8.0, 1.0 + 0.45 * len(ratios))
    positions = list(range(len(ratios)))
    axes.barh(positions, list(ratios.values()), height=0.6, color=OKABE_ITO[0])
    axes.set_yticks(positions, list(ratios))
    axes.invert_yaxis()
    for mark, words in ((1.0, "ao mesmo tempo"), (2.0, "uma depois da outra")):
        axes.axvline(mark, color="#555555", linewidth=1, linestyle="--")
        axes.annotate(words, (mark, 1.0), xycoords=("data", "axes fraction"), xytext=(3, 2),
                      textcoords="offset points", fontsize=9, color="#555555", va="bottom")
    axes.set_xlim(0, max(2.4, 1.1 * max(ratios.values())))
    axes.set_xlabel("duas contas iguais / uma sozinha (×)")
    axes.xaxis.set_major_formatter(_decimal_comma())
    return figure


# --- shared ------------------------------------------------------------------------


def _new_figure(width: float, height: float, columns: int = 1) -> tuple[Figure, Any]:
    """A figure outside pyplot (shown once, as a cell's value), with its axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from ..render.drawing import TimelineFigure

    figure = TimelineFigure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, columns)
    return figure, axes


def _decimal_comma() -> Any:
    """Tick labels with a decimal comma and only the digits they need ("0,05", "0,1", "2")."""
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _: f"{value:g}".replace(".", ","))
