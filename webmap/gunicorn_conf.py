"""How gunicorn serves the app, for `make run` and the benchmarks alike (one place, so they cannot drift).

    gunicorn -c webmap/gunicorn_conf.py --bind HOST:PORT 'webmap:create_app()'

WEB_WORKERS (processes) and WEB_THREADS (threads per process; more than 1 selects the gthread worker)
override the defaults below.
"""
import os

# One sync worker per core: measured against two per core and against gthread (docs/benchmarks-issues.md),
# more processes only added context switches and CPU per request on these two cores.
workers = int(os.environ.get("WEB_WORKERS", os.cpu_count() or 1))
threads = int(os.environ.get("WEB_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"


def post_worker_init(worker):
    """Each worker folds the statistics queue now and then, between requests (webmap/background.py)."""
    from webmap import background

    background.start(worker.wsgi)
