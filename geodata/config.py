"""Settings read from environment variables, each with a documented default."""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def var_dir() -> Path:
    """Where the embedded cluster and other run-time state live (WEBMAP_VAR_DIR, default ./var)."""
    return Path(os.environ.get("WEBMAP_VAR_DIR", PROJECT_ROOT / "var")).resolve()


def localdb_port() -> int:
    """TCP port of the embedded cluster on 127.0.0.1 (LOCALDB_PORT, default 54329)."""
    return int(os.environ.get("LOCALDB_PORT", "54329"))


def localdb_name() -> str:
    """Database the app uses inside the embedded cluster (LOCALDB_NAME, default webmap)."""
    return os.environ.get("LOCALDB_NAME", "webmap")


def database_url() -> str | None:
    """An external PostGIS that replaces the embedded cluster entirely (DATABASE_URL)."""
    return os.environ.get("DATABASE_URL") or None


def pool_max_size() -> int:
    """Connections per process in the psycopg pool (DB_POOL_MAX, default 8)."""
    return int(os.environ.get("DB_POOL_MAX", "8"))
