"""A `limits` storage kept in PostgreSQL, so every worker process (and every host) counts against one table.

Registered with `limits` under the URI scheme `webmap-pg`; Flask-Limiter finds it through its storage URI.
`webmap-pg://` alone uses the connections given by the `connect` option (the app's pool); with a libpq URL
after the scheme (`webmap-pg://user:pw@host:5432/db`), or any libpq string as the `dsn` option, it opens its
own connection per operation.
"""
from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from limits.storage import Storage

log = logging.getLogger(__name__)

SCHEME = "webmap-pg"

# One statement, so concurrent hits from any process serialise on the row's lock and each sees its own count.
# A window that has run out starts again from this hit. Also a data-modifying CTE of writes that count
# against a limit in their own statement (Hit; geodata.issues.report): hits, ends.
HIT_SQL = """
INSERT INTO rate_limits AS r (key, hits, expires_at)
VALUES (%(rl_key)s, %(rl_amount)s, clock_timestamp() + make_interval(secs => %(rl_expiry)s))
ON CONFLICT (key) DO UPDATE SET
    hits = CASE WHEN r.expires_at <= clock_timestamp() THEN excluded.hits ELSE r.hits + excluded.hits END,
    expires_at = CASE WHEN r.expires_at <= clock_timestamp() THEN excluded.expires_at ELSE r.expires_at END
RETURNING hits, extract(epoch FROM expires_at)::float8 AS ends
"""
_GET = "SELECT hits FROM rate_limits WHERE key = %s AND expires_at > clock_timestamp()"
_EXPIRY = "SELECT extract(epoch FROM expires_at) FROM rate_limits WHERE key = %s AND expires_at > clock_timestamp()"
_CLEAR = "DELETE FROM rate_limits WHERE key = %s"
_RESET = "WITH gone AS (DELETE FROM rate_limits RETURNING 1) SELECT count(*) FROM gone"
# Expired rows are harmless (every read filters them) but would pile up; one hit in a few hundred sweeps.
_SWEEP = "DELETE FROM rate_limits WHERE expires_at < clock_timestamp() - interval '1 minute'"
_SWEEP_EVERY = 256
# A hit is followed, in the same request, by reads of its count and expiry for the X-RateLimit headers:
# incr() returns both in its one statement and keeps them this long (per thread) to answer those reads.
_FRESH_S = 1.0


class LimitReached(Exception):
    """A write counted against its limit in its own statement found the limit used up, and wrote nothing else."""

    def __init__(self, hit: Hit):
        super().__init__(f"rate limit {hit.key} reached ({hit.hits} of {hit.allowed})")
        self.hit = hit


@dataclass
class Hit:
    """One hit of a fixed-window counter (as `limits`' FixedWindowRateLimiter counts it), taken by a write in
    the write's own statement: the write happens only while hits <= allowed. One round trip instead of two.

    hits and ends are filled in once the statement ran, whether or not the write happened (None: it did not
    run, so nothing was counted).
    """

    key: str
    expiry: float
    allowed: int
    amount: int = 1
    hits: int | None = None
    ends: float | None = None

    def params(self) -> dict:
        """The parameters of HIT_SQL."""
        return {"rl_key": self.key, "rl_amount": self.amount, "rl_expiry": float(self.expiry)}

    @property
    def counted(self) -> bool:
        return self.hits is not None

    @property
    def within(self) -> bool:
        return self.hits is not None and self.hits <= self.allowed


class PostgresStorage(Storage):
    """Fixed-window counters in the UNLOGGED table rate_limits (migration 0005)."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False,
                 connect: Callable[[], Any] | None = None, dsn: str | None = None, **options: Any) -> None:
        url = (uri or "").split("://", 1)[1] if uri and "://" in uri else ""
        if connect is None and not url and not dsn:
            raise ValueError(f"{SCHEME}:// needs a database URL after the scheme, a dsn= or a connect= option")
        self._connect = connect
        self._url = f"postgresql://{url}" if url else dsn
        self._local = threading.local()
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return psycopg.Error

    @contextlib.contextmanager
    def _conn(self) -> Iterator[psycopg.Connection]:
        if self._connect is not None:
            with self._connect() as conn:
                if conn.autocommit or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    yield conn
                    return
                # Each operation is one statement: autocommit spares the BEGIN and COMMIT round trips.
                conn.autocommit = True
                try:
                    yield conn
                finally:
                    conn.autocommit = False
        else:
            with psycopg.connect(self._url, autocommit=True) as conn:
                yield conn

    def _one(self, query: str, params: Any) -> Any:
        with self._conn() as conn:
            row = conn.execute(query, params).fetchone()
            if not conn.autocommit:
                conn.commit()
        return row[0] if row else None

    def _fresh(self, key: str) -> tuple[int, float] | None:
        """(hits, expiry) of this thread's own hit on key less than _FRESH_S ago, while its window is open."""
        last = getattr(self._local, "last", None)
        if last is None or last[0] != key or time.monotonic() - last[3] > _FRESH_S or last[2] <= time.time():
            return None
        return last[1], last[2]

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        """Count amount hits in the key's window (opened now, for expiry seconds, when there is none)."""
        with self._conn() as conn:
            hits, ends = conn.execute(HIT_SQL, {"rl_key": key, "rl_amount": amount, "rl_expiry": float(expiry)}).fetchone()
            if random.randrange(_SWEEP_EVERY) == 0:
                conn.execute(_SWEEP)
            if not conn.autocommit:
                conn.commit()
        self.remember(key, hits, ends)
        return int(hits)

    def remember(self, key: str, hits: int, ends: float) -> None:
        """A hit on key counted elsewhere (a Hit in a write's statement): reads of it in this request use it."""
        self._local.last = (key, int(hits), float(ends), time.monotonic())

    def get(self, key: str) -> int:
        """Hits in the key's current window (0 when none is open)."""
        fresh = self._fresh(key)
        if fresh is not None:
            return fresh[0]
        return int(self._one(_GET, (key,)) or 0)

    def get_expiry(self, key: str) -> float:
        """When the key's window ends, as a Unix time (now when none is open)."""
        fresh = self._fresh(key)
        if fresh is not None:
            return fresh[1]
        value = self._one(_EXPIRY, (key,))
        return float(value) if value is not None else time.time()

    def check(self) -> bool:
        """Whether the table can be reached."""
        try:
            self._one("SELECT 1 FROM rate_limits LIMIT 1", ())
            return True
        except psycopg.Error:
            return False

    def reset(self) -> int | None:
        """Forget every counter."""
        self._local.last = None
        return int(self._one(_RESET, ()) or 0)

    def clear(self, key: str) -> None:
        """Forget one counter."""
        self._local.last = None
        with self._conn() as conn:
            conn.execute(_CLEAR, (key,))
            if not conn.autocommit:
                conn.commit()
