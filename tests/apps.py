"""The app on the test database, for the `app` fixtures of test modules (imported as `from apps import app_for`:
a module of its own, since pytest imports every conftest.py under the one name "conftest")."""
from __future__ import annotations

import contextlib


@contextlib.contextmanager
def app_for(database_url: str, **settings):
    """The app on the test database (TESTING, SECRET_KEY "test", and these settings); its pool closed after.

    For a module's own `app` fixture, whatever its scope: `with app_for(database_url, X=1) as app: yield app`.
    """
    from webmap import create_app
    from webmap import db as webdb

    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test", **settings})
    try:
        yield app
    finally:
        webdb.close_pool(app)
