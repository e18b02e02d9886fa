"""Task queues: Celery workers with an embedded broker or Redis (`taskqueue`), the tasks' reports
(`queue_tasks`), and their records as a timeline (`queue_timeline`). Imports render and the engine only.
"""
