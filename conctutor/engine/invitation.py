"""How a worker process learns which recording to report to: an *invitation*, in plain data.

An invitation holds the spool directory, the recording's pid, its `Settings`
as data and its quietness. It reaches a worker three ways:

* a job submitted to a process pool inside a ``record()`` block carries the
  invitation taken when it was submitted, in the submitting thread (`Invited`,
  put there by `conctutor.engine.hooks`), so a pool made before the block
  records too;
* a recorded function that travels pickled carries the invitation of the
  thread that pickles it (``Task.__reduce__``);
* a process started inside a block under *spawn* or *forkserver* receives it
  with the data multiprocessing sends every new process (`NewProcessInvitation`);
  a *forked* process inherits the recording instead.

A subinterpreter of the recording process accepts an invitation as a worker
process does: a job of an ``InterpreterPoolExecutor`` carries one (`Invited`),
a recorded function carries its own, and ``Interpreter.call`` hands one over
before the call (`conctutor.engine.hooks`).

The worker also adopts the sender's `Settings` (durations, time scale).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from . import routing, settings
from .quiet import quiet_for_good
from .routing import Collector, current_collector
from .subinterpreters import IN_SUBINTERPRETER

Invitation = tuple[str, int, dict[str, float], str, bool]
"""What a worker process needs to report to a recording, in plain types only (a new process reads it
before it can import anything): the spool directory, the recording process's pid, the durations and
the time scale's text (`settings.Settings.to_data`), and whether the recording is quiet (a spawned
worker does not inherit the quiet stdout)."""


def invitation_to(collector: Collector) -> Invitation:
    """What a worker process needs to report to `collector`."""
    durations, scale_text = settings.current(collector.durations).to_data()
    return (collector.directory, collector.owner_pid, durations, scale_text, collector.quiet)


def invitation_here() -> Invitation | None:
    """The invitation to the recording that a call made here and now belongs to, if any."""
    collector = current_collector()
    return invitation_to(collector) if collector is not None and collector.directory else None


def _checked(invitation: object) -> Invitation | None:
    """`invitation` if it is well formed, else None: a worker never fails because of what it was sent."""
    if not isinstance(invitation, tuple) or len(invitation) != 5:
        return None
    directory, owner_pid, durations, scale_text, quiet = invitation
    if not (isinstance(directory, str) and directory and isinstance(owner_pid, int) and isinstance(durations, dict)
            and isinstance(scale_text, str) and isinstance(quiet, bool)):
        return None
    return directory, owner_pid, durations, scale_text, quiet


_adopted: dict[str, Collector] = {}
"""This worker's collector for each recording it was invited to (a pool's worker outlives a block)."""


def accept_invitation(invitation: object) -> None:
    """In a worker process: report to this recording (None: to none) with its settings. Never raises."""
    checked = _checked(invitation)
    if checked is None:
        if not routing.owns_an_open_recording():
            routing.report_only_to(None)
            settings.adopt(None)
            sampling = sys.modules.get("conctutor.engine.sampling")  # loaded if this worker let a sidecar watch it
            if sampling is not None:
                sampling.revoke_sampler()
        return
    directory, owner_pid, durations, scale_text, quiet = checked
    if owner_pid == os.getpid() and not IN_SUBINTERPRETER:
        return  # pickled and unpickled in the recording process itself
    travelling = settings.Settings.from_data((durations, scale_text))
    settings.adopt(travelling)
    collector = _adopted.get(directory)
    if collector is None:
        collector = _adopted[directory] = Collector(directory, owner_pid, travelling.durations)
    collector.durations = dict(travelling.durations)
    collector.quiet = quiet
    if quiet:
        quiet_for_good()
    routing.report_only_to(collector)  # a worker runs one job at a time: the last one sent decides


def _after_fork_in_child() -> None:
    for collector in _adopted.values():
        collector.after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Invited:
    """A job for a process pool, with the invitation taken when it was submitted.

    The pool pickles its jobs in a thread of its own, started with the pool, which
    belongs to no recording; the submitting thread knows the recording. The worker
    accepts the invitation just before it runs the job.
    """

    def __init__(self, invitation: Invitation | None, function: Callable[..., Any]) -> None:
        self.invitation = invitation
        self.function = function

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        accept_invitation(self.invitation)
        return self.function(*args, **kwargs)


_ACCEPT = """
import sys
invitations = sys.modules.get("conctutor.engine.invitation")
if invitations is None:
    sys._conctutor_invitation = invitation
else:
    try:
        invitations.accept_invitation(invitation)
    except Exception:
        pass
"""


class NewProcessInvitation:
    """Unpickled in a new spawn/forkserver process, before the job it will run: report here.

    It unpickles through ``exec`` of a short piece of code that imports nothing: the
    child has not set its ``sys.path`` yet (multiprocessing does that after reading
    this data). Where conctutor is loaded already (a forkserver that preloaded it), it
    accepts at once; elsewhere it leaves the invitation in ``sys`` for
    `_accept_left_invitation`, when this module is first imported.
    """

    def __init__(self, invitation: Invitation) -> None:
        self.invitation = invitation

    def __reduce__(self) -> tuple:
        return (exec, (_ACCEPT, {"invitation": self.invitation}))


def _accept_left_invitation() -> None:
    invitation = sys.__dict__.pop("_conctutor_invitation", None)
    if invitation is not None:
        accept_invitation(invitation)


_accept_left_invitation()
