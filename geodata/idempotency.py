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

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from geodata.validation import ValidationError

log = logging.getLogger(__name__)

# How long a key is remembered. Past this a reused key is a new request (as with common payment APIs).
TTL = timedelta(hours=24)
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
        return None
    row = conn.execute(
        "SELECT fingerprint, status, body, headers, created_at < now() - %s FROM idempotency_keys"
        " WHERE scope = %s AND key = %s FOR UPDATE", (TTL, scope, key)).fetchone()
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


def purge(conn: psycopg.Connection, older_than: timedelta = TTL) -> int:
    """Forget keys older than the TTL (the stored answers may hold a reporter's private token)."""
    return conn.execute("DELETE FROM idempotency_keys WHERE created_at < now() - %s", (older_than,)).rowcount
