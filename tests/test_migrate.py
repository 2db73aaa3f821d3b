"""Migrations: applied once each, recorded, reported as pending, and rolled back whole when one fails."""
from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from geodata import migrate


@pytest.fixture
def blank_db(database_url):
    """An empty database beside the test database, dropped afterwards."""
    admin = psycopg.conninfo.make_conninfo(database_url, dbname="postgres")
    name = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"] + "_blank"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(psycopg.conninfo.make_conninfo(database_url, dbname=name), autocommit=True) as conn:
        yield conn
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_files_are_numbered_and_ordered():
    versions = [m.version for m in migrate.available()]
    assert versions == sorted(versions) and len(versions) == len(set(versions))
    assert versions[0] == 1


def test_each_migration_applies_once_and_is_recorded(blank_db):
    assert [m.version for m in migrate.pending(blank_db)] == [m.version for m in migrate.available()]
    applied = migrate.apply_all(blank_db)
    assert len(applied) == len(migrate.available())
    assert migrate.pending(blank_db) == []
    assert migrate.apply_all(blank_db) == []
    rows = blank_db.execute("SELECT version, checksum FROM schema_migrations ORDER BY version").fetchall()
    assert rows == [(m.version, m.checksum) for m in migrate.available()]
    assert blank_db.execute("SELECT count(*) FROM categories").fetchone()[0] == 11


def test_a_failing_migration_leaves_nothing_behind(blank_db, monkeypatch):
    good = migrate.available()
    broken = migrate.Migration(9999, "broken", "CREATE TABLE half_done (id int); SELECT 1/0;")
    monkeypatch.setattr(migrate, "available", lambda: [*good, broken])
    with pytest.raises(migrate.MigrationError, match="9999_broken"):
        migrate.apply_all(blank_db)
    # Every earlier migration stays applied; the broken one left neither its table nor a ledger row.
    assert [m.version for m in migrate.pending(blank_db)] == [9999]
    assert blank_db.execute("SELECT to_regclass('half_done')").fetchone()[0] is None


def test_categories_have_both_languages_and_an_sla(conn):
    rows = conn.execute("SELECT code, name, name_en, sla_days FROM categories ORDER BY sort_order").fetchall()
    assert [r[0] for r in rows] == [
        "litter", "blocked_passage", "street_light", "fire_lane", "greenery", "noise",
        "manhole", "stairwell_clutter", "illegal_construction", "drain", "other",
    ]
    assert all(r[1] and r[2] and r[3] > 0 for r in rows)
