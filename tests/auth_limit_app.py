"""The app as gunicorn serves it, plus a test-only route under the report limit, and the worker's pid on
every answer so that a test can see which process served it. Only tests/test_auth_limits.py runs this."""
from __future__ import annotations

import os
import time

from flask import jsonify

from webmap import create_app
from webmap.auth import limit_reports

app = create_app()


@app.post("/api/_test/report")
@limit_reports
def _report():
    # Slow enough that one worker cannot serve a burst alone: the burst must spread over both.
    time.sleep(0.3)
    return jsonify(pid=os.getpid()), 201


@app.after_request
def _worker_pid(resp):
    resp.headers["X-Worker-Pid"] = str(os.getpid())
    return resp
