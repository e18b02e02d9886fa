"""The sampler's sidecar process: reads ``/proc`` and writes what each thread does.

`conctutor.sampling` starts it as ``python -I -S -c BOOT sidecar.py SPOOL ROOT_PID [options]``
and reads its files back. It must stay standard-library only and import little (no
typing, enum or signal): each ``record()`` block waits for it to say ``ready``. It runs
in a session of its own, so a Ctrl-C sent to the notebook kernel's process group does
not cut its last samples short; it stops on ``stop``. With ``--stay`` (what `conctutor.sampling`
asks), it then says ``stopped`` and waits, sampling nothing, for ``start ROOT_PID SPOOL`` (the
same process's next block), or exits on ``exit``, at the end of its stdin or with a new parent.
When its recording process dies without sending ``stop`` (SIGKILL, ``os._exit``: its stdin
ends, or it gets a new parent), it removes the spool directory, which no one else would, and exits.

How a wait is explained (Linux, from ``/proc/<pid>/task/<tid>/``):

- ``syscall`` (needs ptrace-attach rights over the thread: root has them;
  same-user processes have them unless Yama restricts ptrace, in which case
  :func:`register_thread` calls :func:`allow_sampler` for you) gives
  ``running`` or the blocking system call and its arguments. Sleeps, socket,
  pipe and file reads, ``select``/``poll``/``epoll`` are ``E/S``;
  ``waitpid`` is ``bloqueada``; a ``futex`` wait is ``GIL`` when the futex
  lives in the interpreter's own static data (the writable mappings of
  ``libpythonX.Y.so`` or of the ``python`` executable) and ``bloqueada``
  otherwise: every ``threading.Lock``/``RLock``/``Condition``/``Queue``/
  ``Event``/``join`` wait is on a semaphore allocated on the heap (or on the
  waiting thread's stack on 3.13). Verified on CPython 3.10.13, 3.11.7,
  3.12.1 and 3.13.0 here. Whether the futex call has a timeout does *not*
  tell them apart: the GIL waits with a timeout (``FUTEX_WAIT_BITSET``
  monotonic, the switch interval), but so does ``Lock.acquire(timeout=...)``,
  ``Queue.get(timeout=...)`` and ``Event.wait(timeout)``; and two threads
  waiting on one lock share its address just as GIL waiters share the GIL's.
- without that right, ``stat`` (state letter) and ``wchan`` (kernel function)
  are used: sleeps and socket/pipe/poll waits are still ``E/S``, but a futex
  wait could be the GIL or a lock, so it is ``esperando``.
- a runnable thread (``R``) is ``rodando``; the time it spent runnable but
  without a core (``schedstat`` run_delay, known only once it gets a core)
  is written afterwards as ``pronta``.

A subinterpreter with its own GIL (3.12+) keeps it in its interpreter state,
allocated on the heap (about 7.9 KB from its start on 3.14): a thread of one
registers with that state's address (``pid tid address``), and a futex within
`SUBINTERPRETER_GIL_WINDOW` bytes after it is that interpreter's GIL.

Known misclassification of the GIL rule: the
holder that just dropped the GIL and waits for the other thread to take it
(``FORCE_SWITCHING``) shows ``GIL`` too, which is what it is waiting for.

The work is three parts, composed by ``_Sidecar``'s loop: ``_ThreadSampler`` (what each
registered thread does), ``_CpuAccounting`` (each core's load, and this program's share) and
``_RateGovernor`` (how long to sleep between rounds).

Timing: a change is dated halfway between the round that last saw the old
state and the round that first saw the new one, so each edge is known to
half a sampling interval; records are flushed ~40-60 ms late, so that a wait
for a core learnt afterwards can still be written in place.

Cost and rate: the sidecar keeps its own CPU use (``time.process_time``) at
``budget`` (2 % of one core by default) by lengthening the interval between
rounds, from 0.5 ms up to 20 ms. While a recorded thread waits for the GIL
(or, without the syscall file, for a futex), and for 0.25 s after, it samples
at least every 2 ms instead (``CONTENDED_INTERVAL``; more often when rounds
are cheap enough to fit 6 % of a core), within ``contended_budget`` (10 % at
most; about 5 % here): the GIL's slices last the switch interval (5 ms), and
rounds longer than about 2 ms run neighbouring slices together. Only then
does the finer rate matter, and then the recorded program, which the GIL
holds to one core, leaves the other cores free.

What a round costs depends on how long the sidecar slept before it. On the
2-core development VM, a Python loop that only sleeps costs 20 us of CPU per
wake-up at 0.5 ms intervals and 85-140 us at 5-20 ms (cold caches), and a
pread of a /proc file 2-5 us. So at 2 % a quiet machine gets a round every
16-20 ms (about 300 us each); at 2 ms, they cost about 100 us each (5 %);
when the machine is oversubscribed (load average 6-8 there) each round costs
100-250 us and the interval grows: slices shorter than that blur.
``read_sampler_stats`` reports the figures.

Files in the spool directory:

- ``threads``: ``"pid tid\\n"`` lines appended by :func:`register_thread`;
- ``thread_states``: 20-byte records ``<qiiI`` (t_ns, pid, tid, state code),
  in time order per thread (and per batch);
- ``cpu``: an 8-byte header ``b"CPU1" + <I ncpu``, then records
  ``<q`` t_ns followed by ``2 * ncpu`` float32 (busy per core, ours per core);
- ``sampler_stats``: ``key value`` lines (the sidecar's own CPU use, rounds,
  current interval), rewritten every ~0.5 s and at stop;
- ``sampler.pid``, ``sampler.log`` (the sidecar's stderr).
"""

from __future__ import annotations

import errno
import os
import select
import struct
import sys
import time

THREADS_FILE = "threads"
SUBINTERPRETER_GIL_WINDOW = 32 << 10
"""Bytes from the start of a subinterpreter's state within which its GIL lies (measured: 7856-7944 on 3.14.7)."""
STATES_FILE = "thread_states"
CPU_FILE = "cpu"
STATS_FILE = "sampler_stats"
PID_FILE = "sampler.pid"
LOG_FILE = "sampler.log"

