"""The engine: recording real runs (task call → event → span → timeline).

- Recorded calls: `recorder` gathers the public names of `decorators` (the ``task`` decorator and the Task
  wrappers), `suspensions` (coroutines and generators), `routing` (which recording a call belongs to),
  `invitation` (what a worker process is sent), `hooks` (threads, pools and processes follow their recording)
  and `quiet` (what a quiet block prints).
- Events: `events` (their schema), `sinks` (where they are written: in memory, or in a worker's
  memory-mapped files, `event_files`), `assembly` (read back as spans).
- A block: `recording` (``record()``), `spool` (its directory), `interrupts` (Ctrl-C held while it starts
  and closes), `sampling` and `sidecar` (what each thread does, from ``/proc``), `cpu` and `watch` (cores and
  numbers over time).
- The result: `timeline` (the immutable value), `build` (made from events), `ideal` (the ideal time),
  `contention` (waits for a core held by others), `persistence` and `files` (saved runs), `model` (the
  vocabulary), `python_build`.
- What every layer uses: `settings` (durations and time scale), `validate` (the one checker of input).

Standard library, NumPy and psutil only; the recording modules load inside a subinterpreter, where NumPy and
psutil do not: nothing here is imported by this file.
"""
