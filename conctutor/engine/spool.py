"""The spool directories where a recording's worker processes and sampler leave their files.

Each recording gets a private directory (mode 0700) inside one base directory
per user, ``<temp>/conctutor-<user>/<pid>-<random>``: the pid is the recording
process's. A recorder that died without cleaning up (SIGKILL, ``os._exit``, a
kernel restarted) leaves its directory behind; the sampler removes it when it
sees its recording process die, and the next recording removes any whose
process is gone (`remove_orphans`).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
import time

ORPHAN_MIN_AGE = 2.0
"""Seconds: a directory younger than this is never an orphan (its recorder may be starting)."""


class SpoolError(OSError):
    """The spool directory could not be made: the message says why, in Portuguese, and what to do."""


def _user() -> str:
    if hasattr(os, "getuid"):
        return str(os.getuid())
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no user name known (a container without one)
        return "usuario"


def _explain(error: OSError, where: str) -> SpoolError:
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        why = "a pasta temporária não aceita escrita (sistema de arquivos somente leitura ou sem permissão)"
    elif error.errno in (errno.ENOSPC, errno.EDQUOT):
        why = "o disco da pasta temporária está cheio"
    else:
        why = f"{error.strerror or error}"
    return SpoolError(
        error.errno,
        f"record() não conseguiu criar sua pasta de trabalho em {where}: {why}. Aponte a variável de ambiente "
        "TMPDIR para uma pasta com espaço e permissão de escrita (por exemplo TMPDIR=$HOME/tmp) e reinicie o "
        "kernel ou o programa.",
    )


def base_directory() -> str:
    """This user's base directory for spools (made, mode 0700, if missing)."""
    base = os.path.join(tempfile.gettempdir(), f"conctutor-{_user()}")
    try:
        os.mkdir(base, 0o700)
    except FileExistsError:
        info = os.lstat(base)
        # someone else's directory, or a link planted in a shared /tmp: not ours to use
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode) or \
                (hasattr(os, "getuid") and info.st_uid != os.getuid()):
            raise SpoolError(errno.EPERM, f"{base} existe e não pertence a este usuário: apague-a ou aponte "
                                          "TMPDIR para outra pasta") from None
    except OSError as error:
        raise _explain(error, tempfile.gettempdir()) from None
    return base


def new_spool() -> str:
    """A new private spool directory for a recording of this process."""
    base = base_directory()
    try:
        return tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=base)
    except OSError as error:
        raise _explain(error, base) from None


def owner_pid(path: str) -> int | None:
    """The pid of the recording process that made the spool `path`, from its name."""
    head = os.path.basename(path).split("-", 1)[0]
    return int(head) if head.isdigit() else None


def _owner_alive(pid: int, made: float) -> bool:
    import psutil

    try:
        # a process that started after the directory was made has only reused the pid
        return psutil.Process(pid).create_time() <= made + 1.0
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True  # cannot tell: leave it


def remove_orphans() -> list[str]:
    """Remove the spools of recording processes that are gone; returns their paths."""
    try:
        base = os.path.join(tempfile.gettempdir(), f"conctutor-{_user()}")
        entries = os.listdir(base)
    except OSError:
        return []
    removed = []
    now = time.time()
    for name in entries:
        path = os.path.join(base, name)
        pid = owner_pid(path)
        if pid is None or pid == os.getpid():
            continue
        try:
            made = os.lstat(path).st_mtime
        except OSError:
            continue
        if now - made < ORPHAN_MIN_AGE or _owner_alive(pid, made):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed
