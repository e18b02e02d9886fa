"""Sample what each recorded thread is doing, from a sidecar process.

A thread that runs pure Python cannot be watched from inside its own process:
a sampler thread would need the GIL itself, so it sees nothing shorter than
the switch interval. This module starts a small *separate process* (the
sidecar) that reads ``/proc`` every few milliseconds (at least every 2 ms while
recorded threads take turns on the GIL, whose slices last 5 ms) and writes
what it saw into a spool directory; the recording process reads it back
incrementally.

What it records:

- for every registered thread, its state each time it *changes*
  (:class:`ThreadSample`): running, ready but without a free core, waiting
  for I/O or a sleep, blocked on a lock/queue/another task, waiting for the
  GIL, or waiting for a reason that cannot be known;
- per-core CPU use every ~50 ms (:class:`CpuSample`), with the part used by
  "this program" (``root_pid``, its descendants, every process that
  registered a thread, and the sidecar itself) set apart.

macOS and other systems without ``/proc``: :func:`start_sampler` returns a
:class:`Sampler` whose ``available`` is ``False``; the readers return
nothing, and the caller falls back to what its own wrappers know.

The sidecar's program is `conctutor.sidecar` (standard library only, started
with ``python -I -S``); its docstring says how a wait is explained, what a
round costs, and the format of the files in the spool directory.
"""

from __future__ import annotations

import atexit
import os
import select
import struct
import sys
import threading
import time
from typing import TYPE_CHECKING, NamedTuple

from . import sidecar
from .model import State
from .sidecar import (
    _CPU_HEADER,
    _CPU_MAGIC,
    _REC,
    CPU_FILE,
    DEFAULT_BUDGET,
    DEFAULT_CONTENDED_BUDGET,
    DEFAULT_CPU_INTERVAL,
    DEFAULT_INTERVAL,
    DISK_FULL_EXIT,
    LOG_FILE,
    PID_FILE,
    STATES_FILE,
    STATS_FILE,
    THREADS_FILE,
)

if TYPE_CHECKING:
    import subprocess

__all__ = [
    "DISK_FULL_EXIT",
    "SIDECAR_STATES",
    "CpuSample",
    "Sampler",
    "ThreadSample",
    "allow_sampler",
    "dismiss_parked",
    "parked_pid",
    "read_cpu",
    "read_sampler_stats",
    "read_thread_states",
    "register_thread",
    "revoke_sampler",
    "start_sampler",
]


SIDECAR_STATES: tuple[State | None, ...] = (
    State.RUNNING, State.READY, State.IO, State.BLOCKED, State.GIL, State.WAITING, None)
"""The sidecar's state codes (``sidecar._RUNNING`` ... ``sidecar._GONE``, in this order) as the model's states;
None: the thread has ended. The one place where the sidecar's integers meet the package's vocabulary."""


class ThreadSample(NamedTuple):
    """A thread entered ``state`` at ``t_ns`` (``time.perf_counter_ns()``).

    Written only when the state changes; at stop, every live thread gets one
    more record at the stop time, repeating its current state.
    """

    t_ns: int
    pid: int
    tid: int
    state: State | None
    """None: the thread has ended."""


class CpuSample(NamedTuple):
    """Per-core CPU use over the interval that ends at ``t_ns``.

    ``busy[i]`` is the fraction (0-1) of core ``i`` that was busy (from
    ``/proc/stat``), ``ours[i]`` the part of it used by this program; the
    rest, :attr:`others`, is other programs'. ``/proc/stat`` counts in 10 ms
    ticks, so one sample is noisy (about +-0.2 at 50 ms); the sidecar carries
    rounding over to the next sample, so sums over many samples are right.
    """

    t_ns: int
    busy: tuple[float, ...]
    ours: tuple[float, ...]

    @property
    def others(self) -> tuple[float, ...]:
        """Per core, the fraction used by other programs (never negative)."""
        return tuple(max(0.0, b - o) for b, o in zip(self.busy, self.ours, strict=False))


