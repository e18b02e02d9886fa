"""The race under a microscope (conctutor.course.microscope): where threads lose the GIL, measured.

Watching needs sys.monitoring (Python 3.12+): on older Pythons those tests skip, saying so; the races stored
for them (imgs/) are checked on every Python. `.ci/run` runs them in its
3.14 session (with the GIL) and its 3.14t session (without), and with 3.15 in the chroot. No timing is asserted:
what is checked is where the switches fall, and that looking adds none.
"""

from __future__ import annotations

import dis
import gc
import sys
import threading
from pathlib import Path

import pytest
from matplotlib.text import Text

import conctutor
from conctutor.course import microscope
from conctutor.engine.python_build import gil_enabled

needs_monitoring = pytest.mark.skipif(not microscope.AVAILABLE, reason="sys.monitoring exists from Python 3.12")

contador = 0


def soma(vezes):
    global contador
    for _ in range(vezes):
        contador += 1


def in_threads(function, times, threads=2):
    workers = [threading.Thread(target=function, args=(times,)) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def watched(times, threads=2):
    global contador
    contador = 0
    lupa = microscope.Microscope(soma)
    with conctutor.record() as timeline:
        in_threads(lupa.run, times, threads)
    return lupa, timeline, threads * times - contador


def inside_the_increment() -> set[int]:
    """The offsets from the read of `contador` to its write: a switch there would lose a sum."""
    instructions = list(dis.get_instructions(soma))
    read = next(i.offset for i in instructions if i.opname == "LOAD_GLOBAL" and i.argval == "contador")
    write = next(i.offset for i in instructions if i.opname == "STORE_GLOBAL")
    return {i.offset for i in instructions if read <= i.offset < write}


@needs_monitoring
@pytest.mark.skipif(not gil_enabled(), reason="the switches of the GIL: this Python runs without it")
def test_with_the_gil_threads_switch_only_between_increments_and_looking_loses_no_sum():
    lupa, timeline, lost = watched(30_000)
    switches = lupa.switches()
    assert lost == 0
    assert switches, "two threads of 30 000 turns each share the GIL at least once"
    assert not [s for s in switches if s.offset in inside_the_increment()], switches
    assert {s.opname for s in switches} <= {"JUMP_BACKWARD", "RESUME", "CALL", "FOR_ITER"}
    # each thread lost the GIL some time after it started, and got it back before it ended
    assert all(s.last_ns <= s.resumed_ns for s in switches)
    marks = lupa.marks(timeline)
    assert len(marks) == len(switches) and {m.label for m in marks} == {microscope.LOST_GIL}
    lanes = {span.thread_id: span for span in timeline.spans}
    assert set(lanes) == {m.thread_id for m in marks} | set(lanes)
    for mark in marks:
        span = lanes[mark.thread_id]
        assert span.start - 0.001 <= mark.time <= span.end + 0.001
    assert lupa.summary()[1].startswith("última instrução antes da troca: ")


@needs_monitoring
@pytest.mark.skipif(gil_enabled(), reason="the lost updates of threads without the GIL: this Python has it")
def test_without_the_gil_each_write_over_another_threads_sum_is_seen_where_it_happened():
    lupa, timeline, _ = watched(30_000)
    overwrites = lupa.overwrites()
    assert all(o.erased > 0 and o.read_ns < o.write_ns for o in overwrites)
    marks = lupa.marks(timeline)
    assert len(marks) == len(overwrites) and {m.label for m in marks} <= {microscope.OVERWROTE}
    spans = {span.thread_id: span for span in timeline.spans}
    for mark in marks:  # each write happened while its thread ran the function
        assert spans[mark.thread_id].start - 0.001 <= mark.time <= spans[mark.thread_id].end + 0.001
    assert lupa.summary()[0].endswith(f"{len(overwrites)} escritas")


@needs_monitoring
def test_the_microscope_leaves_monitoring_as_it_found_it():
    mon = sys.__dict__["monitoring"]
    before = [mon.get_tool(tool) for tool in range(6)]
    collecting = gc.isenabled()
    lupa, _, _ = watched(1_000)
    assert [mon.get_tool(tool) for tool in range(6)] == before
    assert gc.isenabled() == collecting  # (without the GIL, the microscope pauses collections while it looks)
    assert lupa.run.__name__ == "soma"


@needs_monitoring
def test_a_function_that_writes_no_single_global_needs_its_name():
    def two(vezes):
        global contador, outro
        contador = outro = vezes

    with pytest.raises(ValueError, match="variable='nome'"):
        microscope.Microscope(two)
    assert microscope.Microscope(two, variable="outro").variable == "outro"
    with pytest.raises(TypeError, match="função escrita em Python"):
        microscope.Microscope(len)


STORED = Path(__file__).parent.parent / "imgs"


@pytest.mark.parametrize("build", ["com", "sem"])
def test_the_stored_races_draw_and_print_on_every_python(build):
    """Notebook 05 shows these where this Python cannot make them (`python -m conctutor.imgs`)."""
    seen = microscope.load_seen(str(STORED / f"microscopio-{build}-gil.json"))
    assert seen.gil is (build == "com")
    assert seen.lines[0].startswith(f"Python {seen.python}, {build} GIL: 4 threads · somas perdidas: ")
    lanes = {span.thread_id for span in seen.timeline.spans if span.name == "soma"}
    assert len(lanes) == 4 and seen.marks and {m.thread_id for m in seen.marks} <= lanes
    if seen.gil:
        assert seen.lines[0].endswith("perdidas: 0%") and {m.label for m in seen.marks} == {microscope.LOST_GIL}
        assert seen.lines[2].startswith("última instrução antes da troca: JUMP_BACKWARD em 100% das trocas")
    else:
        assert {m.label for m in seen.marks} == {microscope.OVERWROTE}
    texts = [text.get_text() for text in seen.plot().findobj(Text)]
    assert any(f"Python {seen.python}, {build} GIL" in text for text in texts)  # the title says who made it
