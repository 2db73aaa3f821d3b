"""The embedded PostgreSQL + PostGIS cluster under var/, run with the machine's own binaries."""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import glob
import hashlib
import logging
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from geodata import config

log = logging.getLogger(__name__)

SERVICE_USER = "postgres"
SUPERUSER = "postgres"


class LocalDBError(RuntimeError):
    """The embedded cluster could not be set up, started or reached."""


def _is_root() -> bool:
    return os.geteuid() == 0


def bindir() -> Path:
    """The directory holding initdb and pg_ctl: pg_config --bindir, else the newest /usr/lib/postgresql/*/bin."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(Path(p) for p in versions)
    for c in candidates:
        if (c / "initdb").exists() and (c / "pg_ctl").exists():
            return c
    raise LocalDBError(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found. On Debian/Ubuntu install them with:\n"
        "  sudo apt-get install -y postgresql postgresql-15-postgis-3\n"
        "or point DATABASE_URL at an existing PostGIS."
    )


def _as_service_user(args: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root, so root hands the cluster to the postgres system user.
    if _is_root():
        return ["runuser", "-u", SERVICE_USER, "--", *args]
    return args


def _service_user_can_write(path: Path) -> bool:
    if not _is_root():
        return True
    probe = subprocess.run(["runuser", "-u", SERVICE_USER, "--", "test", "-w", str(path)])
    return probe.returncode == 0


@dataclass(frozen=True)
class Cluster:
    """Paths and port of one embedded cluster."""

    base: Path
    port: int

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base / "run"

    @property
    def log_file(self) -> Path:
        return self.base / "server.log"

    @property
    def password_file(self) -> Path:
        return self.base / "superuser.pw"

    @property
    def lock_file(self) -> Path:
        return self.base.parent / (self.base.name + ".lock")

    def password(self) -> str:
        try:
            return self.password_file.read_text().strip()
        except FileNotFoundError:
            raise LocalDBError(f"the embedded cluster at {self.base} is not initialised; run: python -m geodata.localdb start") from None

    def url(self, dbname: str | None = None) -> str:
        """A libpq URL for a database in this cluster."""
        return f"postgresql://{SUPERUSER}:{self.password()}@127.0.0.1:{self.port}/{dbname or config.localdb_name()}"

    def is_initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists() and self.password_file.exists()

    def is_running(self) -> bool:
        if not self.is_initialised():
            return False
        res = subprocess.run(
            _as_service_user([str(bindir() / "pg_ctl"), "status", "-D", str(self.data_dir)]),
            capture_output=True,
            text=True,
        )
        return res.returncode == 0

    def start(self, timeout: float = 60.0) -> str:
        """Initialise if needed and start; safe when several processes call it at once. Returns the app URL."""
        self.base.parent.mkdir(parents=True, exist_ok=True)
        with _locked(self.lock_file):
            if not self.is_initialised():
                self._initdb()
            if not self.is_running():
                self._start_server(timeout)
            self.ensure_database(config.localdb_name())
        return self.url()

    def stop(self) -> bool:
        """Stop the server if it runs; True when it was running."""
        with _locked(self.lock_file):
            if not self.is_running():
                return False
            res = subprocess.run(
                _as_service_user([str(bindir() / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w"]),
                capture_output=True,
                text=True,
            )
            if res.returncode != 0:
                raise LocalDBError(f"pg_ctl stop failed: {res.stderr.strip() or res.stdout.strip()}")
            return True

    def ensure_database(self, dbname: str) -> None:
        """Create the database if it does not exist yet."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
            if not exists:
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                    conn.execute(sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(sql.Identifier(dbname)))

    def _initdb(self) -> None:
        log.info("initialising the embedded PostgreSQL cluster in %s", self.base)
        self.base.mkdir(parents=True, exist_ok=True)
        staging = self.base / "data.init"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)
        staging.mkdir()
        self.socket_dir.mkdir(exist_ok=True)
        password = secrets.token_urlsafe(24)
        pwfile = self.base / "initdb.pw"
        pwfile.write_text(password + "\n")
        try:
            if _is_root():
                shutil.chown(self.base, SERVICE_USER, SERVICE_USER)
                for p in (staging, self.socket_dir, pwfile):
                    shutil.chown(p, SERVICE_USER, SERVICE_USER)
            os.chmod(pwfile, 0o600)
            res = subprocess.run(
                _as_service_user([
                    str(bindir() / "initdb"), "-D", str(staging), "-U", SUPERUSER,
                    f"--pwfile={pwfile}", "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C",
                ]),
                capture_output=True,
                text=True,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if res.returncode != 0:
            raise LocalDBError(f"initdb failed:\n{res.stderr.strip() or res.stdout.strip()}")
        with open(staging / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(
                "\n# Embedded cluster of the community issue map: loopback only.\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                "max_connections = 200\n"
                "work_mem = 16MB\n"
                "maintenance_work_mem = 256MB\n"
                "jit = off\n"
            )
        # The password file is written last: its presence marks a complete initialisation.
        staging.rename(self.data_dir)
        self.password_file.write_text(password + "\n")
        os.chmod(self.password_file, 0o600)
        if _is_root():
            os.chown(self.password_file, 0, 0)

    def _start_server(self, timeout: float) -> None:
        log.info("starting the embedded PostgreSQL cluster on port %s", self.port)
        options = " ".join([f"-p {self.port} -k {self.socket_dir}",
                            *(f"-c {name}={value}" for name, value in server_settings().items())])
        cmd = _as_service_user([
            str(bindir() / "pg_ctl"), "start", "-D", str(self.data_dir), "-l", str(self.log_file),
            "-w", "-t", str(int(timeout)), "-o", options,
        ])
        if _is_root() and not self.log_file.exists():
            self.log_file.touch()
            shutil.chown(self.log_file, SERVICE_USER, SERVICE_USER)
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise LocalDBError(
                f"the embedded PostgreSQL did not become ready within {timeout:.0f} s on port {self.port} "
                f"(is another server using that port? set LOCALDB_PORT).\n"
                f"pg_ctl said: {res.stderr.strip() or res.stdout.strip()}\n"
                f"last lines of {self.log_file}:\n{_tail(self.log_file)}"
            )
        _wait_ready(self, timeout)


def server_settings() -> dict[str, str]:
    """Settings the embedded server starts with, over its postgresql.conf (so clusters made earlier get them too).

    A service whose every report is a write (docs/decisions.md, "The embedded server's settings"): shared
    buffers of a quarter of the memory (the usual advice), within 128 MB .. 2 GB, so the indexes of a
    million issues stay in them; checkpoints at most every 15 minutes or 4 GB of WAL, so that fewer writes
    carry a whole page image after a checkpoint. Durability is untouched (fsync, synchronous_commit).
    """
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        memory = 1 << 30
    buffers_mb = max(128, min(2048, memory // 4 // (1 << 20)))
    return {"shared_buffers": f"{buffers_mb}MB", "max_wal_size": "4GB", "checkpoint_timeout": "15min"}


def _wait_ready(cluster: Cluster, timeout: float) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(cluster.url("postgres"), connect_timeout=5):
                return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise LocalDBError(f"the embedded PostgreSQL is not accepting connections: {exc}") from exc
            time.sleep(0.2)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextlib.contextmanager
def _locked(path: Path):
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def cluster() -> Cluster:
    """The project's cluster: var/pg, or a folder under /var/tmp when the postgres user cannot reach var/."""
    base = config.var_dir() / "pg"
    if _is_root():
        base.mkdir(parents=True, exist_ok=True)
        if not (base / "data").exists():
            shutil.chown(base, SERVICE_USER, SERVICE_USER)
        if not _service_user_can_write(base):
            # A checkout inside a private (0700) folder cannot be entered by the postgres user.
            digest = hashlib.sha1(str(base).encode()).hexdigest()[:12]
            fallback = Path("/var/tmp") / f"webmap-pg-{digest}"
            log.warning("the postgres user cannot write %s; using %s for the cluster", base, fallback)
            base = fallback
    return Cluster(base=base, port=config.localdb_port())


def main(argv: list[str] | None = None) -> int:
    """python -m geodata.localdb start|stop|status|url"""
    parser = argparse.ArgumentParser(prog="python -m geodata.localdb", description=__doc__)
    parser.add_argument("command", choices=["start", "stop", "status", "url"])
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the server to accept connections")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if config.database_url() and args.command != "url":
        print("DATABASE_URL is set: the embedded cluster is not used.", file=sys.stderr)
    c = cluster()
    try:
        if args.command == "start":
            c.start(args.timeout)
            print(f"embedded PostGIS running on 127.0.0.1:{c.port} (data in {c.data_dir})")
        elif args.command == "stop":
            print("stopped" if c.stop() else "not running")
        elif args.command == "status":
            running = c.is_running()
            print(f"{'running' if running else 'stopped'}: port {c.port}, data in {c.data_dir}")
            return 0 if running else 3
        else:
            print(config.database_url() or c.url())
    except LocalDBError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
