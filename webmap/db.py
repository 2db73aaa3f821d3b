"""The database connection pool of one worker process."""
from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
from collections.abc import Iterator

import psycopg
from flask import Flask, current_app
from psycopg import conninfo
from psycopg_pool import ConnectionPool

from geodata import db as geodb

log = logging.getLogger(__name__)

_EXTENSION = "webmap.db"
_lock = threading.Lock()
_live_pools: dict[ConnectionPool, int] = {}


class _State:
    """The app's pool and the process that opened it."""

    def __init__(self) -> None:
        self.pool: ConnectionPool | None = None
        self.pid: int | None = None


def init_app(app: Flask) -> None:
    """Attach an (unopened) pool slot to the app; the pool itself is created at first use."""
    app.extensions[_EXTENSION] = _State()


def database_url(app: Flask | None = None) -> str:
    """The app's DATABASE_URL, falling back to geodata's choice (env or embedded cluster) on first call."""
    app = app or current_app
    if not app.config.get("DATABASE_URL"):
        app.config["DATABASE_URL"] = geodb.database_url()
    return app.config["DATABASE_URL"]


def _pool(app: Flask) -> ConnectionPool:
    state: _State = app.extensions[_EXTENSION]
    pid = os.getpid()
    # A pool inherited through fork() shares sockets with the parent, so a forked worker opens its own.
    if state.pool is not None and state.pid == pid:
        return state.pool
    with _lock:
        if state.pool is not None and state.pid == pid:
            return state.pool
        timeout = float(app.config["DB_TIMEOUT"])
        # libpq's own connect timeout bounds each attempt when the host silently drops packets.
        url = conninfo.make_conninfo(database_url(app), connect_timeout=max(2, int(timeout)))
        pool = geodb.make_pool(url)
        # Not waiting here: while the database is down the pool keeps reconnecting in the background,
        # and each request gives up after DB_TIMEOUT instead of queueing behind this lock.
        pool.open(wait=False)
        log.info("opened a database pool in process %s", pid)
        state.pool, state.pid = pool, pid
        _live_pools[pool] = pid
        return pool


@contextlib.contextmanager
def get_conn() -> Iterator[psycopg.Connection]:
    """A pooled connection for the current request; the transaction commits on success and rolls back on error."""
    app = current_app._get_current_object()
    pool = _pool(app)
    with pool.connection(timeout=float(app.config["DB_TIMEOUT"])) as conn:
        yield conn


def close_pool(app: Flask) -> None:
    """Close the app's pool, if this process opened one (tests, shutdown)."""
    state: _State | None = app.extensions.get(_EXTENSION)
    if state is None or state.pool is None:
        return
    with _lock:
        pool, state.pool, state.pid = state.pool, None, None
        _live_pools.pop(pool, None)
    if pool is not None:
        pool.close()


@atexit.register
def _close_all() -> None:
    # Only pools this process opened: an inherited pool's worker threads did not survive the fork.
    for pool, pid in list(_live_pools.items()):
        if pid == os.getpid():
            with contextlib.suppress(Exception):
                pool.close()
    _live_pools.clear()
