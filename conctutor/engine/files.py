"""Files a run is written to: paths checked, written beside and then put in place, errors in Portuguese."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable
from typing import TextIO

_REASONS = {
    errno.ENOSPC: "disco cheio",
    errno.EFBIG: "arquivo maior que o limite permitido ao processo",
    errno.EROFS: "disco só para leitura",
    errno.EACCES: "sem permissão",
    errno.EPERM: "sem permissão",
    errno.ENOMEM: "memória esgotada",
    errno.EMFILE: "arquivos abertos demais",
    errno.ENOENT: "a pasta sumiu",
}
if hasattr(errno, "EDQUOT"):  # not on Windows
    _REASONS[errno.EDQUOT] = "cota de disco esgotada"


def os_reason(code: int | None) -> str:
    """Why the file system refused, in a few Portuguese words."""
    if code in _REASONS:
        return _REASONS[code]
    return f"erro {errno.errorcode.get(code, code) if code is not None else 'desconhecido'} do sistema de arquivos"


def os_error(error: OSError, doing: str) -> OSError:
    """`error` told in Portuguese (the same kind of `OSError`, the same ``errno``)."""
    message = f"{doing}: {os_reason(error.errno)}"
    return OSError(message) if error.errno is None else OSError(error.errno, message)


def _path_text(path: object, what: str) -> str:
    if isinstance(path, (str, os.PathLike)):
        text = os.fspath(path)
        if text == "":
            raise ValueError(f"{what}: o caminho está vazio; passe o nome de um arquivo, como 'execucao.json'")
        if isinstance(text, str):
            return text
    raise TypeError(f"{what}: o caminho deve ser o nome de um arquivo, um texto ou um Path como "
                    f"'execucao.json'; recebido {type(path).__name__}: {path!r}")


def check_target(path: object, what: str) -> str:
    """`path` as text, if a file can be written there; else an error in Portuguese that says what may be."""
    text = _path_text(path, what)
    if os.path.isdir(text):
        raise IsADirectoryError(f"{what}: {text!r} é uma pasta; passe o caminho de um arquivo dentro dela, como "
                                f"{os.path.join(text, 'execucao.json')!r}")
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{what}: a pasta {folder!r} não existe; crie-a antes ou escolha outro caminho")
    return text


def check_source(path: object, what: str) -> str:
    """`path` as text, if it names a file to read; else an error in Portuguese that says what may be."""
    text = _path_text(path, what)
    if os.path.isdir(text):
        raise IsADirectoryError(f"{what}: {text!r} é uma pasta; passe o caminho de um arquivo gravado com "
                                "timeline.save(), como 'execucao.json'")
    if not os.path.exists(text):
        raise FileNotFoundError(f"{what}: o arquivo {text!r} não existe; passe o caminho de um arquivo gravado "
                                "com timeline.save()")
    return text


def replace_file(path: str, write: Callable[[TextIO], object], what: str) -> None:
    """Write a text file (UTF-8) beside `path`, then put it in `path`'s place in one step.

    A write that fails (a full disk, an interrupt) leaves an older file at
    `path` as it was, and no temporary file behind. A lone surrogate in the
    text is written as its JSON escape (``\\udc80``), which reads back the same.
    """
    target = os.path.realpath(path)  # through a link, the file it names is replaced, not the link
    folder, name = os.path.split(target)
    temporary = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as error:
        raise os_error(error, f"{what}: não foi possível gravar em {folder!r}") from None
    try:
        with open(fd, "w", encoding="utf-8", errors="backslashreplace") as out:
            write(out)
        with contextlib.suppress(OSError):  # keep the permissions an older file had
            os.chmod(temporary, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(temporary, target)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise os_error(error, f"{what}: não foi possível gravar {path!r} (o arquivo anterior, se havia, "
                                   "ficou como estava)") from None
        raise
