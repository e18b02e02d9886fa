"""A ``redis-server`` of our own on 127.0.0.1: a free port, nothing saved to disk, stopped on the way out.

    with local_redis() as redis:
        app = make_app(redis.url)

For what needs a real Redis: the task queue's tests and benchmark, and notebook 07's
stored figure of ``visibility_timeout`` (`conctutor.course.redelivery`). It runs
Debian's ``redis-server`` (``apt install redis-server``); students never need it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple


class LocalRedis(NamedTuple):
    url: str
    pid: int


def redis_installed() -> bool:
    return shutil.which("redis-server") is not None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def local_redis(timeout: float = 10.0) -> Iterator[LocalRedis]:
    """Start ``redis-server`` on a free port of 127.0.0.1, wait until it listens, and stop it afterwards."""
    server = shutil.which("redis-server")
    if server is None:
        raise FileNotFoundError("é preciso o redis-server (no Debian: apt install redis-server)")
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="conctutor-redis-") as directory:
        process = subprocess.Popen(
            [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", directory],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"redis-server terminou ao iniciar (código {process.returncode})")
                with socket.socket() as probe:
                    if probe.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"redis-server não aceitou conexões em {timeout:g} s")
                time.sleep(0.02)
            yield LocalRedis(f"redis://127.0.0.1:{port}/0", process.pid)
        finally:
            process.terminate()
            process.wait(10)
