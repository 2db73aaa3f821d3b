"""Schema migrations: ordered SQL files, each applied once in its own transaction and recorded."""
from __future__ import annotations

import argparse
import hashlib
import logging
import re
import sys
from dataclasses import dataclass
from importlib import resources

import psycopg

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# One number shared by every process that migrates, so two workers never apply the same file twice.
_LOCK_KEY = 0x5745424D4150  # "WEBMAP"

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    """One SQL file of the schema history."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    """A migration failed, or the recorded history disagrees with the files."""


def available() -> list[Migration]:
    """Every migration shipped in geodata/migrations, in order."""
    found = []
    for entry in resources.files("geodata.migrations").iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a number: {versions}")
    return found


def applied(conn: psycopg.Connection) -> dict[int, str]:
    """Recorded migrations as version -> checksum; empty when the ledger does not exist yet."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]
    if not exists:
        return {}
    return dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())


def pending(conn: psycopg.Connection) -> list[Migration]:
    """Migrations not applied yet."""
    done = applied(conn)
    return [m for m in available() if m.version not in done]


def apply_all(conn: psycopg.Connection) -> list[Migration]:
    """Apply every pending migration, each in its own transaction; returns what was applied."""
    if not conn.autocommit:
        conn.commit()
    conn.autocommit = True
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        conn.execute(_CREATE_LEDGER)
        done = applied(conn)
        for m in available():
            if m.version in done and done[m.version] != m.checksum:
                log.warning("migration %04d_%s changed after it was applied; it is not applied again", m.version, m.name)
        todo = [m for m in available() if m.version not in done]
        for m in todo:
            log.info("applying migration %04d_%s", m.version, m.name)
            try:
                with conn.transaction():
                    conn.execute(m.sql)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (m.version, m.name, m.checksum),
                    )
            except psycopg.Error as exc:
                raise MigrationError(f"migration {m.version:04d}_{m.name} failed and was rolled back: {exc}") from exc
        return todo
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


def main(argv: list[str] | None = None) -> int:
    """python -m geodata.migrate [--status]"""
    from geodata import db

    parser = argparse.ArgumentParser(prog="python -m geodata.migrate", description=__doc__)
    parser.add_argument("--status", action="store_true", help="list pending migrations and apply nothing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with db.connect(autocommit=True) as conn:
        if args.status:
            todo = pending(conn)
            for m in todo:
                print(f"pending: {m.version:04d}_{m.name}")
            print(f"{len(todo)} pending")
            return 1 if todo else 0
        try:
            done = apply_all(conn)
        except MigrationError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"{len(done)} migration(s) applied" if done else "schema is current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
