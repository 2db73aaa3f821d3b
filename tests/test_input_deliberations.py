"""Bad input to deliberations found by an audit: ids beyond bigint or in Unicode digits, dates near the ends of
the calendar, control characters; each is a 400 (JSON) or a form problem, never a 500, and nothing is stored."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

import helpers
from geodata import accounts, deliberations as dl
from geodata.validation import ValidationError
from issues_world import IN_BIG, world  # noqa: F401
from test_deliberations_web import _iso, app, site  # noqa: F401

pytestmark = pytest.mark.usefixtures("leave_no_people_behind")

# What people type into a number field, or send by hand instead of the page's values.
BAD_NUMBERS = ["²", "٣", "9" * 10000, "9" * 30, "abc", "1.5", "-1", "0"]
TOO_EARLY = "0001-01-01T00:00:00+14:00"
TOO_LATE = "9999-12-31T23:59:59-14:00"


@pytest.fixture
def input_site(site):
    """test_deliberations_web's site, with a plain body and the new-deliberation form as the page sends it."""
    w = site
    now = datetime.now(timezone.utc)
    w.body = {**w.body, "title": "Parking", "options": ["Marked bays", "No cars after 22:00"],
              "meeting_at": _iso(now + timedelta(days=3)), "votes_open_at": _iso(now - timedelta(minutes=5)),
              "votes_close_at": _iso(now + timedelta(days=2))}
    w.body.pop("address", None)
    w.form = {"area_id": str(w.big), "title": "Corner", "options": "Garden\nBenches\n",
              "issue_ids": [str(w.issue_a)], "lat": str(IN_BIG[1]), "lon": str(IN_BIG[0]), "address": "Gate 3",
              "meeting_at": "2031-05-01T19:00", "votes_open_at": "2031-04-20T08:00",
              "votes_close_at": "2031-05-01T19:00"}
    return w


def _count(w) -> int:
    return w.conn.execute("SELECT count(*) FROM deliberations").fetchone()[0]


def _opened(w) -> dict:
    resp = w.app.test_client().post("/api/deliberations", json=w.body, headers=w.headers["sw"])
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()


def _post(client, url, body, headers):
    """A JSON POST escaped to ASCII, so that half a surrogate pair travels as the text "\\ud800"."""
    return client.post(url, data=json.dumps(body), content_type="application/json", headers=headers)


def _named(bad: str, name: str) -> tuple:
    """The field a refusal names: half a surrogate pair is refused for the whole body, before the fields."""
    return ("body",) if "\ud800" in bad else (name,)


def _invalid(resp, *fields):
    assert resp.status_code == 400, resp.get_data(as_text=True)[:500]
    error = resp.get_json()["error"]
    assert error["code"] == "invalid_request" and set(fields) <= set(error["fields"]), error
    return error


# ---------------------------------------------------------------- ids


def test_api_list_refuses_area_ids_beyond_bigint(input_site):
    client = input_site.app.test_client()
    for area in ("1" * 30, "²", "9" * 10000):
        _invalid(client.get("/api/deliberations", query_string={"area": area}), "area")


def test_list_deliberations_refuses_ids_beyond_bigint(input_site):
    with pytest.raises(ValidationError) as caught:
        dl.list_deliberations(input_site.conn, [10**30])
    assert "area" in caught.value.fields


def test_open_form_refuses_ids_that_are_not_ids(input_site):
    w = input_site
    client = w.app.test_client()
    csrf = helpers.login(client, "dl-sw")
    before = _count(w)
    for value in BAD_NUMBERS + [" "]:
        for changes in ({"area_id": value}, {"issue_ids": [str(w.issue_a), value]}):
            resp = client.post("/deliberations?lang=en", data={**w.form, **changes, "csrf_token": csrf})
            assert resp.status_code == 400, (changes, resp.status_code)
            name = next(iter(changes))
            assert f'id="{name}-problem"' in resp.get_data(as_text=True), changes
    assert _count(w) == before


def test_vote_form_refuses_option_ids_that_are_not_ids(input_site):
    w = input_site
    d = _opened(w)
    client = w.app.test_client()
    csrf = helpers.login(client, "dl-res")
    for value in BAD_NUMBERS + [" ", ""]:
        resp = client.post(f"/deliberations/{d['id']}/vote?lang=en", data={"option_id": value, "csrf_token": csrf})
        assert resp.status_code == 400, (value[:20], resp.status_code)
        assert "That is not one of the choices." in resp.get_data(as_text=True)
    assert w.conn.execute("SELECT count(*) FROM deliberation_votes").fetchone()[0] == 0


def test_record_form_refuses_numbers_that_are_not_numbers(input_site):
    w = input_site
    d = _opened(w)
    client = w.app.test_client()
    csrf = helpers.login(client, "dl-sw")
    page = f"/deliberations/{d['id']}/record?lang=en"
    record = {"csrf_token": csrf, "attendance": "12", "action1_description": "Dig", "action1_party": str(w.party),
              "action1_due": "2031-06-01"}
    for value in ["²", "٣", "9" * 10000, "9" * 30, "abc", "1.5", " "]:
        resp = client.post(page, data={**record, "attendance": value})
        assert resp.status_code == 400, ("attendance", value[:20], resp.status_code)
        assert 'id="attendance-problem"' in resp.get_data(as_text=True)
    for value in BAD_NUMBERS + [" "]:
        resp = client.post(page, data={**record, "action1_party": value})
        assert resp.status_code == 400, ("party", value[:20], resp.status_code)
        assert 'id="actions-1-problem"' in resp.get_data(as_text=True)
    assert w.conn.execute("SELECT status FROM deliberations WHERE id = %s", (d["id"],)).fetchone()[0] == "open"