_REC = struct.Struct("<qiiI")
_CPU_HEADER = struct.Struct("<4sI")
_CPU_MAGIC = b"CPU1"

DEFAULT_INTERVAL = 0.0005
"""Shortest time between two thread-sampling rounds (seconds)."""
MAX_INTERVAL = 0.02
"""Longest time between two rounds, whatever the cost."""
DEFAULT_BUDGET = 0.02
"""The sidecar's CPU budget, as a fraction of one core."""
CONTENDED_INTERVAL = 0.002
"""Longest time between two rounds while recorded threads take turns on the GIL (see the module's
docstring), unless that would cost more than the contended budget."""
CONTENDED_AIM = 0.06
"""Meanwhile, rounds come more often than that when they are cheap enough to fit this share of a core."""
DEFAULT_CONTENDED_BUDGET = 0.10
"""The most CPU the sidecar may use meanwhile, as a fraction of one core."""
CONTENDED_HOLD_NS = 250_000_000
"""How long the contended mode lasts after the last wait for the GIL it saw."""
DEFAULT_CPU_INTERVAL = 0.05
"""Time between two per-core CPU samples (seconds)."""

_WAKE_COST = 15e-6
"""Measured here: one sleep/wake-up of the sidecar costs 13-20 us of CPU."""
_THREAD_COST = 4e-6
"""Measured here: one pread of a /proc file, 2-5 us."""

READY_MIN_NS = 200_000
"""Shorter waits for a core (wake-up latency) are not written as READY."""

DISK_FULL_EXIT = 28
"""The sidecar's exit status when the spool's disk filled up (ENOSPC's number on Linux)."""

# State codes in the thread_states file; `conctutor.engine.sampling.SIDECAR_STATES` maps them to the model's states.
_RUNNING, _READY, _IO, _BLOCKED, _GIL, _WAITING, _GONE = range(7)



# System call numbers -> reason. Futex is handled apart (GIL or lock).
_X86_64_FUTEX = 202
_X86_64_SYSCALLS = {
    0: _IO,  # read
    1: _IO,  # write (a full pipe or socket)
    7: _IO,  # poll
    17: _IO,  # pread64
    19: _IO,  # readv
    20: _IO,  # writev
    23: _IO,  # select
    35: _IO,  # nanosleep
    40: _IO,  # sendfile
    42: _IO,  # connect
    43: _IO,  # accept
    44: _IO,  # sendto
    45: _IO,  # recvfrom
    46: _IO,  # sendmsg
    47: _IO,  # recvmsg
    61: _BLOCKED,  # wait4 (another process)
    65: _BLOCKED,  # semop
    69: _BLOCKED,  # msgsnd
    70: _BLOCKED,  # msgrcv
    72: _BLOCKED,  # fcntl (F_SETLKW)
    73: _BLOCKED,  # flock
    74: _IO,  # fsync
    75: _IO,  # fdatasync
    208: _IO,  # io_getevents
    220: _BLOCKED,  # semtimedop
    230: _IO,  # clock_nanosleep
    232: _IO,  # epoll_wait
    247: _BLOCKED,  # waitid
    257: _IO,  # openat (a FIFO, a slow filesystem)
    270: _IO,  # pselect6
    271: _IO,  # ppoll
    275: _IO,  # splice
    281: _IO,  # epoll_pwait
    288: _IO,  # accept4
    295: _IO,  # preadv
    299: _IO,  # recvmmsg
    307: _IO,  # sendmmsg
    426: _IO,  # io_uring_enter
    441: _IO,  # epoll_pwait2
    449: _BLOCKED,  # futex_waitv
}
_AARCH64_FUTEX = 98
_AARCH64_SYSCALLS = {  # the generic table (also riscv64, loongarch64)
    4: _IO,  # io_getevents
    22: _IO,  # epoll_pwait
    25: _BLOCKED,  # fcntl
    32: _BLOCKED,  # flock
    56: _IO,  # openat
    63: _IO,  # read
    64: _IO,  # write
    65: _IO,  # readv
    66: _IO,  # writev
    67: _IO,  # pread64
    69: _IO,  # preadv
    71: _IO,  # sendfile
    72: _IO,  # pselect6
    73: _IO,  # ppoll
    76: _IO,  # splice
    82: _IO,  # fsync
    83: _IO,  # fdatasync
    95: _BLOCKED,  # waitid
    101: _IO,  # nanosleep
    115: _IO,  # clock_nanosleep
    188: _BLOCKED,  # msgrcv
    189: _BLOCKED,  # msgsnd
    192: _BLOCKED,  # semtimedop
    193: _BLOCKED,  # semop
    202: _IO,  # accept
    203: _IO,  # connect
    206: _IO,  # sendto
    207: _IO,  # recvfrom
    211: _IO,  # sendmsg
    212: _IO,  # recvmsg
    242: _IO,  # accept4
    243: _IO,  # recvmmsg
    260: _BLOCKED,  # wait4
    269: _IO,  # sendmmsg
    426: _IO,  # io_uring_enter
    441: _IO,  # epoll_pwait2
    449: _BLOCKED,  # futex_waitv
}
_FUTEX_WAIT_CMDS = frozenset({0, 6, 9, 11, 13})  # WAIT, LOCK_PI, WAIT_BITSET, ...

# wchan (kernel function where a sleeping thread sits) -> reason, for when the
# syscall file cannot be read. Prefix match; a futex wait stays "esperando".
_WCHAN_PREFIXES: tuple[tuple[bytes, int], ...] = (
    (b"hrtimer_nanosleep", _IO),
    (b"do_nanosleep", _IO),
    (b"clock_nanosleep", _IO),
    (b"poll_schedule_timeout", _IO),
    (b"do_select", _IO),
    (b"do_sys_poll", _IO),
    (b"core_sys_select", _IO),
    (b"ep_poll", _IO),
    (b"do_epoll_wait", _IO),
    (b"wait_woken", _IO),
    (b"sk_wait_data", _IO),
    (b"sk_stream_wait", _IO),
    (b"inet_csk_accept", _IO),
    (b"inet_csk_wait_for_connect", _IO),
    (b"unix_stream_read", _IO),
    (b"unix_wait_for_peer", _IO),
    (b"__skb_wait_for_more_packets", _IO),
    (b"__skb_recv_datagram", _IO),
    (b"pipe_read", _IO),
    (b"pipe_write", _IO),
    (b"pipe_wait", _IO),
    (b"wait_for_partner", _IO),
    (b"n_tty_read", _IO),
    (b"wait_on_page", _IO),
    (b"folio_wait", _IO),
    (b"io_schedule", _IO),
    (b"do_wait", _BLOCKED),
    (b"kernel_wait4", _BLOCKED),
)


