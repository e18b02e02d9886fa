"""How long this program's runnable tasks waited for a core that another program held.

Other programs being busy (JupyterLab, the browser, the projector's software)
changes nothing when our tasks only wait, or when a core stays free for them.
What changes a lesson's numbers is a task of ours that could run, and waited
for a core ("pronta") while another program used one. Per interval between two
CPU samples, that is the smaller of the time our tasks spent ready and the
time other programs spent on the cores; summed over the block.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .model import STATES, State

if TYPE_CHECKING:
    from .timeline import Timeline

READY_CODE = STATES.index(State.READY)


def _ready_integral(starts: np.ndarray, ends: np.ndarray, at: np.ndarray) -> np.ndarray:
    """For each time in `at`: the ready time summed over the intervals ``[starts, ends]`` up to it."""
    if len(starts) == 0:
        return np.zeros(len(at))
    times = np.concatenate((starts, ends))
    steps = np.concatenate((np.ones(len(starts)), -np.ones(len(ends))))
    order = np.argsort(times, kind="stable")
    times, steps = times[order], steps[order]
    level = np.cumsum(steps)  # intervals ready just after each time
    area = np.concatenate(([0.0], np.cumsum(level[:-1] * np.diff(times))))
    return np.interp(at, times, area, left=0.0, right=float(area[-1]))


def others_delay(timeline: Timeline) -> float | None:
    """Seconds our ready tasks waited for a core while other programs used the cores (None: not measured)."""
    cpu = timeline.cpu
    if cpu.ours is None or not cpu.times or not timeline.sampled:
        return None
    c = timeline.columns
    ready = c.seg_state == READY_CODE
    edges = np.concatenate(([cpu.start], np.asarray(cpu.times, dtype=float)))
    waited = np.diff(_ready_integral(c.seg_start[ready], c.seg_end[ready], edges))
    others = np.clip(np.asarray(cpu.percent) - np.asarray(cpu.ours), 0, 100).sum(axis=1) / 100  # in cores
    return float(np.minimum(waited, others * np.diff(edges)).clip(min=0).sum())


NOTICEABLE_SHARE = 0.05
"""A share of the run: our tasks waiting this long for a core held by others changes a lesson's numbers."""
NOTICEABLE_S = 0.05
"""Seconds: shorter delays are noise, whatever the run's length."""


def noticeable_delay(timeline: Timeline) -> float:
    """`others_delay` when it is long enough to change what the run shows, else 0 (also when unknown)."""
    delay = others_delay(timeline)
    if delay is None or delay <= max(NOTICEABLE_SHARE * timeline.makespan, NOTICEABLE_S):
        return 0.0
    return delay
