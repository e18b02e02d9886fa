"""A classroom cannot break a recording: Ctrl-C at any instant of ``record()``, and a block that fails
while it starts, leave nothing behind (issue 20, items 1 and 2)."""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import psutil
import pytest

from conctutor import record, spool, task
from conctutor.engine import routing, sampling

QUICK_ROUNDS = 20
FULL_ROUNDS = 200


@task
def espera_um_pouco() -> None:
    time.sleep(0.005)


@pytest.fixture
def python_sigint():
    """Python's own Ctrl-C handler for the test: a test run started in the background by a shell
    inherits SIGINT ignored, and Python then leaves it ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    yield
    signal.signal(signal.SIGINT, previous)


def sidecars() -> list[psutil.Process]:
    """The sampler processes this process started and that are still alive, but for the one kept idle for
    the next block (sampling.parked_pid: it samples nothing, and exits with this process)."""
    alive = []
    parked = sampling.parked_pid()
    for child in psutil.Process().children(recursive=True):
        try:
            if child.pid != parked and "sidecar" in " ".join(child.cmdline()) and \
                    child.status() != psutil.STATUS_ZOMBIE:
                alive.append(child)
        except psutil.Error:
            pass
    return alive


def our_spools() -> list[str]:
    try:
        base = spool.base_directory()
        return [name for name in os.listdir(base) if spool.owner_pid(name) == os.getpid()]
    except OSError:
        return []


def assert_nothing_left(when: str) -> None:
    assert routing.open_collectors == [], when
    assert routing.context_collector.get() is None, when
    assert sidecars() == [], when
    assert our_spools() == [], when


def one_block() -> None:
    with record() as timeline:
        espera_um_pouco()
    assert len(timeline.spans) == 1


def interrupted_block(delay: float) -> bool:
    """A block interrupted by Ctrl-C `delay` seconds after it is entered (maybe after it ended);
    whether the KeyboardInterrupt came out of the block."""
    main = threading.main_thread().ident
    assert main is not None
    timer = threading.Timer(delay, signal.pthread_kill, (main, signal.SIGINT))
    interrupted = False
    try:
        timer.start()
        with record() as timeline:
            espera_um_pouco()
        timeline.spans  # noqa: B018  (a finished timeline answers)
        timer.join()
        time.sleep(0.002)  # a signal sent just after the block lands here
    except KeyboardInterrupt:
        interrupted = True
    timer.join()
    return interrupted


def run_rounds(rounds: int) -> None:
    one_block()  # warm: imports and the sampler's bytecode
    started = time.perf_counter()
    one_block()
    cycle = time.perf_counter() - started
    rng = random.Random(20)
    interrupted = 0
    for round_ in range(rounds):
        # random instants of the block's start, body and close
        delay = rng.uniform(0.0, 1.1 * cycle)
        try:
            interrupted += interrupted_block(delay)
        except KeyboardInterrupt:  # one that landed between two steps of this test itself
            interrupted += 1
        assert_nothing_left(f"round {round_}, Ctrl-C after {delay * 1000:.1f} ms")
        if round_ % 10 == 9:
            one_block()  # the next block is fresh: its own recording, one span
            assert_nothing_left(f"after round {round_}")
    assert interrupted >= rounds // 2  # most instants fell inside the block


@pytest.mark.usefixtures("python_sigint")
def test_ctrl_c_at_random_instants_of_a_block_leaves_nothing_behind():
    run_rounds(QUICK_ROUNDS)


@pytest.mark.slow
@pytest.mark.usefixtures("python_sigint")
def test_ctrl_c_at_200_random_instants_of_a_block_leaves_nothing_behind():
    run_rounds(FULL_ROUNDS)


# --- a block that fails while it starts ------------------------------------------------------


class ViewThatFails:
    def start(self, timeline: object) -> None:
        raise RuntimeError("a janela não abriu")

    def stop(self) -> None:
        pass

    def finish(self, timeline: object) -> None:
        pass


def test_a_view_that_fails_to_start_leaves_no_recording_open():
    with pytest.raises(RuntimeError, match="janela"):
        with record(live=ViewThatFails()):
            pass
    assert_nothing_left("after a failed start")
    espera_um_pouco()  # a call outside any block is recorded nowhere
    assert routing.open_collectors == []
    one_block()


@pytest.mark.parametrize("live", [1, "sim", object()])
def test_a_bad_live_gives_a_portuguese_error_and_leaves_nothing(live):
    with pytest.raises(TypeError, match="live deve ser True"):
        with record(live=live):
            pass
    assert_nothing_left(f"after record(live={live!r})")


@pytest.mark.parametrize("quiet", ["sim", 1, None])
def test_a_bad_quiet_gives_a_portuguese_error(quiet):
    with pytest.raises(TypeError, match="quiet deve ser True"):
        with record(quiet=quiet):
            pass
    assert_nothing_left(f"after record(quiet={quiet!r})")
