"""Task queues: Celery workers with an embedded broker or Redis, and their records as a timeline.

`taskqueue` gathers the public names (``conctutor.taskqueue``) of `app`, `workers`, `channel`,
`records` and `clock`; `reporting` is the base of every task that runs there (the chapter's are in
`conctutor.course.queue_tasks`); `queue_timeline` turns the records into a timeline. Imports render
and the engine only.
"""
