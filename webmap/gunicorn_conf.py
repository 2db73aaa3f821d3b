"""How gunicorn serves the app, for `make run` and the benchmarks alike (one place, so they cannot drift).

    gunicorn -c webmap/gunicorn_conf.py --bind HOST:PORT 'webmap:create_app()'

WEB_WORKERS (processes) and WEB_THREADS (threads per process; more than 1 selects the gthread worker)
override the defaults below.
"""
import os

# Two sync workers per core (gunicorn's own advice is 2 x cores + 1): a report spends about half its time
# waiting on PostgreSQL, and a second worker per core fills that wait. Measured against one per core,
# three per core and gthread (docs/benchmarks-issues.md): 10-15 % more reports per second and a lower p95;
# cached tiles, which never wait, lose about a tenth to the extra processes.
workers = int(os.environ.get("WEB_WORKERS", 2 * (os.cpu_count() or 1)))
threads = int(os.environ.get("WEB_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"


def post_worker_init(worker):
    """Each worker folds the statistics queue now and then, between requests (webmap/background.py)."""
    from webmap import background

    background.start(worker.wsgi)
