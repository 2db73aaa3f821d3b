"""Connections: the database URL, single connections and the per-process pool."""
from __future__ import annotations

import logging

import psycopg
from psycopg_pool import ConnectionPool

from geodata import config

log = logging.getLogger(__name__)


def database_url() -> str:
    """DATABASE_URL when set, otherwise the embedded cluster's URL (the cluster must have been started)."""
    url = config.database_url()
    if url:
        return url
    from geodata import localdb

    return localdb.cluster().url()


def connect(url: str | None = None, **kwargs) -> psycopg.Connection:
    """One connection, for command-line tools and tests."""
    return psycopg.connect(url or database_url(), **kwargs)


def make_pool(url: str | None = None, *, min_size: int = 1, max_size: int | None = None) -> ConnectionPool:
    """A pool for one process; opened lazily so that a forked worker builds its own."""
    return ConnectionPool(
        url or database_url(),
        min_size=min_size,
        max_size=max_size or config.pool_max_size(),
        open=False,
        kwargs={"application_name": "webmap"},
        name="webmap",
    )
