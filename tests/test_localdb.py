"""The embedded cluster: concurrent starts, status and url commands, and a useful error when it cannot start."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from geodata import config, localdb

pytestmark = pytest.mark.skipif(bool(config.database_url()), reason="DATABASE_URL replaces the embedded cluster")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "geodata.localdb", *args], env=env, capture_output=True, text=True,
                          cwd=config.PROJECT_ROOT, timeout=120)


@pytest.fixture
def private_cluster():
    """Environment for a throw-away cluster of its own under var/, on a free port; removed afterwards."""
    # Under var/ rather than /tmp: as root the cluster runs as postgres, which cannot enter pytest's 0700 tmp dirs.
    var = config.PROJECT_ROOT / "var" / f"test-localdb-{os.getpid()}"
    env = {**os.environ, "WEBMAP_VAR_DIR": str(var), "LOCALDB_PORT": str(_free_port())}
    env.pop("DATABASE_URL", None)
    yield env
    _cli(env, "stop")
    shutil.rmtree(var, ignore_errors=True)


def test_two_processes_starting_at_once_share_one_cluster(private_cluster):
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: _cli(private_cluster, "start"), range(2)))
    for res in results:
        assert res.returncode == 0, res.stderr
    status = _cli(private_cluster, "status")
    assert status.returncode == 0 and status.stdout.startswith("running")
    url = _cli(private_cluster, "url").stdout.strip()
    assert f":{private_cluster['LOCALDB_PORT']}/" in url
    with psycopg.connect(url) as conn:
        # PostGIS is installed with the server, and the app database exists.
        assert conn.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'").fetchone()[0] == 1
        assert conn.info.dbname == config.localdb_name()
    assert _cli(private_cluster, "stop").stdout.strip() == "stopped"
    stopped = _cli(private_cluster, "status")
    assert stopped.returncode == 3 and stopped.stdout.startswith("stopped")
    # A second start reuses the initialised cluster (and its password).
    assert _cli(private_cluster, "start").returncode == 0
    assert _cli(private_cluster, "url").stdout.strip() == url


def test_port_taken_gives_a_useful_error(private_cluster):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", int(private_cluster["LOCALDB_PORT"])))
        blocker.listen()
        res = _cli(private_cluster, "start", "--timeout", "15")
    assert res.returncode == 1
    assert "error:" in res.stderr and "LOCALDB_PORT" in res.stderr
    assert "Traceback" not in res.stderr


def test_the_server_never_runs_as_root(database_url):
    cluster = localdb.cluster()
    with psycopg.connect(cluster.url("postgres")) as conn:
        data_dir = conn.execute("SHOW data_directory").fetchone()[0]
    owner = os.stat(data_dir).st_uid
    if os.geteuid() == 0:
        assert owner != 0
    assert os.path.samefile(data_dir, cluster.data_dir)
