"""The workloads of the comparison notebook (08): real I/O and two kinds of computing.

    with ServidorLento(atraso=0.5) as url:       # an HTTP server on 127.0.0.1
        baixa(url)                                # waits about 0.5 s for the answer

* `ServidorLento`: a small HTTP server in this process (daemon threads)
  that answers every request after `atraso` seconds; ``.url`` and ``.para()``
  for a notebook, ``with`` for a script. Real sockets, real waiting: not
  ``time.sleep`` in the task.
* `baixa` / `baixa_async`: fetch a URL with `urllib` / with asyncio streams.
* `resume`: SHA-256 of a buffer of zeros, C code that releases the GIL while
  it hashes, so it runs in parallel in threads (unlike `calcula`).

The tasks live in a module so that worker processes started with spawn or
forkserver can import them. Like the chapter's durations, the size `resume`
hashes is multiplied by ``CONCTUTOR_TIME_SCALE`` (the tests hash a twentieth);
the server's delay is not: the notebook's checks count downloads waiting
together, which needs waits far longer than starting a thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import threading
import time
import urllib.parse
import urllib.request

from ..engine import validate
from ..engine.recorder import task
from ..engine.settings import time_scale

MAX_DELAY = 30.0
MAX_MEGABYTES = 1024
BODY = b"conctutor\n"


def _check_delay(atraso: object) -> float:
    return validate.number(atraso, "atraso", 0, MAX_DELAY, unit="segundos")


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    delay = 0.0

    def do_GET(self) -> None:
        time.sleep(self.delay)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(BODY)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: object) -> None:
        pass  # no line per request in the notebook


class _ThreadingServer(http.server.ThreadingHTTPServer):
    # socketserver's backlog of 5 drops connections when a student opens dozens at once
    # (or eight while the CPU is busy): the kernel then retries them only after 1 s.
    request_queue_size = 1024
    daemon_threads = True


class ServidorLento:
    """Um servidor HTTP em 127.0.0.1 que responde cada pedido depois de `atraso` segundos.

    Começa a atender assim que é criado, em threads deste processo, numa porta
    livre; `url` diz onde. Pare-o com `para()`, ou use-o num bloco ``with``,
    que devolve a URL e para o servidor no fim::

        with ServidorLento(0.5) as url:
            baixa(url)
    """

    def __init__(self, atraso: float = 0.5) -> None:
        delay = _check_delay(atraso)
        handler = type("SlowHandler", (_SlowHandler,), {"delay": delay})
        self._server = _ThreadingServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="conctutor-servidor", daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"

    def para(self) -> None:
        """Para de atender e libera a porta (chamar de novo não faz nada)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()

    def __enter__(self) -> str:
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.para()


@task
def baixa(url: str) -> int:
    """Baixa `url` e devolve quantos bytes chegaram."""
    with urllib.request.urlopen(url, timeout=60) as resposta:
        return len(resposta.read())


@task
async def baixa_async(url: str) -> int:
    """Baixa `url` com asyncio (sem travar o laço de eventos) e devolve quantos bytes chegaram."""
    partes = urllib.parse.urlsplit(url)
    leitor, escritor = await asyncio.open_connection(partes.hostname, partes.port or 80)
    try:
        escritor.write(f"GET {partes.path or '/'} HTTP/1.1\r\nHost: {partes.netloc}\r\nConnection: close\r\n\r\n"
                       .encode("ascii"))
        await escritor.drain()
        resposta = await leitor.read()
    finally:
        escritor.close()
        await escritor.wait_closed()
    _, _, corpo = resposta.partition(b"\r\n\r\n")
    return len(corpo)


@task
def resume(megabytes: int = 64) -> str:
    """O SHA-256 de `megabytes` MiB de zeros: conta feita em C, que solta o GIL enquanto roda."""
    size = int(validate.number(megabytes, "megabytes", 1, MAX_MEGABYTES, whole=True))
    return hashlib.sha256(bytes(max(1, round((size << 20) * time_scale())))).hexdigest()
