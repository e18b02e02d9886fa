"""The engine: recording real runs (task call → event → span → timeline).

`recorder` (the ``task`` decorator and where a call's events go), `events` (their schema), `sinks` (where
they are written: in memory, or in a worker's memory-mapped files, `event_files`), `assembly` (read back as
spans), `recording` (``record()``), `sampling` and `sidecar` (what each thread does, from ``/proc``), `cpu` and
`watch` (cores and numbers over time), `timeline` (the immutable result), `model` (its vocabulary), `settings`,
`spool`, `interrupts` and `contention`. Standard library, NumPy and psutil only; the recording modules load inside a
subinterpreter, where NumPy and psutil do not: nothing here is imported by this file.
"""
