"""Shared fixtures: a fresh PostGIS database for the whole test session, migrated to the current schema."""
from __future__ import annotations

import os
import secrets

import psycopg
import pytest
from psycopg import sql

from geodata import config, localdb, migrate

# Tests sign in often and need no production-strength password hashing (64 MiB and 3 passes per check,
# close to a second on a busy two-core machine): the same argon2id, with small parameters.
for _name, _value in (("PASSWORD_ARGON2_TIME_COST", "1"), ("PASSWORD_ARGON2_MEMORY_KIB", "1024"),
                      ("PASSWORD_ARGON2_PARALLELISM", "1")):
    os.environ.setdefault(_name, _value)


@pytest.fixture(scope="session", autouse=True)
def compiled_catalogues():
    """Translations compiled from their .po files, as make setup does."""
    from webmap import i18n

    i18n.compile_catalogues()


def _admin_url() -> str:
    """A URL to a maintenance database of the server the tests use."""
    external = config.database_url()
    if external:
        return psycopg.conninfo.make_conninfo(external, dbname="postgres")
    return localdb.cluster().url("postgres")


@pytest.fixture(scope="session")
def database_url():
    """A database created for this test session and dropped after it."""
    if not config.database_url():
        localdb.cluster().start()
    admin = _admin_url()
    name = f"webmap_test_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(sql.Identifier(name)))
    url = psycopg.conninfo.make_conninfo(admin, dbname=name)
    with psycopg.connect(url, autocommit=True) as conn:
        migrate.apply_all(conn)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def conn(database_url):
    """An autocommit connection to the test database."""
    with psycopg.connect(database_url, autocommit=True) as c:
        yield c


@pytest.fixture(scope="module")
def leave_no_people_behind(database_url):
    """For modules after which no issue, account or party of theirs may stay (later ones list them all)."""
    yield
    with psycopg.connect(database_url, autocommit=True) as c:
        c.execute("TRUNCATE issues, issue_events, supports, comments, idempotency_keys, parties, users"
                  " RESTART IDENTITY CASCADE")


@pytest.fixture
def empty_areas(conn):
    """Start the test with no areas and no load history."""
    conn.execute("TRUNCATE areas, area_loads RESTART IDENTITY CASCADE")
    yield conn


@pytest.fixture
def client(app):
    """A test client of the module's `app` fixture."""
    return app.test_client()