_PR_SET_PTRACER = 0x59616D61


# ----------------------------------------------------------------------------
# Recording-process side
# ----------------------------------------------------------------------------


def _proc_available() -> bool:
    return sys.platform.startswith("linux") and os.path.exists("/proc/self/task")


class _Parked(NamedTuple):
    """A sidecar between two blocks, waiting for the next ``start`` (see `start_sampler`)."""

    process: subprocess.Popen[bytes]
    owner: int
    """The process that started it: a forked child never uses its parent's."""
    options: tuple[str, ...]


_parked: _Parked | None = None
_parked_lock = threading.Lock()


def _take_parked(options: tuple[str, ...]) -> subprocess.Popen[bytes] | None:
    """The parked sidecar, if it is this process's, alive and started with these options; else None
    (and a parked one that cannot serve is sent away)."""
    global _parked
    with _parked_lock:
        parked, _parked = _parked, None
    if parked is None:
        return None
    if parked.owner == os.getpid() and parked.options == options and parked.process.poll() is None:
        return parked.process
    _dismiss(parked.process)
    return None


def _park(process: subprocess.Popen[bytes], options: tuple[str, ...]) -> None:
    global _parked
    with _parked_lock:
        previous, _parked = _parked, _Parked(process, os.getpid(), options)
    if previous is not None:
        _dismiss(previous.process)


def _dismiss(process: subprocess.Popen[bytes], wait: float = 1.0) -> None:
    """Tell a sidecar to exit (closing its stdin says it too), and reap it; kill it if it does not."""
    import subprocess

    for stream in (process.stdin, process.stdout):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass
    try:
        process.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def parked_pid() -> int | None:
    """The pid of this process's sidecar waiting for the next block, if there is one (it samples
    nothing meanwhile, and exits with this process)."""
    parked = _parked
    return parked.process.pid if parked is not None and parked.owner == os.getpid() else None


def dismiss_parked() -> None:
    """Send away the sidecar kept between blocks, if any (at exit, and for tests)."""
    global _parked
    with _parked_lock:
        parked, _parked = _parked, None
    if parked is not None and parked.owner == os.getpid():
        _dismiss(parked.process)


def _forget_parked_in_child() -> None:
    """In a forked child: the parent's parked sidecar is not ours; drop our copies of its pipes."""
    global _parked
    parked, _parked = _parked, None
    if parked is not None:
        for stream in (parked.process.stdin, parked.process.stdout):
            if stream is not None:  # closed through the file object, which then never closes it again
                try:
                    stream.close()  # nothing is left in its buffer: every write to the sidecar is flushed
                except (OSError, ValueError):
                    pass
        parked.process.returncode = 0  # never waited for here: it is the parent's child, not ours


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parked_in_child)
atexit.register(dismiss_parked)


