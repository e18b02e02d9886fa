"""Task queues: Celery workers with an embedded broker or Redis (`taskqueue`), the base of every task that
runs there (`reporting`; the chapter's tasks are in `conctutor.course.queue_tasks`), and their records as a
timeline (`queue_timeline`). Imports render and the engine only.
"""