# ---------------------------------------------------------------- dates


@pytest.mark.parametrize("name", ["meeting_at", "votes_open_at", "votes_close_at"])
def test_api_open_refuses_dates_outside_the_years(input_site, name):
    w = input_site
    client = w.app.test_client()
    before = _count(w)
    for value in (TOO_EARLY, TOO_LATE, "1899-12-31T12:00:00Z", "3000-01-01T00:00:00Z"):
        error = _invalid(client.post("/api/deliberations", json={**w.body, name: value}, headers=w.headers["sw"]),
                         name)
        assert error["fields"][name] == "must be a date between 1900 and 2999"
    assert _count(w) == before


def test_open_refuses_datetimes_outside_the_years(input_site):
    w = input_site
    actor = accounts.actor_for(w.conn, accounts.load_user(w.conn, w.ids["sw"]))
    for value in (datetime(1, 1, 1), datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
                  datetime(9999, 12, 31, 23, 59, tzinfo=timezone.utc)):
        with pytest.raises(ValidationError) as caught:
            dl.open_deliberation(w.conn, actor, {**w.body, "votes_close_at": value})
        assert caught.value.fields == {"votes_close_at": "must be a date between 1900 and 2999"}


def test_open_form_refuses_dates_outside_the_years(input_site):
    w = input_site
    client = w.app.test_client()
    csrf = helpers.login(client, "dl-sw")
    before = _count(w)
    for name in ("meeting_at", "votes_open_at", "votes_close_at"):
        for value in ("0001-01-01T00:00", "0001-01-01T00:00+14:00", "9999-12-31T23:59", TOO_LATE,
                      "1899-12-31T12:00"):
            resp = client.post("/deliberations?lang=en", data={**w.form, name: value, "csrf_token": csrf})
            assert resp.status_code == 400, (name, value, resp.status_code)
            text = resp.get_data(as_text=True)
            assert f'id="{name}-problem"' in text and "must be a date between 1900 and 2999" in text, (name, value)
    assert _count(w) == before


def test_pages_survive_a_date_beyond_year_9999_stored_earlier(input_site):
    w = input_site
    d = _opened(w)
    # Stored by the code before the bounded reader; such rows may remain in a database.
    w.conn.execute("UPDATE deliberations SET votes_close_at = '10000-01-01T13:59:59Z' WHERE id = %s", (d["id"],))
    client = w.app.test_client()
    assert client.get("/deliberations?lang=en").status_code == 200
    assert client.get(f"/deliberations/{d['id']}?lang=en").status_code == 200
    helpers.login(client, "dl-sw")
    assert client.get("/deliberations?lang=en").status_code == 200


def test_record_refuses_due_dates_outside_the_years(input_site):
    w = input_site
    d = _opened(w)
    client = w.app.test_client()
    for due in ("0001-01-01", "9999-12-31", "٢٠٣١-٠١-٠١", "2031-02-30"):
        record = {"attendance": 3, "actions": [{"description": "Dig", "party_id": w.party, "due_on": due}]}
        _invalid(client.post(f"/api/deliberations/{d['id']}/record", json=record, headers=w.headers["sw"]),
                 "actions[1]")
    assert w.conn.execute("SELECT status FROM deliberations WHERE id = %s", (d["id"],)).fetchone()[0] == "open"


# ---------------------------------------------------------------- text


def test_control_characters_and_lone_surrogates_are_refused(input_site):
    w = input_site
    client = w.app.test_client()
    sw = w.headers["sw"]
    before = _count(w)
    for bad in ("a\x00b", "a\x1bb", "a\ud800b"):
        for name in ("title", "description", "address"):
            _invalid(_post(client, "/api/deliberations", {**w.body, name: bad}, headers=sw), *_named(bad, name))
        _invalid(_post(client, "/api/deliberations", {**w.body, "options": [bad, "Other"]}, headers=sw),
                 *_named(bad, "options"))
    assert _count(w) == before
    d = _opened(w)
    base = f"/api/deliberations/{d['id']}"
    for bad in ("a\x00b", "a\ud800b"):
        _invalid(_post(client, base + "/comments", {"body": bad}, headers=w.headers["resident"]), "body")
        for name in ("minutes", "decision"):
            _invalid(_post(client, base + "/record", {"attendance": 1, name: bad}, headers=sw), *_named(bad, name))
        action = {"description": bad, "party_id": w.party, "due_on": "2031-06-01"}
        _invalid(_post(client, base + "/record", {"attendance": 1, "actions": [action]}, headers=sw),
                 *_named(bad, "actions[1]"))
    # The same through the forms.
    csrf = helpers.login(client, "dl-sw")
    for name in ("title", "description", "address"):
        resp = client.post("/deliberations?lang=en", data={**w.form, name: "a\x00b", "csrf_token": csrf})
        assert resp.status_code == 400 and f'id="{name}-problem"' in resp.get_data(as_text=True), name
    resp = client.post(f"/deliberations/{d['id']}/record?lang=en",
                       data={"csrf_token": csrf, "attendance": "3", "minutes": "a\x00b"})
    assert resp.status_code == 400 and 'id="minutes-problem"' in resp.get_data(as_text=True)
    resp = client.post(f"/deliberations/{d['id']}/comment?lang=en", data={"csrf_token": csrf, "body": "a\x00b"})
    assert resp.status_code == 400
    assert _count(w) == before + 1
    assert w.conn.execute("SELECT status FROM deliberations WHERE id = %s", (d["id"],)).fetchone()[0] == "open"