class Sampler:
    """Handle on a running sidecar (or on none, where ``available`` is False)."""

    def __init__(
        self,
        spool_dir: str,
        process: subprocess.Popen[bytes] | None = None,
        reason: str = "",
        options: tuple[str, ...] | None = None,
    ) -> None:
        self.spool_dir = spool_dir
        self._process = process
        self._options = options
        """Where the sidecar stays for the next block (``--stay``): the options it was started with."""
        self.available: bool = process is not None
        self.pid: int = process.pid if process is not None else 0
        self.reason = reason
        """Why ``available`` is False (empty when it is True)."""
        self.ended_early: int | None = None
        """The sidecar's exit status if it ended before `stop` asked it to (``DISK_FULL_EXIT``: the
        disk filled up), else None."""

    def stop(self) -> None:
        """Ask the sidecar to write its last samples; then it waits for the next block (kept for
        this process: `start_sampler`), or exits.

        Waits at most 1 s for it, then kills it. Safe to call more than once.
        """
        proc = self._process
        if proc is None:
            return
        self._process = None
        self.ended_early = proc.poll()
        said = b""
        try:
            if self.ended_early is None and proc.stdin is not None:
                proc.stdin.write(b"stop\n")
                proc.stdin.flush()
                if self._options is not None:
                    said = _read_line(proc, 1.0)
        except (OSError, ValueError):
            pass
        revoke_sampler()
        if said == b"stopped\n" and self._options is not None and proc.poll() is None:
            _park(proc, self._options)
        else:
            _dismiss(proc)

    def running(self) -> bool:
        """Whether the sidecar process is still alive."""
        proc = self._process
        return proc is not None and proc.poll() is None

    def ended_early_status(self) -> int | None:
        """The sidecar's exit status if it ended on its own, before `stop` (None while it runs)."""
        proc = self._process
        return proc.poll() if proc is not None else self.ended_early

    def stats(self) -> dict[str, float]:
        """The sidecar's last reported statistics (see :func:`read_sampler_stats`)."""
        return read_sampler_stats(self.spool_dir)

    def __enter__(self) -> Sampler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        if not self.available:
            return f"Sampler(available=False, reason={self.reason!r})"
        return f"Sampler(pid={self.pid}, spool_dir={self.spool_dir!r})"


_BOOT = (
    "import sys; from importlib.machinery import SourceFileLoader as L; l = L('_conctutor_sidecar', sys.argv[1]); "
    "m = type(sys)(l.name); m.__file__ = sys.argv[1]; sys.modules[l.name] = m; l.exec_module(m); "
    "sys.exit(m._main(sys.argv[2:]))"
)
"""How the sidecar starts: its file loaded as a module, so its compiled bytecode is cached
(run as a script, it would be compiled again each time, about 25 ms), and without
``importlib.util`` (10 ms of imports)."""


def start_sampler(
    spool_dir: str,
    root_pid: int,
    interval: float | None = None,
    *,
    budget: float = DEFAULT_BUDGET,
    cpu_interval: float = DEFAULT_CPU_INTERVAL,
    use_syscall: bool = True,
    contended_budget: float = DEFAULT_CONTENDED_BUDGET,
) -> Sampler:
    """Start the sidecar sampler for the program rooted at ``root_pid``.

    ``interval`` is the shortest time between two thread-sampling rounds
    (default 0.5 ms); the sidecar lengthens it whenever its own CPU use
    (``time.process_time``) goes over ``budget`` (a fraction of one core).
    While recorded threads take turns on the GIL it samples at least every 2 ms, if
    that stays within ``contended_budget``.
    ``cpu_interval`` is the per-core CPU sampling period. ``use_syscall=False``
    explains waits from ``wchan`` only, as on a machine where the sidecar may
    not read ``/proc/<pid>/task/<tid>/syscall``.

    Returns once the sidecar said it is ready (at most 2 s). Where there is
    no ``/proc`` (macOS) or the sidecar does not start, the returned
    sampler's ``available`` is False and its ``reason`` says why.
    """
    if not _proc_available():
        return Sampler(spool_dir, None, "no /proc on this system")
    import subprocess

    try:
        os.makedirs(spool_dir, exist_ok=True)
        for name in (THREADS_FILE, STATES_FILE):
            fd = os.open(os.path.join(spool_dir, name), os.O_WRONLY | os.O_CREAT, 0o644)
            os.close(fd)
    except OSError as error:  # a full or read-only disk
        return Sampler(spool_dir, None, f"could not write in the spool: {error}")
    options = (
        "--interval",
        repr(float(interval if interval is not None else DEFAULT_INTERVAL)),
        "--budget",
        repr(float(budget)),
        "--cpu-interval",
        repr(float(cpu_interval)),
        "--contended-budget",
        repr(float(contended_budget)),
        *(() if use_syscall else ("--no-syscall",)),
        "--stay",
    )
    parked = _take_parked(options)
    if parked is not None:  # the sidecar of this process's last block: about 10 ms sooner than a new one
        try:
            assert parked.stdin is not None
            parked.stdin.write(b"start %d %s\n" % (int(root_pid), os.fsencode(spool_dir)))
            parked.stdin.flush()
            line = _wait_until_ready(spool_dir, parked)
        except OSError:
            line = b""
        except BaseException:
            _dismiss(parked)
            raise
        if line == b"ready\n":
            return Sampler(spool_dir, parked, options=options)
        _dismiss(parked)
    args = [sys.executable, "-I", "-S", "-c", _BOOT, os.path.abspath(sidecar.__file__), spool_dir,
            str(int(root_pid)), *options]
    with open(os.path.join(spool_dir, LOG_FILE), "ab") as log:
        try:
            proc = subprocess.Popen(
                args,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                close_fds=True,
                start_new_session=True,  # the kernel's Ctrl-C (sent to its process group) must not reach it
            )
        except OSError as exc:
            return Sampler(spool_dir, None, f"could not start the sidecar: {exc}")
    try:
        line = _wait_until_ready(spool_dir, proc)
    except OSError as error:  # a full disk: no sampler, the recording goes on without it
        Sampler(spool_dir, proc).stop()
        return Sampler(spool_dir, None, f"could not write in the spool: {error}")
    except BaseException:  # an interrupt: the sidecar must not outlive this call
        Sampler(spool_dir, proc).stop()
        raise
    if line.strip() != b"ready":
        Sampler(spool_dir, proc).stop()
        return Sampler(spool_dir, None, f"the sidecar did not start ({line!r})")
    return Sampler(spool_dir, proc, options=options)


