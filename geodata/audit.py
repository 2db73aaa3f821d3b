"""The audit log: who did what to which object, when; append-only (the database refuses changes)."""
from __future__ import annotations

import getpass
import logging
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from geodata.permissions import Actor
from geodata.validation import ID_MAX, ValidationError

log = logging.getLogger(__name__)

_INSERT = """
INSERT INTO audit_log (actor_id, actor_label, actor_role, via_token, action, object_type, object_id, details)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
RETURNING id
"""


def command_line_actor() -> Actor:
    """The actor of a command-line tool: full rights, named after the operating-system user."""
    try:
        who = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (a container without passwd entry) is not a reason to fail
        who = "unknown"
    return Actor(role="admin", username=f"cli:{who}")


def record(conn: psycopg.Connection, actor: Actor, action: str, object_type: str | None = None,
           object_id: Any = None, details: dict | None = None) -> int:
    """Write one audit entry in the caller's transaction (so it commits or rolls back with the change itself)."""
    return conn.execute(_INSERT, (
        actor.user_id, actor.label, actor.role, actor.via_token, action, object_type,
        None if object_id is None else str(object_id), Jsonb(details or {}),
    )).fetchone()[0]


def entries(conn: psycopg.Connection, *, limit: int = 50, before_id: int | None = None) -> list[dict]:
    """Entries newest first, a page at a time: pass the last id seen as before_id for the next page."""
    # Beyond bigint PostgreSQL would fail the whole query rather than find nothing.
    if before_id is not None and not 1 <= before_id <= ID_MAX:
        raise ValidationError({"before": "must be an entry id"})
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id, at, actor_id, actor_label, actor_role, via_token, action, object_type, object_id, details"
            " FROM audit_log WHERE (%(before)s::bigint IS NULL OR id < %(before)s)"
            " ORDER BY id DESC LIMIT %(limit)s",
            {"before": before_id, "limit": limit},
        ).fetchall()
