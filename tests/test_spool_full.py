"""A full disk under the spool directory never kills the recorded program.

Worker processes keep their events in memory-mapped files in the recording's
spool directory. On a full tmpfs (``/tmp`` on Debian 13, Fedora, Arch) a page
of such a file with no space behind it killed the worker, and then the
recording process, with SIGBUS. Now a worker reserves the space first: when
there is none, it keeps nothing more, the program goes on, and the timeline's
`lost` notes say which spans could not be kept and why.

The quick tests make the disk "full" with a replaced ``os.posix_fallocate``
or a tiny RLIMIT_FSIZE in fork workers; the slow one fills a real tmpfs
(mounting needs root) and runs a process pool under fork, spawn and forkserver.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import errno
import io
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conctutor import Timeline, grava_log, record, task
from conctutor.engine import sinks
from conctutor.engine.assembly import READ_BYTES, Assembler, FileSource, Loss, scan_spool
from conctutor.engine.event_files import MAX_TEXT, SEGMENT_BYTES
from conctutor.engine.events import BEGIN, END, OK_CODE
from conctutor.engine.model import Kind, Status
from conctutor.engine.sinks import RESERVE_BYTES, FileSink

REPO = Path(__file__).resolve().parent.parent


class _Task:
    """What a sink needs to know of a task."""

    task_id = 1
    name = "tarefa"
    kind = Kind.IO


def _no_space(*_: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _space_up_to(limit: int) -> Callable[[int, int, int], None]:
    """A posix_fallocate for a disk that has `limit` bytes for each file, then none."""
    real = os.posix_fallocate

    def allocate(fd: int, offset: int, length: int) -> None:
        if offset + length > limit:
            _no_space()
        real(fd, offset, length)

    return allocate


def _read_all(directory: Path) -> Assembler:
    assembler = Assembler()
    found = scan_spool(str(directory), set())
    for source in found.sources:
        assembler.feed(source.key, source.pid, source.read())
    assembler.note_losses(found.losses)
    return assembler


def _spans(sink: FileSink, count: int) -> None:
    for _ in range(count):
        seq = sink.begin(_Task())
        sink.wait(seq, 1, 2, 0)
        sink.end(seq, OK_CODE, "")


# --- one sink ---------------------------------------------------------------------------


def test_a_sink_with_no_space_keeps_nothing_and_counts_what_it_lost(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "posix_fallocate", _no_space)
    sink = FileSink(str(tmp_path), 4321, 1)
    _spans(sink, 5)

    assembler = _read_all(tmp_path)
    assert assembler.finished == []
    assert assembler.losses() == [Loss(4321, 5, errno.ENOSPC)]
    assert not list(tmp_path.glob("*.ev")), "a segment with no space must not stay for readers to map"


def test_a_sink_that_fills_up_keeps_what_came_before_and_counts_the_rest(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sinks, "RESERVE_BYTES", 4096)
    monkeypatch.setattr(os, "posix_fallocate", _space_up_to(16384))
    sink = FileSink(str(tmp_path), 4321, 1)
    unfinished = sink.begin(_Task())
    _spans(sink, 500)
    sink.end(unfinished, OK_CODE, "")  # began while there was room, ends after: its end is lost

    assembler = _read_all(tmp_path)
    kept = len(assembler.finished)
    (loss,) = assembler.losses()
    assert 100 < kept < 500
    assert loss.pid == 4321 and loss.errno == errno.ENOSPC
    assert kept + loss.spans == 501
    assert assembler.open_spans(0, Status.INTERRUPTED) == [], \
        "a span whose end could not be kept is counted as lost, not drawn as interrupted"


@pytest.mark.parametrize("fallocate", ["unsupported", "missing"])
def test_where_posix_fallocate_is_unsupported_zeros_reserve_the_space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                      fallocate: str) -> None:
    if fallocate == "missing":  # as on macOS; and without pread and pwrite, as on Windows
        for name in ("posix_fallocate", "pread", "pwrite"):
            monkeypatch.delattr(os, name, raising=False)
    else:  # as on a file system without fallocate (musl passes EOPNOTSUPP through)
        monkeypatch.setattr(os, "posix_fallocate", lambda *_: (_ for _ in ()).throw(
            OSError(errno.EOPNOTSUPP, os.strerror(errno.EOPNOTSUPP))))
    sink = FileSink(str(tmp_path), 4321, 1)
    _spans(sink, 3000)  # more than the first reservation holds

    (segment,) = tmp_path.glob("*.ev")
    assert segment.stat().st_blocks * 512 >= 2 * RESERVE_BYTES
    assembler = _read_all(tmp_path)
    assert len(assembler.finished) == 3000 and assembler.losses() == []


def test_the_reader_reads_across_its_buffer_and_segment_ends(tmp_path: Path) -> None:
    """A long error message crosses the reader's buffer; many spans fill more than one segment."""
    sink = FileSink(str(tmp_path), 4321, 1)
    source = FileSource(str(tmp_path), 4321, 1)
    seq = sink.begin(_Task())
    sink.end(seq, OK_CODE, "x" * (3 * READ_BYTES))
    events = source.read()
    assert [e[0] for e in events if e[0] in (BEGIN, END)] == [BEGIN, END]
    _spans(sink, 12_000)  # about 1.2 segments
    assert sum(1 for e in source.read() if e[0] == END) == 12_000
    assert len(list(tmp_path.glob("*.ev"))) == 2


# --- a recording ---------------------------------------------------------------------------


@task(kind="io")
def anota(_: int) -> None:
    """A task that only marks its moment."""