def _wait_until_ready(spool_dir: str, proc: subprocess.Popen[bytes]) -> bytes:
    """The sidecar's line for this block (``ready``), or what came before 2 s passed."""
    with open(os.path.join(spool_dir, PID_FILE), "w") as f:
        f.write(f"{proc.pid}\n")
    return _read_line(proc, 2.0)


def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    """One line from the sidecar (it writes one at a time, each after the last was read), or what
    came before `timeout` seconds passed."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    fd = proc.stdout.fileno()
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            break
        chunk = os.read(fd, 64)
        if not chunk:
            break
        line += chunk
    return line


_granted: set[tuple[int, str]] = set()
_ptracer_granted = False
"""Whether this process let a sidecar read its threads with prctl(PR_SET_PTRACER) (see `revoke_sampler`)."""


def register_thread(spool_dir: str, pid: int, native_tid: int, own_gil: int = 0) -> None:
    """Ask the sidecar to sample thread ``native_tid`` of process ``pid``.

    Call it from any process, the first time a thread runs a recorded task,
    with ``os.getpid()`` and ``threading.get_native_id()``; in a subinterpreter,
    with where its own GIL lies too (`conctutor.engine.subinterpreters.own_gil_address`),
    so that its waits for that GIL are told from waits for a lock. Cheap: one
    ``open``/``write``/``close`` (the first call in a process under Yama
    ptrace restrictions also grants the sidecar the right to read
    ``/proc/<pid>/task/<tid>/syscall``).
    """
    key = (os.getpid(), spool_dir)
    if key not in _granted:
        _granted.add(key)
        _grant_if_needed(spool_dir)
    fd = os.open(
        os.path.join(spool_dir, THREADS_FILE), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644
    )
    try:
        os.write(fd, b"%d %d %d\n" % (pid, native_tid, own_gil) if own_gil else b"%d %d\n" % (pid, native_tid))
    finally:
        os.close(fd)


def _grant_if_needed(spool_dir: str) -> None:
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            scope = f.read().strip()
    except OSError:
        return
    if scope != "1" or os.geteuid() == 0:
        return
    try:
        with open(os.path.join(spool_dir, PID_FILE)) as f:
            allow_sampler(int(f.read().strip()))
    except (OSError, ValueError):
        pass


def allow_sampler(pid: int) -> bool:
    """Let process ``pid`` read this process's ``/proc/.../syscall`` under Yama.

    ``prctl(PR_SET_PTRACER, pid)``: needed where Yama's ``ptrace_scope`` is 1
    (Ubuntu's default) and the sidecar is not an ancestor. Applies to the
    calling process only (every worker process calls it for itself:
    :func:`register_thread` does). Returns whether it was applied; a no-op
    returning False where unsupported. Not exercised on the development
    machine (no Yama there).
    """
    if not sys.platform.startswith("linux"):
        return False
    global _ptracer_granted
    granted = _prctl_set_ptracer(pid)
    _ptracer_granted = _ptracer_granted or granted
    return granted


def revoke_sampler() -> None:
    """Undo `allow_sampler` in this process, once its sidecar has stopped: the right was given to a
    pid, which the system may hand to another program later."""
    global _ptracer_granted
    if _ptracer_granted:
        _prctl_set_ptracer(0)
        _ptracer_granted = False
    _granted.clear()


def _prctl_set_ptracer(pid: int) -> bool:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        res = libc.prctl(_PR_SET_PTRACER, ctypes.c_ulong(pid), 0, 0, 0)
    except (OSError, AttributeError):
        return False
    return res == 0


def read_thread_states(spool_dir: str, cursor: int = 0) -> tuple[list[ThreadSample], int]:
    """Thread state changes written since ``cursor`` (start with 0).

    Returns the new samples and the cursor to pass next time. A partially
    written last record is left for the next call.
    """
    data = _read_from(os.path.join(spool_dir, STATES_FILE), cursor)
    n = len(data) // _REC.size
    out = []
    states = SIDECAR_STATES
    for t, pid, tid, code in _REC.iter_unpack(data[: n * _REC.size]):
        out.append(ThreadSample(t, pid, tid, states[code]))
    return out, cursor + n * _REC.size


def read_cpu(spool_dir: str, cursor: int = 0) -> tuple[list[CpuSample], int]:
    """Per-core CPU samples written since ``cursor`` (start with 0)."""
    path = os.path.join(spool_dir, CPU_FILE)
    head = _read_from(path, 0, _CPU_HEADER.size)
    if len(head) < _CPU_HEADER.size:
        return [], cursor
    magic, ncpu = _CPU_HEADER.unpack(head)
    if magic != _CPU_MAGIC or ncpu <= 0:
        return [], cursor
    cursor = max(cursor, _CPU_HEADER.size)
    rec = struct.Struct(f"<q{2 * ncpu}f")
    data = _read_from(path, cursor)
    n = len(data) // rec.size
    out = []
    for values in rec.iter_unpack(data[: n * rec.size]):
        busy = tuple(values[1 : 1 + ncpu])
        ours = tuple(values[1 + ncpu :])
        out.append(CpuSample(values[0], busy, ours))
    return out, cursor + n * rec.size


def read_sampler_stats(spool_dir: str) -> dict[str, float]:
    """The sidecar's own figures: ``cpu_s`` (its CPU time), ``wall_s``,
    ``cpu_fraction`` (of one core), ``rounds``, ``rounds_per_s``,
    ``interval_s`` (current), ``threads`` (sampled now), ``syscall_ok``,
    ``contended_s`` (time spent at the contended budget: threads took turns on the GIL).
    Empty before the first report (~0.5 s after start) or when unavailable.
    """
    try:
        with open(os.path.join(spool_dir, STATS_FILE)) as f:
            text = f.read()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        try:
            out[key] = float(value)
        except ValueError:
            pass
    return out


def _read_from(path: str, offset: int, size: int = -1) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return b""
    try:
        if size >= 0:
            return os.pread(fd, size, offset)
        chunks = []
        while True:
            chunk = os.pread(fd, 1 << 20, offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
