"""The conclusions the notebooks print: number, reading, and a warning when the run cannot teach its lesson."""

from __future__ import annotations

import types

import pytest

from conctutor.readings import conclusao, delay_warning, ratio_reading


@pytest.mark.parametrize(("ratio", "words"), [
    (1.0, "quase igual"), (1.08, "quase igual"), (0.93, "quase igual"),
    (1.3, "um pouco mais"), (0.75, "um pouco menos"),
    (1.75, "quase o dobro"), (0.55, "quase a metade"),
    (2.05, "cerca do dobro"), (0.48, "cerca da metade"),
    (3.1, "cerca de 3 vezes"), (0.24, "cerca de 1/4"),
    (float("nan"), "sem comparação"), (0.0, "sem comparação"),
])
def test_a_ratio_reads_in_words(ratio, words):
    assert ratio_reading(ratio) == words


def run(makespan: float, delay: float | None) -> types.SimpleNamespace:
    return types.SimpleNamespace(makespan=makespan, others_delay=delay)


def test_a_run_nobody_delayed_gets_no_warning():
    assert delay_warning([run(4.0, 0.0), run(2.0, None), run(2.0, 0.05)]) == ""
    assert conclusao("threads / processos", 2.03, esperado=2.0, execucoes=[run(4.0, 0.0)]) == \
        "threads / processos: 2,03× → cerca do dobro"


def test_a_delayed_run_says_so_on_the_same_line_with_what_free_cores_would_give():
    line = conclusao("threads / processos", 0.98, esperado=2.0, execucoes=[run(4.0, 0.0), run(4.0, 1.9)])
    assert line.startswith("threads / processos: 0,98× → quase igual ⚠ outros programas ocuparam")
    assert "cerca de 1,9 s" in line and line.endswith("seria cerca de 2×")
    assert "\n" not in line


def test_a_run_off_the_lesson_says_so_even_without_others():
    line = conclusao("2 threads / 1 thread", 1.27, esperado=0.5)
    assert line.startswith("2 threads / 1 thread: 1,27× → um pouco mais ⚠ a lição espera cerca de 0,5×")