def _syscall_table() -> tuple[int, dict[int, int]] | None:
    machine = os.uname().machine
    if machine in ("x86_64", "amd64"):
        return _X86_64_FUTEX, _X86_64_SYSCALLS
    if machine in ("aarch64", "arm64", "riscv64", "loongarch64"):
        return _AARCH64_FUTEX, _AARCH64_SYSCALLS
    return None


def _boot_ticks(hz: int) -> int:
    """Clock ticks since boot (the unit of ``starttime`` in ``/proc/<pid>/stat``)."""
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * hz)


def _is_leader(pid: int) -> bool:
    """Whether ``pid`` is a process (thread-group leader), not another thread."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Tgid:"):
                    return int(line.split()[1]) == pid
    except (OSError, ValueError, IndexError):
        pass
    return False


def _interpreter_regions(pid: int) -> list[tuple[int, int]]:
    """Writable static-data ranges of the Python interpreter mapped in ``pid``.

    The GIL lives there (``_PyRuntime``), in ``libpythonX.Y.so`` when Python
    is built shared, in the executable otherwise. The anonymous mapping right
    after such a mapping (its ``.bss``) is included.
    """
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        exe = ""
    if exe.endswith(" (deleted)"):
        exe = exe[: -len(" (deleted)")]
    regions: list[tuple[int, int]] = []
    try:
        with open(f"/proc/{pid}/maps", "rb") as f:
            lines = f.read().splitlines()
    except OSError:
        return regions
    prev_end = -1
    for line in lines:
        parts = line.split(None, 5)
        if len(parts) < 5:
            continue
        lo_s, _, hi_s = parts[0].partition(b"-")
        lo, hi = int(lo_s, 16), int(hi_s, 16)
        writable = parts[1][1:2] == b"w"
        path = parts[5].strip().decode(errors="replace") if len(parts) > 5 else ""
        if path.endswith(" (deleted)"):
            path = path[: -len(" (deleted)")]
        is_interp = bool(path) and (path == exe or os.path.basename(path).startswith("libpython"))
        if is_interp:
            if writable:
                regions.append((lo, hi))
            prev_end = hi
        elif not path and writable and lo == prev_end:
            regions.append((lo, hi))
            prev_end = -1
        else:
            prev_end = -1
    return regions


class _Thread:
    """Per-thread sampling state inside the sidecar."""

    __slots__ = (
        "base",
        "code",
        "fallback",
        "fd",
        "fd_sched",
        "fd_wchan",
        "floor_code",
        "floor_t",
        "last_not_r_t",
        "last_t",
        "pending",
        "pid",
        "raw",
        "ready_end",
        "retry_t",
        "run_delay",
        "run_start",
        "sched_t",
        "tid",
    )

    def __init__(self, pid: int, tid: int) -> None:
        self.pid = pid
        self.tid = tid
        self.base = f"/proc/{pid}/task/{tid}/"
        self.fd = -1  # syscall file, or stat file in fallback mode
        self.fallback = False
        self.fd_wchan = -1
        self.fd_sched = -1
        self.raw = b""
        self.code = -1
        self.last_t = 0
        self.last_not_r_t = 0
        self.run_start = 0
        self.ready_end = 0
        self.sched_t = 0
        self.run_delay = -1
        self.pending: list[tuple[int, int]] = []
        self.floor_t = 0
        self.floor_code = -1
        self.retry_t = 0

    def close(self) -> None:
        for fd in (self.fd, self.fd_wchan, self.fd_sched):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.fd = self.fd_wchan = self.fd_sched = -1


class _Task:
    """A task (thread) of a process of this program, for CPU attribution."""

    __slots__ = ("fd_sched", "fd_stat", "run_time")

    def __init__(self, fd_stat: int, fd_sched: int, run_time: int) -> None:
        self.fd_stat = fd_stat
        self.fd_sched = fd_sched
        self.run_time = run_time


class _RateGovernor:
    """How long the sidecar sleeps between rounds: its measured CPU cost per round held to a budget.

    Two modes, each with its own cost estimate: normal (``budget``), and contended while a
    recorded thread waits for the GIL and `CONTENDED_HOLD_NS` after (``contended_budget``,
    and at least a round every `CONTENDED_INTERVAL` if that fits `CONTENDED_AIM`).
    """

    def __init__(self, interval: float, budget: float, contended_budget: float) -> None:
        self.min_interval = max(1e-5, interval)
        self.interval = self.min_interval
        self.budgets = (budget, max(budget, contended_budget))
        # 0: normal, 1: contended (threads take turns on the GIL); each has its own cost estimate
        self.mode = 0
        self.contended_until = 0
        self.contended_ns = 0
        self.contended_since = 0
        self.rounds = 0
        self.win_rounds = 0
        self.win_cpu = time.process_time()
        self.costs = [self._round_cost_model(0)] * 2
        self._set_interval()

    @staticmethod
    def _round_cost_model(nthreads: int) -> float:
        """A first guess of one round's CPU cost (s), before any measurement."""
        return _WAKE_COST + _THREAD_COST * nthreads

    def threads_changed(self, before: int, after: int) -> None:
        """A thread came or went: the next measurement will tell; meanwhile scale the estimates."""
        ratio = self._round_cost_model(after) / self._round_cost_model(before)
        self.costs = [cost * ratio for cost in self.costs]
        self._set_interval()

    def contended(self, now: int) -> None:
        """A recorded thread waits for the GIL: sample finely until a while after the last such wait."""
        self.contended_until = now + CONTENDED_HOLD_NS
        if self.mode == 0:
            self.contended_since = now
            self._switch_mode(1)

    def end_contention_if_over(self, now: int) -> None:
        """Back to the normal mode `CONTENDED_HOLD_NS` after the last wait for the GIL seen."""
        if self.mode == 1 and now >= self.contended_until:
            self.contended_ns += now - self.contended_since
            self._switch_mode(0)

    def _switch_mode(self, mode: int) -> None:
        self.mode = mode
        # a window of rounds measures one mode's cost only
        self.win_cpu = time.process_time()
        self.win_rounds = self.rounds
        self._set_interval()

    def adapt(self) -> None:
        """Set the interval so that the measured cost per round fits the budget."""
        cpu = time.process_time()
        rounds = self.rounds - self.win_rounds
        if rounds < 20:
            return
        per_round = (cpu - self.win_cpu) / rounds
        self.win_cpu = cpu
        self.win_rounds = self.rounds
        self.costs[self.mode] = 0.5 * self.costs[self.mode] + 0.5 * per_round
        self._set_interval()

    def _set_interval(self) -> None:
        budget = self.budgets[self.mode]
        if budget <= 0 or budget >= 1:
            self.interval = self.min_interval
            return
        # aim a little under the budget: the estimate lags behind the load
        cost = self.costs[self.mode]
        target = cost / (0.85 * budget)
        if self.mode == 1:
            # At least every 2 ms, not only as often as a budget allows: a round costs more after a
            # longer sleep (colder caches), so a rate set by a budget alone can settle at slow rounds.
            target = max(min(cost / (0.85 * min(CONTENDED_AIM, budget)), CONTENDED_INTERVAL), target)
        self.interval = min(MAX_INTERVAL, max(self.min_interval, target))

    def contended_total(self, now: int) -> int:
        """Time spent in the contended mode so far (ns)."""
        if self.mode == 1:
            return self.contended_ns + now - self.contended_since
        return self.contended_ns


