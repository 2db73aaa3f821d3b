"""Idempotency keys: a retried POST gets the first answer back and creates nothing.

Use inside the transaction that does the work:

    with conn.transaction():
        stored = idempotency.claim(conn, scope, key, fingerprint)
        if stored:
            return stored            # the first answer, verbatim
        ... do the work ...
        idempotency.complete(conn, scope, key, status, body, headers)

claim() inserts the key; a concurrent request with the same key waits on the unique index until the first
transaction ends, then reads its stored answer (or, if the first rolled back, proceeds itself). Answers
of failed requests are never stored: nothing was created, so a retry simply runs again.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import random
import re
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from geodata.validation import ValidationError

log = logging.getLogger(__name__)

# How long a key is remembered. Past this a reused key is a new request (as with common payment APIs), and
# the stored answer is deleted: it may hold an anonymous reporter's private token.
TTL = timedelta(hours=24)
TTL_ENV = "IDEMPOTENCY_TTL_HOURS"
# One claim in this many also deletes expired keys (a bounded batch, skipping rows others hold), so the
# table stays small without a scheduler; `python -m geodata.idempotency purge` does the same on demand.
PURGE_EVERY = 64
PURGE_BATCH = 1000
HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


class IdempotencyKeyReused(Exception):
    """The key was already used for a different request body."""

    fields = {HEADER: "was already used for a different request; use a new key for a new request"}

    def __init__(self) -> None:
        super().__init__("This Idempotency-Key was already used with a different request body.")


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def fingerprint(body: Any) -> str:
    """SHA-256 of a request body (canonical JSON for parsed bodies, the bytes otherwise)."""
    if isinstance(body, bytes):
        data = body
    else:
        data = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(data).hexdigest()


def ttl() -> timedelta:
    """How long keys are kept: IDEMPOTENCY_TTL_HOURS (hours, may be fractional), else 24 hours."""
    value = os.environ.get(TTL_ENV)
    if not value:
        return TTL
    try:
        hours = float(value)
    except ValueError:
        raise ValueError(f"{TTL_ENV} must be a number of hours, not {value!r}") from None
    if not 0 < hours < 24 * 366:
        raise ValueError(f"{TTL_ENV} must be more than 0 and less than a year of hours")
    return timedelta(hours=hours)


def check_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY.match(key):
        raise ValidationError({HEADER: "must be 1 to 255 visible ASCII characters"})
    return key


def claim(conn: psycopg.Connection, scope: str, key: str, fp: str) -> StoredResponse | None:
    """Hold the key for this transaction (None), or return the answer stored for it by an earlier request."""
    check_key(key)
    inserted = conn.execute(
        "INSERT INTO idempotency_keys (scope, key, fingerprint) VALUES (%s, %s, %s)"
        " ON CONFLICT (scope, key) DO NOTHING RETURNING 1", (scope, key, fp)).fetchone()
    if inserted:
        if random.randrange(PURGE_EVERY) == 0:
            purge(conn, batch=PURGE_BATCH)
        return None
    row = conn.execute(
        "SELECT fingerprint, status, body, headers, created_at < now() - %s FROM idempotency_keys"
        " WHERE scope = %s AND key = %s FOR UPDATE", (ttl(), scope, key)).fetchone()
    if row is None:
        # Purged between the two statements: take it afresh.
        return claim(conn, scope, key, fp)
    stored_fp, status, body, headers, expired = row
    if expired or status is None:
        # An expired key starts over. (status is NULL only inside the claiming transaction, which cannot
        # be seen from here once it committed; treated as absent for safety.)
        conn.execute("UPDATE idempotency_keys SET fingerprint = %s, status = NULL, body = NULL,"
                     " headers = '{}', created_at = now() WHERE scope = %s AND key = %s", (fp, scope, key))
        return None
    if stored_fp != fp:
        raise IdempotencyKeyReused()
    log.info("idempotent replay of %s in %s", key, scope)
    return StoredResponse(status, body, headers or {})


def complete(conn: psycopg.Connection, scope: str, key: str, status: int, body: Any,
             headers: dict[str, str] | None = None) -> None:
    """Store the answer for the key claimed in this transaction."""
    conn.execute("UPDATE idempotency_keys SET status = %s, body = %s, headers = %s WHERE scope = %s AND key = %s",
                 (status, Jsonb(body), Jsonb(headers or {}), scope, key))


_PURGE = """
DELETE FROM idempotency_keys WHERE (scope, key) IN (
    SELECT scope, key FROM idempotency_keys WHERE created_at < now() - %(age)s
    ORDER BY created_at LIMIT %(batch)s
    -- Rows a running request holds are left for the next purge instead of waiting on them.
    FOR UPDATE SKIP LOCKED
)
"""


def purge(conn: psycopg.Connection, older_than: timedelta | None = None, *, batch: int | None = None) -> int:
    """Forget keys older than the TTL (the stored answers may hold a reporter's private token); returns how
    many. batch bounds one call (the opportunistic purge inside a request); None deletes them all."""
    age = ttl() if older_than is None else older_than
    deleted = conn.execute(_PURGE, {"age": age, "batch": batch}).rowcount
    if deleted:
        log.info("purged %d idempotency keys older than %s", deleted, age)
    return deleted


def main(argv: list[str] | None = None) -> int:
    """python -m geodata.idempotency purge [--older-than-hours H]"""
    from geodata import db

    parser = argparse.ArgumentParser(prog="python -m geodata.idempotency",
                                     description="Idempotency keys: delete the expired ones.")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("purge", help=f"delete keys older than the TTL ({TTL_ENV}, default 24 hours)")
    cmd.add_argument("--older-than-hours", type=float, help="instead of the TTL")
    args = parser.parse_args(argv)
    try:
        age = ttl() if args.older_than_hours is None else timedelta(hours=args.older_than_hours)
    except ValueError as exc:
        parser.error(str(exc))
    if age <= timedelta(0):
        parser.error("--older-than-hours must be more than 0")
    with db.connect(autocommit=True) as conn:
        deleted = purge(conn, age)
    print(f"deleted {deleted} idempotency keys older than {age}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
