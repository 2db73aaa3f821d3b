"""Pieces every benchmark shares: a fresh benchmark database and the printed table."""
from __future__ import annotations

import psycopg
from psycopg import sql

from geodata import config, localdb, migrate


def fresh_database(name: str) -> str:
    """Drop and recreate a migrated database beside the app's own; returns its URL."""
    base = config.database_url() or localdb.cluster().url()
    admin = psycopg.conninfo.make_conninfo(base, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(sql.Identifier(name)))
    url = psycopg.conninfo.make_conninfo(base, dbname=name)
    with psycopg.connect(url, autocommit=True) as conn:
        migrate.apply_all(conn)
    return url


def print_table(title: str, header: tuple, rows: list[tuple]) -> None:
    """A plain-text table: first column left-aligned, numbers right-aligned, floats to 3 places."""
    print(f"\n{title}")
    cells = [header] + [tuple(f"{c:.3f}" if isinstance(c, float) else str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for k, r in enumerate(cells):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if k == 0:
            print("  ".join("-" * w for w in widths))
