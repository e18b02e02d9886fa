"""Threads, pool jobs and new processes follow the recording that started them: the patches that do it.

Installed in one place (`install_hooks`, at the first ``record()``) and undone in one (`uninstall_hooks`).
"""

from __future__ import annotations

import concurrent.futures
import functools
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

from .invitation import Invited, NewProcessInvitation, accept_invitation, invitation_here
from .routing import context_collector, current_collector, open_collectors, run_in


class _Hook(NamedTuple):
    owner: Any
    attribute: str
    original: Any


_hooks: list[_Hook] = []


def _patch(owner: Any, attribute: str, replacement: Any) -> None:
    _hooks.append(_Hook(owner, attribute, owner.__dict__[attribute]))
    setattr(owner, attribute, replacement)


def install_hooks() -> None:
    """Let new threads, pool jobs and spawn/forkserver processes follow their recording.

    Installed at the first ``record()``, undone by `uninstall_hooks`:

    * `threading.Thread.start` notes the starting code's recording on the new thread;
    * `ThreadPoolExecutor.submit` runs the job in the submitter's recording; an
      ``InterpreterPoolExecutor``'s job crosses to its interpreter with the invitation
      taken at submit (`Invited`) when it can travel by name (a plain function of a
      script's ``__main__`` crosses as its code, and is left as it is);
    * ``Interpreter.call`` and ``call_in_thread`` (through their common ``_call``) hand
      the interpreter the invitation of the calling thread first, in a call of their
      own, so that whatever runs there reports to the recording, threads it starts
      included (once per interpreter and invitation: a call between interpreters costs
      about as much as the call it precedes);
    * `ProcessPoolExecutor.submit` and `multiprocessing.pool.Pool`'s ways to send work
      take the invitation in the submitting thread (`Invited`);
    * multiprocessing's preparation data carries the invitation that a new process
      accepts once conctutor is imported there (`NewProcessInvitation`).

    Each hook costs a context-variable read when no recording is open.
    """
    if _hooks:
        return
    import concurrent.futures.process
    import multiprocessing.pool
    import multiprocessing.spawn

    original_start = threading.Thread.start

    def start(self: threading.Thread) -> None:
        collector = current_collector() if (open_collectors or context_collector.get() is not None) else None
        if collector is not None:
            self._conctutor_collector = collector  # type: ignore[attr-defined]
        original_start(self)

    _patch(threading.Thread, "start", start)

    thread_submit = concurrent.futures.ThreadPoolExecutor.submit

    def submit_to_threads(self: concurrent.futures.ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any,
                          **kwargs: Any) -> concurrent.futures.Future[Any]:
        collector = current_collector() if (open_collectors or context_collector.get() is not None) else None
        if collector is not None:
            fn = _to_interpreter(fn) if _is_interpreter_pool(self) else functools.partial(run_in, collector, fn)
        return thread_submit(self, fn, *args, **kwargs)

    _patch(concurrent.futures.ThreadPoolExecutor, "submit", submit_to_threads)

    process_submit = concurrent.futures.ProcessPoolExecutor.submit

    def submit_to_processes(self: concurrent.futures.ProcessPoolExecutor, fn: Callable[..., Any], /, *args: Any,
                            **kwargs: Any) -> concurrent.futures.Future[Any]:
        return process_submit(self, _invited(fn), *args, **kwargs)

    _patch(concurrent.futures.ProcessPoolExecutor, "submit", submit_to_processes)

    for name in ("apply_async", "_map_async", "imap", "imap_unordered"):
        method = multiprocessing.pool.Pool.__dict__.get(name)
        if method is not None:
            _patch(multiprocessing.pool.Pool, name, _pool_method(method))

    original_preparation = multiprocessing.spawn.get_preparation_data

    def get_preparation_data(name: str) -> dict[str, Any]:
        data = original_preparation(name)
        invitation = invitation_here()
        if invitation is not None:
            data["conctutor"] = NewProcessInvitation(invitation)
        return data

    _patch(multiprocessing.spawn, "get_preparation_data", get_preparation_data)

    interpreters = _interpreters_module()
    if interpreters is not None and "_call" in interpreters.Interpreter.__dict__:
        interpreter_call = interpreters.Interpreter._call

        def call_inviting(self: Any, callable: Any, args: Any, kwargs: Any) -> Any:
            invitation = invitation_here() if (open_collectors or context_collector.get() is not None) else None
            if invitation is not None and _handed_over.get(self) != invitation:
                interpreter_call(self, accept_invitation, (invitation,), {})
                _handed_over[self] = invitation
            return interpreter_call(self, callable, args, kwargs)

        _patch(interpreters.Interpreter, "_call", call_inviting)


_handed_over: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
"""The invitation each interpreter was last handed by ``Interpreter._call``, which is what it reports to: an
interpreter a user created is reached only through ``_call``. (A pool's interpreters also take the `Invited`
jobs of other blocks, each accepted before its job runs.)"""


def uninstall_hooks() -> None:
    """Put back everything `install_hooks` and `hook_asyncio` replaced (the next ``record()`` installs
    them again)."""
    global _asyncio_hooked
    while _hooks:
        owner, attribute, original = _hooks.pop()
        setattr(owner, attribute, original)
    _asyncio_hooked = False


def _is_interpreter_pool(executor: object) -> bool:
    module = sys.modules.get("concurrent.futures.interpreter")
    pool = getattr(module, "InterpreterPoolExecutor", None)
    return pool is not None and isinstance(executor, pool)


def _interpreters_module() -> Any:
    """`concurrent.interpreters` (Python 3.14+), or None."""
    if sys.version_info < (3, 14):
        return None
    try:
        import concurrent.interpreters
    except ImportError:  # a build without subinterpreters
        return None
    return concurrent.interpreters


def _to_interpreter(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` with the invitation of the recording that submits it to an interpreter pool, where it can
    travel by name: a recorded function, or a plain one that is not of a script's ``__main__`` (a pool
    made inside the block invites its interpreters at each call anyway: its threads belong to the block)."""
    from .decorators import Task

    if not isinstance(fn, Task) and getattr(fn, "__module__", "__main__") == "__main__":
        return fn
    return _invited(fn)


def _invited(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` with the invitation of the recording that submits it, if any."""
    if not (open_collectors or context_collector.get() is not None):
        return fn
    invitation = invitation_here()
    return fn if invitation is None else Invited(invitation, fn)


def _pool_method(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def send(self: Any, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return method(self, _invited(func), *args, **kwargs)

    return send


# --- asyncio: work an event loop sends to a thread ------------------------------------------------

thread_futures: weakref.WeakSet[Any] = weakref.WeakSet()
"""The asyncio futures of work sent to a thread (`hook_asyncio`): a coroutine awaiting one is blocked
on another task, though its loop's thread may sit waiting for I/O meanwhile."""
_asyncio_hooked = False


def hook_asyncio() -> None:
    """Note the futures of work an event loop sends to a thread (``asyncio.to_thread`` and
    ``loop.run_in_executor``), once asyncio runs a recorded coroutine."""
    global _asyncio_hooked
    if _asyncio_hooked:
        return
    import asyncio.base_events

    _asyncio_hooked = True
    original = asyncio.base_events.BaseEventLoop.run_in_executor

    def run_in_executor(self: Any, executor: Any, func: Callable[..., Any], *args: Any) -> Any:
        future = original(self, executor, func, *args)
        thread_futures.add(future)
        return future

    _patch(asyncio.base_events.BaseEventLoop, "run_in_executor", run_in_executor)
