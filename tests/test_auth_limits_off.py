"""Signing in still works when rate limiting is switched off (RATELIMIT_ENABLED=False sets up no storage)."""
from __future__ import annotations

import helpers
from apps import app_for


def test_sign_in_and_wrong_password_without_rate_limits(conn, database_url):
    user_id = helpers.make_user(conn, "resident", username="nolimits")
    with app_for(database_url, RATELIMIT_ENABLED=False) as app:
        client = app.test_client()
        token = helpers.csrf_token(client)
        wrong = client.post("/login", data={"username": "nolimits", "password": "not it", "csrf_token": token})
        assert wrong.status_code == 401
        helpers.login(client, "nolimits")
        me = client.get("/api/me")
        assert me.status_code == 200 and me.get_json()["user"]["id"] == user_id