def _limit_file_size(size: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


def _figure_text(timeline: Timeline) -> str:
    import matplotlib.pyplot as plt

    figure = timeline.plot()
    try:
        return " ".join(text.get_text() for text in figure.findobj(lambda artist: hasattr(artist, "get_text")))
    finally:
        plt.close(figure)


def test_workers_past_their_file_size_limit_lose_their_spans_and_the_program_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONCTUTOR_TIME_SCALE", "0.01")
    fork = multiprocessing.get_context("fork")
    with contextlib.redirect_stdout(io.StringIO()), record() as recorded:
        with concurrent.futures.ProcessPoolExecutor(2, mp_context=fork, initializer=_limit_file_size,
                                                    initargs=(16 * 1024,)) as pool:
            list(pool.map(grava_log, [0.5] * 6))
        grava_log(0.5)
    timeline = recorded.final

    assert [span.pid for span in timeline.spans] == [os.getpid()]
    assert timeline.lost, "the timeline must say that the workers' spans were not kept"
    assert all(note.startswith("arquivo maior que o limite permitido ao processo: ") for note in timeline.lost)
    assert sum(int(note.split(": ")[1].split()[0]) for note in timeline.lost) == 6
    assert "não foram gravadas" in _figure_text(timeline)

    path = tmp_path / "run.json"
    timeline.save(path)
    assert Timeline.load(path).lost == timeline.lost
    timeline.to_perfetto(tmp_path / "run.trace.json")
    trace = json.loads((tmp_path / "run.trace.json").read_text(encoding="utf-8"))
    assert trace["otherData"]["lost"] == list(timeline.lost)


def test_a_worker_whose_disk_fills_up_keeps_its_first_spans_and_says_how_many_it_lost(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sinks, "RESERVE_BYTES", 4096)  # fork workers inherit both
    monkeypatch.setattr(os, "posix_fallocate", _space_up_to(8192))
    fork = multiprocessing.get_context("fork")
    with record() as recorded:
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=fork) as pool:
            list(pool.map(anota, range(600), chunksize=50))
    timeline = recorded.final

    kept = len(timeline.spans)
    (note,) = timeline.lost
    worker = timeline.spans[0].worker
    assert 100 < kept < 600
    assert note == f"disco cheio: {600 - kept} tarefas do {worker} não foram gravadas"


# --- a real full tmpfs ------------------------------------------------------------------------

PROGRAM = textwrap.dedent('''
    """A program whose temporary directory fills up while it records a process pool."""
    import concurrent.futures, json, multiprocessing, os, sys, tempfile
    from conctutor import Timeline, grava_log, record

    def fill(folder):
        fd = os.open(os.path.join(folder, "enche"), os.O_WRONLY | os.O_CREAT, 0o600)
        for size in (1 << 16, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, bytes(size))
            except OSError:
                pass
        os.close(fd)

    if __name__ == "__main__":
        folder = tempfile.gettempdir()
        saved = os.path.join(folder, "run.json")
        with record() as recorded:
            grava_log(0.01)
            recorded.save(saved)
            before = open(saved, "rb").read()
            fill(folder)
            with concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context(sys.argv[1])) as pool:
                list(pool.map(grava_log, [0.01] * 6))
            grava_log(0.01)
            try:  # still full: leaving the block frees the spool directory's pages
                recorded.save(saved)
                error = ""
            except OSError as exc:
                error = str(exc)
        print(json.dumps({
            "main_spans": sum(span.pid == os.getpid() for span in recorded.spans),
            "worker_spans": sum(span.pid != os.getpid() for span in recorded.spans),
            "lost": list(recorded.lost),
            "save_error": error,
            "old_file_intact": open(saved, "rb").read() == before,
            "temporaries_left": [name for name in os.listdir(folder) if name.endswith(".tmp")],
        }))
''')


@contextlib.contextmanager
def _small_tmpfs(folder: Path, size: str) -> Iterator[Path]:
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=1777", "tmpfs", str(folder)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"não foi possível montar um tmpfs (precisa de root): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_a_full_tmpfs_never_kills_the_program(tmp_path: Path, method: str) -> None:
    program = tmp_path / "programa.py"
    program.write_text(PROGRAM, encoding="utf-8")
    with _small_tmpfs(tmp_path / "tmpfs", "4m") as folder:
        env = {**os.environ, "TMPDIR": str(folder), "CONCTUTOR_TIME_SCALE": "1",
               "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        result = subprocess.run([sys.executable, str(program), method], env=env, capture_output=True, text=True,
                                timeout=120, check=False)
    assert result.returncode == 0, f"exit {result.returncode} (-7 or 135: SIGBUS)\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["main_spans"] == 2
    assert report["worker_spans"] == 0
    assert report["lost"] and all(note.startswith("disco cheio: ") for note in report["lost"])
    spans_lost = [note for note in report["lost"] if "não fo" in note]
    assert sum(int(note.split(": ")[1].split()[0]) for note in spans_lost) == 6
    # the sampler could not write either: the figure says until when it saw the threads and the cores
    assert any("só foram vistos até" in note for note in report["lost"]), report["lost"]
    assert "disco cheio" in report["save_error"]
    assert report["old_file_intact"]
    assert report["temporaries_left"] == []


def test_a_message_longer_than_a_segment_keeps_its_start_and_the_reader_goes_on(tmp_path: Path) -> None:
    sink = FileSink(str(tmp_path), 4321, 1)
    seq = sink.begin(_Task())
    sink.end(seq, OK_CODE, "é" * SEGMENT_BYTES)
    _spans(sink, 2)

    assembler = _read_all(tmp_path)
    assert len(assembler.finished) == 3
    assert assembler.finished[0].error == "é" * MAX_TEXT
