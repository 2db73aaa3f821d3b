"""How gunicorn serves the app, for `make run` and the benchmarks alike (one place, so they cannot drift).

    gunicorn -c webmap/gunicorn_conf.py --bind HOST:PORT 'webmap:create_app()'

WEB_WORKERS (processes) and WEB_THREADS (threads per process; more than 1 selects the gthread worker)
override the defaults below.
"""
import os

# Two processes per core: while one waits for PostgreSQL (a report is two round trips, a commit and its WAL
# flush), the other has the core. Measured in docs/benchmarks-issues.md.
workers = int(os.environ.get("WEB_WORKERS", 2 * (os.cpu_count() or 1)))
threads = int(os.environ.get("WEB_THREADS", "1"))
worker_class = "gthread" if threads > 1 else "sync"