class _ThreadSampler:
    """What each registered thread does, round after round, written to ``thread_states``.

    Threads come from the ``threads`` file; each round reads one ``/proc`` file per
    thread (``syscall``, or ``stat`` and ``wchan`` without the right to read it).
    """

    def __init__(self, spool: str, use_syscall: bool, governor: _RateGovernor, ours: set[int]) -> None:
        self.governor = governor
        self.ours = ours
        """This program's processes (`_CpuAccounting.ours`): a process that registers a thread is one."""
        table = _syscall_table() if use_syscall else None
        self.use_syscall = table is not None
        self.futex_nr, self.sys_table = table if table else (-1, {})
        self.threads: list[_Thread] = []
        self.tracked: dict[int, _Thread] = {}
        self.regions: dict[int, list[tuple[int, int]]] = {}
        self.own_gils: dict[int, list[tuple[int, int]]] = {}  # pid -> its subinterpreters' GILs
        self.reg_fd = os.open(os.path.join(spool, THREADS_FILE), os.O_RDONLY | os.O_CREAT, 0o644)
        self.reg_off = 0
        self.reg_buf = b""
        self.out_fd = os.open(
            os.path.join(spool, STATES_FILE), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644
        )
        self.out: list[tuple[int, int, int, int]] = []
        self.syscall_ok = -1  # unknown / 0 / 1 (last thread opened)

    # -- registration --------------------------------------------------------

    def poll_registrations(self, now: int) -> None:
        data = os.pread(self.reg_fd, 65536, self.reg_off)
        if not data:
            return
        self.reg_off += len(data)
        buf = self.reg_buf + data
        end = buf.rfind(b"\n")
        if end < 0:
            self.reg_buf = buf
            return
        self.reg_buf = buf[end + 1 :]
        for line in buf[:end].split(b"\n"):
            parts = line.split()
            if len(parts) not in (2, 3):
                continue
            try:
                pid, tid = int(parts[0]), int(parts[1])
                own_gil = int(parts[2]) if len(parts) == 3 else 0
            except ValueError:
                continue
            if own_gil:
                gils = self.own_gils.setdefault(pid, [])
                if (own_gil, own_gil + SUBINTERPRETER_GIL_WINDOW) not in gils:
                    gils.append((own_gil, own_gil + SUBINTERPRETER_GIL_WINDOW))
            if tid in self.tracked:
                continue
            self._add_thread(pid, tid, now)

    def _add_thread(self, pid: int, tid: int, now: int) -> None:
        th = _Thread(pid, tid)
        th.floor_t = now
        th.last_t = now
        self.ours.add(pid)
        try:
            th.fd_sched = os.open(th.base + "schedstat", os.O_RDONLY)
            th.run_delay = int(os.pread(th.fd_sched, 128, 0).split()[1])
            th.sched_t = now
            if self.use_syscall:
                self._open_syscall(th)
            if th.fd < 0:
                self._open_fallback(th)
        except OSError:
            th.close()
            self.out.append((now, pid, tid, _GONE))
            return
        self.tracked[tid] = th
        n = len(self.threads)
        self.threads.append(th)
        self.governor.threads_changed(n, n + 1)
        self._sample_one(th, now)

    def _open_syscall(self, th: _Thread) -> None:
        try:
            fd = os.open(th.base + "syscall", os.O_RDONLY)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ESRCH):
                raise
            self.syscall_ok = 0
            return
        try:
            os.pread(fd, 256, 0)
        except OSError as exc:
            os.close(fd)
            if exc.errno == errno.ESRCH:
                raise
            self.syscall_ok = 0
            return
        if th.fd >= 0:
            os.close(th.fd)
        th.fd = fd
        th.fallback = False
        th.raw = b""
        if th.fd_wchan >= 0:
            os.close(th.fd_wchan)
            th.fd_wchan = -1
        self.syscall_ok = 1

    def _open_fallback(self, th: _Thread) -> None:
        th.fd = os.open(th.base + "stat", os.O_RDONLY)
        th.fallback = True
        th.raw = b""
        try:
            th.fd_wchan = os.open(th.base + "wchan", os.O_RDONLY)
        except OSError:
            th.fd_wchan = -1
        th.retry_t = time.perf_counter_ns() + 1_000_000_000

    # -- thread sampling -----------------------------------------------------

    @staticmethod
    def _read(th: _Thread) -> bytes:
        data = os.pread(th.fd, 512, 0)
        if th.fallback and th.fd_wchan >= 0:
            # stat alone can read the same before and after a thread that ran
            # for a few microseconds moved from one wait to another (a futex,
            # then recv): wchan is part of what must not change.
            try:
                data += b"\0" + os.pread(th.fd_wchan, 128, 0)
            except OSError:
                pass
        return data

    def sample(self, now: int) -> None:
        read = self._read
        for th in tuple(self.threads):
            try:
                data = read(th)
            except OSError as exc:
                self._read_failed(th, now, exc)
                continue
            if data == th.raw:
                # Same bytes as last round: same state. While it runs, check
                # whether it waited for a core meanwhile.
                if th.code == _RUNNING:
                    self._check_ready(th, now, now)
                else:
                    th.last_not_r_t = now
                    if th.code == _GIL or (th.fallback and th.code == _WAITING):
                        self.governor.contended(now)
                th.last_t = now
            else:
                self._new_data(th, data, now)

    def _sample_one(self, th: _Thread, now: int) -> None:
        try:
            data = self._read(th)
        except OSError as exc:
            self._read_failed(th, now, exc)
            return
        self._new_data(th, data, now)

    def _read_failed(self, th: _Thread, now: int, exc: OSError) -> None:
        if exc.errno in (errno.EPERM, errno.EACCES) and not th.fallback:
            self.syscall_ok = 0
            try:
                self._open_fallback(th)
                return
            except OSError:
                pass
        self._gone(th, now)

    def _new_data(self, th: _Thread, data: bytes, now: int) -> None:
        th.raw = data
        if th.fallback:
            code = self._classify_stat(data)
            if code < 0:
                self._gone(th, now)
                return
        elif data[:1] == b"r":  # "running"
            code = _RUNNING
        else:
            code = self._classify_syscall(th, data)
        t = (th.last_t + now) // 2
        if code == _RUNNING:
            if th.code != _RUNNING:
                self._change(th, t, _RUNNING)
                th.run_start = max(t, th.floor_t)
            self._check_ready(th, now, now)
        else:
            if th.code == _RUNNING:
                # it may have waited for a core before it ran and slept
                self._check_ready(th, now, t)
            if code != th.code:
                self._change(th, t, code)
            th.last_not_r_t = now
            if code == _GIL or (th.fallback and code == _WAITING):
                self.governor.contended(now)
        th.last_t = now

    def _classify_syscall(self, th: _Thread, data: bytes) -> int:
        parts = data.split()
        try:
            nr = int(parts[0])
        except (ValueError, IndexError):
            return _WAITING
        if nr == self.futex_nr:
            try:
                addr = int(parts[1], 16)
                op = int(parts[2], 16) & 0x7F
            except (ValueError, IndexError):
                return _WAITING
            if op not in _FUTEX_WAIT_CMDS:
                return _WAITING
            for lo, hi in self.own_gils.get(th.pid, ()):
                if lo <= addr < hi:
                    return _GIL
            regions = self.regions.get(th.pid)
            if regions is None:
                regions = self.regions[th.pid] = _interpreter_regions(th.pid)
            if not regions:
                return _WAITING
            for lo, hi in regions:
                if lo <= addr < hi:
                    return _GIL
            return _BLOCKED
        return self.sys_table.get(nr, _WAITING)

    @staticmethod
    def _classify_stat(data: bytes) -> int:
        """State from ``stat``, and the reason from ``wchan`` after a NUL if read."""
        stat, _, wchan = data.partition(b"\0")
        i = stat.rfind(b")")
        state = stat[i + 2 : i + 3]
        if state == b"R":
            return _RUNNING
        if state in (b"Z", b"X", b"x", b""):
            return -1
        for prefix, code in _WCHAN_PREFIXES:
            if wchan.startswith(prefix):
                return code
        if state == b"D":
            return _IO
        return _WAITING

    def _check_ready(self, th: _Thread, now: int, until: int) -> None:
        """Read run_delay: time spent runnable without a core since last read.

        The kernel adds to run_delay when the thread gets a core, so a wait
        is learnt once it is over, and written into the recent past: within
        the current runnable period (from ``th.run_start`` to ``until``), at
        its start if that period began since the last read (a wake-up that
        found no free core), else around the middle of the time since the
        last read (preempted), never over the previous such block.
        """
        try:
            delay = int(os.pread(th.fd_sched, 128, 0).split()[1])
        except (OSError, ValueError, IndexError):
            return
        d = delay - th.run_delay
        th.run_delay = delay
        prev_t = th.sched_t
        th.sched_t = now
        if d < READY_MIN_NS:
            return  # wake-up latency, or too short to see
        r0 = max(th.run_start, th.floor_t, th.ready_end)
        # a wake-up that found no free core: at the start of the runnable
        # period; else mid-way, never over the previous block (no time lost)
        start = r0 if th.run_start >= prev_t else max(r0, (prev_t + now) // 2 - d)
        end = min(start + d, until)
        if end - start < READY_MIN_NS // 2:
            return
        th.ready_end = end
        self._retro_ready(th, start, end)

    def _retro_ready(self, th: _Thread, start: int, end: int) -> None:
        """Rewrite the unflushed history: READY over [start, end), RUNNING after."""
        pend = th.pending
        while pend and pend[-1][0] >= start and pend[-1][1] in (_RUNNING, _READY):
            pend.pop()
        if pend and pend[-1][0] > start:
            start = pend[-1][0]
            if end <= start:
                end = start + 1
        before = pend[-1][1] if pend else th.floor_code
        if before != _READY:
            if pend and pend[-1][0] == start:
                pend[-1] = (start, _READY)
            else:
                pend.append((start, _READY))
        pend.append((end, _RUNNING))
        th.code = _RUNNING

    def _change(self, th: _Thread, t: int, code: int) -> None:
        pend = th.pending
        if pend:
            t = max(t, pend[-1][0])
        t = max(t, th.floor_t)
        if pend and pend[-1][0] == t:
            pend[-1] = (t, code)
            if len(pend) > 1 and pend[-2][1] == code:
                pend.pop()
        else:
            pend.append((t, code))
        th.code = code

    def _gone(self, th: _Thread, now: int) -> None:
        self._change(th, (th.last_t + now) // 2, _GONE)
        self._flush_thread(th, now + 1)
        th.close()
        n = len(self.threads)
        self.threads.remove(th)
        del self.tracked[th.tid]
        self.governor.threads_changed(n, n - 1)

    def _flush_thread(self, th: _Thread, upto: int) -> None:
        pend = th.pending
        n = 0
        for t, _ in pend:
            if t > upto:
                break
            n += 1
        if n:
            pid, tid, out = th.pid, th.tid, self.out
            for t, code in pend[:n]:
                out.append((t, pid, tid, code))
            th.floor_t, th.floor_code = pend[n - 1]
            del pend[:n]

    def flush(self, upto: int) -> None:
        for th in self.threads:
            if th.pending:
                self._flush_thread(th, upto)
        if self.out:
            self.out.sort()
            pack = _REC.pack
            os.write(self.out_fd, b"".join(pack(*r) for r in self.out))
            self.out.clear()

    def retry_syscall(self, now: int) -> None:
        if not self.use_syscall:
            return
        for th in self.threads:
            if th.fallback and now >= th.retry_t:
                th.retry_t = now + 1_000_000_000
                try:
                    self._open_syscall(th)
                except OSError:
                    pass

    def close(self) -> None:
        """Let go of every file it holds (a sidecar that stays for the next block opens them anew)."""
        for th in self.threads:
            th.close()
        for fd in (self.reg_fd, self.out_fd):
            _close_quietly(fd)

    def finish(self) -> None:
        """The last round: every thread's state up to now, written."""
        now = time.perf_counter_ns()
        self.poll_registrations(now)
        if self.threads:
            self.sample(now)
        now = time.perf_counter_ns()
        for th in self.threads:
            code = th.code
            if th.pending and th.pending[-1][0] >= now:
                now = th.pending[-1][0] + 1
            th.pending.append((now, code))
        self.flush(now + 1)


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


class _CpuAccounting:
    """How busy each core is, and how much of that is this program's, written to ``cpu``.

    "This program" is the recording process, the processes it starts from now on and those that
    run a recorded task (they register a thread): not a process it started before the block
    (a subprocess running something else), which counts as another program.
    """

    def __init__(self, spool: str, root_pid: int) -> None:
        self.root_pid = root_pid
        self.hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.stat_fd = os.open("/proc/stat", os.O_RDONLY)
        self.stat_size = 256 + 128 * (os.cpu_count() or 1)
        first = self._read_proc_stat()
        self.ncpu = (max(first) + 1) if first else (os.cpu_count() or 1)
        self.prev_stat = first
        self.prev_cpu_t = time.perf_counter_ns()
        self.carry_busy = [0.0] * self.ncpu
        self.carry_ours = [0.0] * self.ncpu
        self.cpu_fd = os.open(
            os.path.join(spool, CPU_FILE), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644
        )
        os.write(self.cpu_fd, _CPU_HEADER.pack(_CPU_MAGIC, self.ncpu))
        self.cpu_rec = struct.Struct(f"<q{2 * self.ncpu}f")
        self.ours: set[int] = {root_pid, os.getpid()}
        self.loadavg_fd = os.open("/proc/loadavg", os.O_RDONLY)
        self.probes = 0
        self.ids_moved = True
        self.next_list = 0.0
        self.tasks: dict[int, _Task] = {}  # tid -> task of an "ours" process
        self.prev_boot_ticks = _boot_ticks(self.hz)
        self.start_ticks = self.prev_boot_ticks  # a process started before it is another program's
        self.last_pid = self._last_pid()
        self._sample_tasks(attribute=False)

    def _read_proc_stat(self) -> dict[int, tuple[int, int]]:
        """Busy and idle ticks per core, from ``/proc/stat``'s ``cpuN`` lines."""
        data = os.pread(self.stat_fd, self.stat_size, 0)
        end = data.find(b"\nintr")
        while end < 0 and len(data) == self.stat_size:
            self.stat_size *= 2
            data = os.pread(self.stat_fd, self.stat_size, 0)
            end = data.find(b"\nintr")
        out: dict[int, tuple[int, int]] = {}
        for line in data[: end if end >= 0 else len(data)].split(b"\n")[1:]:
            if not line.startswith(b"cpu"):
                break
            parts = line.split()
            try:
                cpu = int(parts[0][3:])
                user, nice, system, idle, iowait, irq, softirq, steal = map(int, parts[1:9])
            except ValueError:
                continue
            out[cpu] = (user + nice + system + irq + softirq + steal, idle + iowait)
        return out

    def close(self) -> None:
        for fd in (self.stat_fd, self.cpu_fd, self.loadavg_fd):
            _close_quietly(fd)
        for task in self.tasks.values():
            _close_quietly(task.fd_stat)
            _close_quietly(task.fd_sched)
        self.tasks.clear()

    def _last_pid(self) -> int:
        try:
            return int(os.pread(self.loadavg_fd, 128, 0).split()[-1])
        except (OSError, ValueError, IndexError):
            return -1

    def _scan_tree(self) -> None:
        """Add the processes started by this program's processes since the recording began.

        ``/proc/loadavg`` ends with the last pid the kernel handed out: when
        it has not moved, nothing was started and nothing is read. When it
        moved a little, only the new ids are looked at; otherwise (first
        call, wrap-around) every process in ``/proc``.
        """
        last = self._last_pid()
        old = self.last_pid
        if last == old and last >= 0:
            return
        self.last_pid = last
        self.ids_moved = True
        if old < 0 or last < old or last - old > 256:
            try:
                candidates = [int(n) for n in os.listdir("/proc") if n.isdigit()]
            except OSError:
                return
            leaders_only = True
        else:
            candidates = list(range(old + 1, last + 1))
            leaders_only = False
        self.probes += len(candidates)
        ours = self.ours
        parents: dict[int, int] = {}
        for pid in candidates:
            if pid in ours or pid in self.tasks:
                continue
            try:
                with open(f"/proc/{pid}/stat", "rb") as f:
                    data = f.read()
                fields = data[data.rfind(b")") + 2 :].split()
                if int(fields[19]) < self.start_ticks:  # started before the recording
                    continue
                parents[pid] = int(fields[1])
            except (OSError, ValueError, IndexError):
                continue
        changed = True
        while changed:  # a child may come before its parent (pid wrap)
            changed = False
            for pid, ppid in parents.items():
                if ppid in ours and pid not in ours and (leaders_only or _is_leader(pid)):
                    ours.add(pid)
                    changed = True

    def _list_tasks(self, attribute: bool) -> None:
        """Find new tasks (threads) of this program's processes."""
        tasks = self.tasks
        since = self.prev_boot_ticks - 1
        for pid in list(self.ours):
            try:
                tids = os.listdir(f"/proc/{pid}/task")
            except OSError:
                tids = []
            if not tids:
                if pid != self.root_pid:
                    self.ours.discard(pid)
                continue
            for name in tids:
                try:
                    tid = int(name)
                except ValueError:
                    continue
                if tid in tasks:
                    continue
                base = f"/proc/{pid}/task/{tid}/"
                try:
                    fd_stat = os.open(base + "stat", os.O_RDONLY)
                except OSError:
                    continue
                try:
                    fd_sched = os.open(base + "schedstat", os.O_RDONLY)
                    stat = os.pread(fd_stat, 1024, 0)
                    fields = stat[stat.rfind(b")") + 2 :].split()
                    started = int(fields[19])
                    run_time = int(os.pread(fd_sched, 128, 0).split()[0])
                except (OSError, ValueError, IndexError):
                    os.close(fd_stat)
                    continue
                # A task started since the last call counts in full; one that
                # existed before counts from now on.
                task = _Task(fd_stat, fd_sched, run_time)
                if attribute and started >= since:
                    task.run_time = 0
                tasks[tid] = task

    def _sample_tasks(self, attribute: bool) -> list[int]:
        """Run time (ns) per core of this program's tasks since the last call.

        Each task's run time (schedstat, ns) is charged to the core its
        ``stat`` says it last ran on. New tasks are looked for only when the
        kernel handed out new ids, and at least once a second.
        """
        now = time.monotonic()
        if self.ids_moved or now >= self.next_list:
            self._list_tasks(attribute)
            self.ids_moved = False
            self.next_list = now + 1.0
        per_core = [0] * self.ncpu
        ncpu = self.ncpu
        pread = os.pread
        dead = []
        for tid, task in self.tasks.items():
            try:
                run_time = int(pread(task.fd_sched, 128, 0).split()[0])
                delta = run_time - task.run_time
                if delta <= 0:
                    continue
                task.run_time = run_time
                stat = pread(task.fd_stat, 1024, 0)
                cpu = int(stat[stat.rfind(b")") + 2 :].split()[36])
            except (OSError, ValueError, IndexError):
                dead.append(tid)
                continue
            if attribute and 0 <= cpu < ncpu:
                per_core[cpu] += delta
        for tid in dead:
            task = self.tasks.pop(tid)
            for fd in (task.fd_stat, task.fd_sched):
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.prev_boot_ticks = _boot_ticks(self.hz)
        return per_core

    def sample(self, now: int) -> None:
        self._scan_tree()
        ours_ns = self._sample_tasks(attribute=True)
        stat = self._read_proc_stat()
        elapsed = now - self.prev_cpu_t
        if elapsed <= 0:
            return
        busy: list[float] = []
        ours: list[float] = []
        ticks = elapsed * self.hz / 1e9
        for cpu in range(self.ncpu):
            cur = stat.get(cpu)
            old = self.prev_stat.get(cpu)
            b_raw = (cur[0] - old[0]) / ticks if cur and old else 0.0
            o_raw = ours_ns[cpu] / elapsed
            # carry what could not be shown over to the next sample, so sums
            # over many samples stay right despite 10 ms ticks
            o = o_raw + self.carry_ours[cpu]
            o_out = min(max(o, 0.0), 1.0)
            self.carry_ours[cpu] = min(max(o - o_out, -1.0), 1.0)
            b = b_raw + self.carry_busy[cpu]
            b_out = min(max(b, o_out), 1.0)
            self.carry_busy[cpu] = min(max(b - b_out, -1.0), 1.0)
            busy.append(b_out)
            ours.append(o_out)
        self.prev_stat = stat
        self.prev_cpu_t = now
        os.write(self.cpu_fd, self.cpu_rec.pack(now, *busy, *ours))


class _Sidecar:
    """The sampler, the CPU accounting and the governor at work, round after round, until ``stop``
    (or until the recording process is gone)."""

    def __init__(
        self,
        spool: str,
        root_pid: int,
        interval: float,
        budget: float,
        cpu_interval: float,
        use_syscall: bool,
        contended_budget: float = DEFAULT_CONTENDED_BUDGET,
    ) -> None:
        self.spool = spool
        self.cpu_interval_ns = int(max(0.005, cpu_interval) * 1e9)
        self.cpu = _CpuAccounting(spool, root_pid)
        self.governor = _RateGovernor(interval, budget, contended_budget)
        self.sampler = _ThreadSampler(spool, use_syscall, self.governor, self.cpu.ours)
        # statistics
        self.cpu_round_s = 0.0
        self.t0_wall = time.perf_counter_ns()
        self.t0_cpu = time.process_time()

    def close(self) -> None:
        self.sampler.close()
        self.cpu.close()

    def _write_stats(self, now: int) -> None:
        governor = self.governor
        wall = (now - self.t0_wall) / 1e9
        cpu = time.process_time() - self.t0_cpu
        text = (
            f"cpu_s {cpu:.6f}\nwall_s {wall:.6f}\n"
            f"cpu_fraction {cpu / wall if wall > 0 else 0.0:.6f}\n"
            f"rounds {governor.rounds}\n"
            f"rounds_per_s {governor.rounds / wall if wall > 0 else 0.0:.3f}\n"
            f"interval_s {governor.interval:.6f}\nthreads {len(self.sampler.threads)}\n"
            f"syscall_ok {self.sampler.syscall_ok}\n"
            f"cpu_round_s {self.cpu_round_s:.6f}\nprobes {self.cpu.probes}\n"
            f"contended_s {governor.contended_total(now) / 1e9:.6f}\n"
        )
        path = os.path.join(self.spool, STATS_FILE)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)

    def run(self, stdin_fd: int) -> bool:
        """Sample until ``stop`` (then True) or until the recording process is gone (False)."""
        sampler, governor = self.sampler, self.governor
        ppid = os.getppid()
        perf = time.perf_counter_ns
        sel = select.select
        rlist = [stdin_fd]
        now = perf()
        next_cpu = now + self.cpu_interval_ns
        next_flush = now + 20_000_000
        next_adapt = now + 100_000_000
        next_stats = now + 500_000_000
        next_round = now
        flush_lag = 40_000_000
        stopping = False
        owner_gone = False
        while not stopping:
            now = perf()
            sampler.poll_registrations(now)
            if sampler.threads:
                sampler.sample(now)
            governor.rounds += 1
            if now >= next_cpu:
                c = time.process_time()
                self.cpu.sample(now)
                self.cpu_round_s += time.process_time() - c
                next_cpu += self.cpu_interval_ns
                if next_cpu < now:
                    next_cpu = now + self.cpu_interval_ns
                if os.getppid() != ppid:
                    owner_gone = True
                    break
                sampler.retry_syscall(now)
            if now >= next_flush:
                sampler.flush(now - flush_lag)
                next_flush = now + 20_000_000
            governor.end_contention_if_over(now)
            if now >= next_adapt:
                governor.adapt()
                next_adapt = now + 100_000_000
            if now >= next_stats:
                self._write_stats(now)
                next_stats = now + 500_000_000
            next_round += int(governor.interval * 1e9)
            after = perf()
            if next_round < after:
                next_round = after
            timeout = (next_round - after) / 1e9
            ready, _, _ = sel(rlist, [], [], timeout)
            if ready:
                try:
                    data = os.read(stdin_fd, 4096)
                except OSError:
                    data = b""
                if not data or b"stop" in data:
                    stopping = True
                    # the end of stdin without "stop": every process that could still send it is gone
                    owner_gone = b"stop" not in data
        if owner_gone:
            self._remove_spool()
        else:
            self.stop()
        return not owner_gone

    def _remove_spool(self) -> None:
        """The recording process died without stopping us (SIGKILL, ``os._exit``): nobody will read
        the spool, and nobody else would remove it."""
        import shutil

        shutil.rmtree(self.spool, ignore_errors=True)

    def stop(self) -> None:
        self.sampler.finish()
        self.cpu.sample(time.perf_counter_ns())
        self._write_stats(time.perf_counter_ns())


def _options(argv: list[str]) -> tuple[dict[str, float], bool, bool] | str:
    """The options after SPOOL and ROOT_PID: the numbers, whether to read ``syscall``, whether to stay
    for the next block; or what is wrong with them."""
    opts = {
        "--interval": DEFAULT_INTERVAL,
        "--budget": DEFAULT_BUDGET,
        "--cpu-interval": DEFAULT_CPU_INTERVAL,
        "--contended-budget": DEFAULT_CONTENDED_BUDGET,
    }
    use_syscall, stay = True, False
    i = 0
    while i < len(argv):
        if argv[i] == "--no-syscall":
            use_syscall = False
            i += 1
        elif argv[i] == "--stay":
            stay = True
            i += 1
        elif argv[i] in opts and i + 1 < len(argv):
            opts[argv[i]] = float(argv[i + 1])
            i += 2
        else:
            return f"unknown option {argv[i]!r}"
    return opts, use_syscall, stay


def _next_block(stdin_fd: int, ppid: int) -> tuple[str, int] | None:
    """Between blocks (``--stay``): wait for ``start ROOT_PID SPOOL``; None on ``exit``, at the end of
    stdin, or when the recording process is gone (this sidecar then has a new parent)."""
    line = b""
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([stdin_fd], [], [], 1.0)
        if os.getppid() != ppid:
            return None
        if not ready:
            continue
        try:
            chunk = os.read(stdin_fd, 4096)
        except OSError:
            return None
        if not chunk:
            return None
        line += chunk
    words = line.strip().split(b" ", 2)
    if len(words) != 3 or words[0] != b"start":
        return None
    return os.fsdecode(words[2]), int(words[1])


def _main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: sidecar.py SPOOL_DIR ROOT_PID [options]", file=sys.stderr)
        return 2
    spool, root_pid = argv[0], int(argv[1])
    parsed = _options(argv[2:])
    if isinstance(parsed, str):
        print(parsed, file=sys.stderr)
        return 2
    opts, use_syscall, stay = parsed
    ppid = os.getppid()
    out = sys.stdout.buffer
    while True:
        sidecar = _Sidecar(
            spool,
            root_pid,
            opts["--interval"],
            opts["--budget"],
            opts["--cpu-interval"],
            use_syscall,
            opts["--contended-budget"],
        )
        out.write(b"ready\n")
        out.flush()
        try:
            stopped = sidecar.run(sys.stdin.fileno())
        except OSError as error:
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                return DISK_FULL_EXIT  # the recording says so: its states and CPU strip end here
            raise
        sidecar.close()
        if not (stay and stopped):
            return 0
        # the block's last samples are written: say so, and wait for the next block
        out.write(b"stopped\n")
        out.flush()
        block = _next_block(sys.stdin.fileno(), ppid)
        if block is None:
            return 0
        spool, root_pid = block


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
