"""The one validator every check goes through: numbers in a range, choices among a few, in Portuguese."""

from __future__ import annotations

import math

import pytest

from conctutor.engine.validate import choice, number


@pytest.mark.parametrize(("value", "error", "says"), [
    ("2", TypeError, "recebido str: '2'"),
    (True, TypeError, "recebido bool: True"),
    (None, TypeError, "recebido NoneType"),
    (-1, ValueError, "recebido -1, que não pode ser negativo"),
    (4000, ValueError, "recebido 4000, que é maior que 3600"),
    (math.nan, ValueError, "que não é um número finito"),
    (math.inf, ValueError, "que não é um número finito"),
])
def test_a_number_out_of_its_range_is_refused_saying_what_is_allowed(value, error, says):
    with pytest.raises(error) as raised:
        number(value, "segundos", 0, 3600, unit="segundos", note="no máximo uma hora")
    message = str(raised.value)
    assert message.startswith("segundos deve ser um número de segundos de 0 a 3600 (no máximo uma hora)")
    assert says in message


def test_a_whole_number_is_an_int_and_a_fraction_is_not_one():
    assert number(3, "workers", 1, 64, whole=True) == 3 and type(number(3, "workers", 1, 64, whole=True)) is int
    with pytest.raises(TypeError, match=r"workers deve ser um número inteiro de 1 a 64; recebido float: 2\.0"):
        number(2.0, "workers", 1, 64, whole=True)
    with pytest.raises(ValueError, match="recebido 0, que é menor que 1"):
        number(0, "workers", 1, 64, whole=True)
    assert number(0.5, "atraso", 0, 30) == 0.5


def test_a_choice_names_the_options():
    assert choice("spawn", "o método de início", ["fork", "spawn"]) == "spawn"
    with pytest.raises(ValueError, match="o método de início deve ser 'fork' ou 'spawn'; recebido 'thread'"):
        choice("thread", "o método de início", ["fork", "spawn"])
    with pytest.raises(ValueError, match="recebido 1"):
        choice(1, "um sinal", [True, False])  # 1 == True, but it is no bool


def test_durations_are_checked_once_where_they_enter_and_passed_on_as_they_are(monkeypatch):
    from conctutor.course import widgets
    from conctutor.engine import settings

    calls = []
    real = settings.check_seconds
    monkeypatch.setattr(settings, "check_seconds", lambda *args: calls.append(args) or real(*args))
    checked = settings.check_durations({"grava_log": 0.01})
    assert isinstance(checked, settings.Durations) and calls == [(0.01, "grava_log")]
    assert settings.check_durations(checked) is checked  # no second check
    assert widgets.check_inputs(lambda: None, checked, {}) is checked
    assert len(calls) == 1
