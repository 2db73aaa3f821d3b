"""Idempotency keys expire: purge() deletes old ones (their answers may hold private tokens), by the TTL,
opportunistically on claims and from the command line."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest

from geodata import idempotency
from geodata.config import PROJECT_ROOT


def _store(conn, scope, key, age_hours, body=None):
    conn.execute("INSERT INTO idempotency_keys (scope, key, fingerprint, status, body, created_at)"
                 " VALUES (%s, %s, 'fp', 201, %s, now() - make_interval(secs => %s))",
                 (scope, key, idempotency.Jsonb(body or {"private_token": "secret"}), age_hours * 3600))


def _keys(conn):
    return {r[0] for r in conn.execute("SELECT key FROM idempotency_keys")}


@pytest.fixture
def keys(conn):
    conn.execute("TRUNCATE idempotency_keys")
    _store(conn, "s", "fresh", 1)
    _store(conn, "s", "day-old", 23.5)
    _store(conn, "s", "stale", 25)
    _store(conn, "s", "ancient", 24 * 30)
    yield conn
    conn.execute("TRUNCATE idempotency_keys")


def test_purge_deletes_keys_older_than_the_ttl(keys, monkeypatch):
    monkeypatch.delenv(idempotency.TTL_ENV, raising=False)
    assert idempotency.purge(keys) == 2
    assert _keys(keys) == {"fresh", "day-old"}
    assert idempotency.purge(keys) == 0
    assert idempotency.purge(keys, timedelta(minutes=30)) == 2
    assert _keys(keys) == set()


def test_ttl_is_configurable(keys, monkeypatch):
    monkeypatch.setenv(idempotency.TTL_ENV, "0.5")
    assert idempotency.ttl() == timedelta(minutes=30)
    assert idempotency.purge(keys) == 4
    for bad in ("soon", "0", "-3", "nan"):
        monkeypatch.setenv(idempotency.TTL_ENV, bad)
        with pytest.raises(ValueError):
            idempotency.ttl()


def test_purge_in_batches_skips_rows_held_by_a_running_request(keys, database_url):
    import psycopg

    assert idempotency.purge(keys, batch=1) == 1
    assert _keys(keys) == {"fresh", "day-old", "stale"}
    with psycopg.connect(database_url) as other:
        other.execute("SELECT 1 FROM idempotency_keys WHERE key = 'stale' FOR UPDATE")
        # Not waiting for the other transaction: its row is left for a later purge.
        assert idempotency.purge(keys) == 0
    assert idempotency.purge(keys) == 1


def test_claims_purge_now_and_then(keys, monkeypatch):
    monkeypatch.setattr(idempotency, "PURGE_EVERY", 1)
    with keys.transaction():
        assert idempotency.claim(keys, "s", "new-key", "fp") is None
    assert _keys(keys) == {"fresh", "day-old", "new-key"}


def test_an_expired_key_is_a_new_request(keys, monkeypatch):
    monkeypatch.setattr(idempotency, "PURGE_EVERY", 10**9)
    with keys.transaction():
        assert idempotency.claim(keys, "s", "stale", "other-fp") is None
        stored = idempotency.claim(keys, "s", "fresh", "fp")
    assert stored.status == 201 and stored.body == {"private_token": "secret"}


def test_purge_from_the_command_line(keys, database_url):
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(PROJECT_ROOT)}
    run = subprocess.run([sys.executable, "-m", "geodata.idempotency", "purge"], env=env, cwd=PROJECT_ROOT,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "deleted 2 idempotency keys" in run.stdout
    run = subprocess.run([sys.executable, "-m", "geodata.idempotency", "purge", "--older-than-hours", "12"],
                         env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "deleted 1 idempotency keys" in run.stdout, run.stderr
    assert _keys(keys) == {"fresh"}
    bad = subprocess.run([sys.executable, "-m", "geodata.idempotency", "purge", "--older-than-hours", "-1"],
                         env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and _keys(keys) == {"fresh"}
