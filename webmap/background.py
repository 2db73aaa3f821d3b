"""Work a web worker does between requests: folding the statistics queue into the rollup (migration 0013).

Reports only queue their figures; stats_fold() moves the queue into the rollup. The dashboard folds before
it reads, so its figures are always whole; this thread keeps the queue short in between, so that neither a
dashboard after a quiet night nor a report ever waits for thousands of queued rows. Every worker runs one;
stats_fold(false) lets one of them fold at a time and the others skip their turn.

Started by gunicorn's post_worker_init hook (webmap/gunicorn_conf.py), so `make run` and the benchmarks
run it and the tests' in-process apps do not. STATS_FOLD_SECONDS (default 10; 0: never) is the interval.
"""
from __future__ import annotations

import logging
import os
import random
import threading

import psycopg
import psycopg_pool
from flask import Flask

from webmap import db

log = logging.getLogger(__name__)

DEFAULT_SECONDS = 10.0


class StatsFolder(threading.Thread):
    """A daemon thread folding the statistics queue every `seconds` (with jitter, so workers take turns)."""

    def __init__(self, app: Flask, seconds: float):
        super().__init__(name="stats-folder", daemon=True)
        self.app = app
        self.seconds = seconds
        self.folded = 0
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.wait(self.seconds * random.uniform(0.75, 1.25)):
            self.fold_once()

    def fold_once(self) -> int:
        """One try; returns how many queued changes it folded (0 when another worker was folding)."""
        try:
            with self.app.app_context(), db.get_conn() as conn:
                conn.autocommit = True
                try:
                    done = int(conn.execute("SELECT stats_fold(false)").fetchone()[0])
                finally:
                    conn.autocommit = False
        except (psycopg.Error, psycopg_pool.PoolTimeout):
            log.warning("could not fold the statistics queue; the next try or the next dashboard will",
                        exc_info=True)
            return 0
        self.folded += done
        if done:
            log.debug("folded %s queued statistics change(s)", done)
        return done

    def stop(self) -> None:
        self._stopping.set()


def start(app: Flask) -> StatsFolder | None:
    """Start the folder for this worker's app, unless STATS_FOLD_SECONDS is 0."""
    seconds = float(app.config.get("STATS_FOLD_SECONDS", os.environ.get("STATS_FOLD_SECONDS", DEFAULT_SECONDS)))
    if seconds <= 0:
        return None
    folder = StatsFolder(app, seconds)
    folder.start()
    return folder
