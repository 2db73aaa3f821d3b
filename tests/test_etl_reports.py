"""python -m etl reports: historical reports from CSV and Open311 JSON into issues, against a real PostGIS."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from etl import __main__ as cli
from etl import reports
from geodata import chinacrs
from issues_world import IN_BIG, IN_FAR, IN_SMALL, OUTSIDE, world  # noqa: F401

HEADER = "external_id,category,description,title,lat,lon,created_at,status,resolved_at,closed_at,contact\n"
BEIJING = timezone(timedelta(hours=8))


def _csv(tmp_path: Path, *rows: str, header: str = HEADER, name: str = "reports.csv") -> Path:
    path = tmp_path / name
    path.write_text(header + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def _load(conn, path: Path, **kwargs) -> reports.ImportReport:
    return reports.load(conn, reports.Options(path=path, **kwargs))


def _issue(conn, external_id: str) -> dict:
    cur = conn.execute(
        "SELECT i.*, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat FROM issues i"
        " WHERE source = 'import' AND external_id = %s", (external_id,))
    names = [d.name for d in cur.description]
    row = cur.fetchone()
    return dict(zip(names, row)) if row else None


def _events(conn, issue_id: int) -> list[tuple]:
    return conn.execute("SELECT kind, at, from_status, to_status, note, actor_label FROM issue_events"
                        " WHERE issue_id = %s ORDER BY id", (issue_id,)).fetchall()


def _counts(conn) -> tuple[int, int]:
    return tuple(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("issues", "issue_events"))


GOOD = [
    f"A-1,litter,Rubbish by gate 3,,{IN_BIG[1]},{IN_BIG[0]},2024-03-01T08:00:00+08:00,,,,13800000000",
    f"A-2,street_light,Lamp out,Dark corner,{IN_SMALL[1]},{IN_SMALL[0]},2024-03-02 09:30,closed,"
    f"2024-03-04 10:00,2024-03-05 11:00,",
    f"A-3,noise,Karaoke at night,,{IN_FAR[1]},{IN_FAR[0]},2024-03-03,rejected,,2024-03-03T12:00:00Z,",
    f"A-4,drain,Blocked drain,,{IN_BIG[1]},{IN_BIG[0]},2024-03-04T08:00:00Z,resolved,2024-03-06T08:00:00Z,,",
    f"A-5,垃圾堆放,Named in Chinese,,{IN_BIG[1]},{IN_BIG[0]},2024-03-05T08:00:00Z,open,,,",
    f"A-6,Broken street light,Named in English,,{IN_BIG[1]},{IN_BIG[0]},2024-03-06T08:00:00Z,,,2024-03-07T08:00:00Z,",
]


def test_csv_import_writes_issues_and_history(world, tmp_path):
    conn = world.conn
    before = _counts(conn)
    report = _load(conn, _csv(tmp_path, *GOOD))
    assert (report.read, report.imported, report.already, report.rejected) == (6, 6, 0, 0)
    assert report.by_status == {"reported": 2, "closed": 2, "rejected": 1, "resolved": 1}
    # One 'created' event each, plus one transition for each of the four that arrive in a later state.
    assert report.events == 10
    assert _counts(conn) == (before[0] + 6, before[1] + 10)

    a1 = _issue(conn, "A-1")
    assert a1["area_id"] == world.big and a1["status"] == "reported" and a1["version"] == 1
    assert a1["created_at"] == datetime(2024, 3, 1, 8, tzinfo=BEIJING)
    assert a1["due_at"] - a1["created_at"] == timedelta(days=2)
    assert a1["title"] == "垃圾堆放: Rubbish by gate 3" and a1["reporter_contact"] == "13800000000"
    assert (a1["lon"], a1["lat"]) == IN_BIG
    assert _events(conn, a1["id"]) == [("created", a1["created_at"], None, "reported", None, "import")]

    # The smallest community; date-times without an offset are in Asia/Shanghai (the default zone).
    a2 = _issue(conn, "A-2")
    assert a2["area_id"] == world.small and a2["title"] == "Dark corner"
    assert a2["created_at"] == datetime(2024, 3, 2, 9, 30, tzinfo=BEIJING)
    assert a2["resolved_at"] == datetime(2024, 3, 4, 10, tzinfo=BEIJING)
    assert a2["closed_at"] == a2["updated_at"] == datetime(2024, 3, 5, 11, tzinfo=BEIJING)
    assert a2["due_at"] - a2["created_at"] == timedelta(days=5) and a2["version"] == 2
    assert [e[:4] for e in _events(conn, a2["id"])] == [
        ("created", a2["created_at"], None, "reported"), ("transition", a2["closed_at"], "reported", "closed")]

    a3 = _issue(conn, "A-3")
    assert a3["status"] == "rejected" and a3["resolved_at"] is None and a3["area_id"] == world.far
    assert a3["closed_at"] == datetime(2024, 3, 3, 12, tzinfo=timezone.utc)
    a4 = _issue(conn, "A-4")
    assert a4["status"] == "resolved" and a4["closed_at"] is None
    assert _events(conn, a4["id"])[1][:4] == ("transition", a4["resolved_at"], "reported", "resolved")
    # Categories by their Chinese or English names; no status but a closed_at means closed.
    assert _issue(conn, "A-5")["category"] == "litter" and _issue(conn, "A-5")["status"] == "reported"
    a6 = _issue(conn, "A-6")
    assert a6["category"] == "street_light" and a6["status"] == "closed" and a6["resolved_at"] == a6["closed_at"]
    # The history of imports is what issues.get shows: the core reads it back.
    from geodata import issues

    history = issues.get(conn, a2["id"])["properties"]["history"]
    assert [h["kind"] for h in history] == ["created", "transition"]


def test_rerun_adds_nothing_and_says_so(world, tmp_path):
    path = _csv(tmp_path, *GOOD)
    _load(world.conn, path)
    before = _counts(world.conn)
    again = _load(world.conn, path)
    assert (again.read, again.imported, again.already, again.rejected) == (6, 0, 6, 0)
    assert _counts(world.conn) == before
    assert "nothing new: 6 report(s) of this file were imported before" in reports.format_report(again)
    # A file that adds one new report to the old ones imports just that one.
    more = _load(world.conn, _csv(tmp_path, *GOOD, GOOD[0].replace("A-1", "A-7"), name="more.csv"))
    assert (more.imported, more.already) == (1, 6)


BAD = [
    (f"B-1,pothole,Hole,,{IN_BIG[1]},{IN_BIG[0]},2024-03-01T08:00:00Z,,,,", "unknown category: pothole"),
    (f"B-2,litter,Hole,,abc,{IN_BIG[0]},2024-03-01T08:00:00Z,,,,", "bad coordinates: lat abc is not a number"),
    (f"B-3,litter,Hole,,{IN_BIG[1]},NaN,2024-03-01T08:00:00Z,,,,", "bad coordinates: lon NaN is not a number"),
    (f"B-4,litter,Hole,,95,{IN_BIG[0]},2024-03-01T08:00:00Z,,,,", "bad coordinates: lat 95, lon 116.31 out of range"),
    (f"B-5,litter,Hole,,{OUTSIDE[1]},{OUTSIDE[0]},2024-03-01T08:00:00Z,,,,",
     f"outside every community: lat {OUTSIDE[1]}, lon {OUTSIDE[0]}"),
    (f"B-6,litter,Hole,,{IN_BIG[0]},{IN_BIG[1]},2024-03-01T08:00:00Z,,,,", "(lat and lon swapped?)"),
    (f"B-7,litter,Hole,,{IN_BIG[1]},{IN_BIG[0]},2024-02-30T08:00:00Z,,,,",
     "bad date: created_at 2024-02-30T08:00:00Z is not a date-time"),
    (f"B-8,litter,Hole,,{IN_BIG[1]},{IN_BIG[0]},yesterday,,,,", "bad date: created_at yesterday is not a date-time"),
    (f"B-9,litter,Hole,,{IN_BIG[1]},{IN_BIG[0]},2999-01-01T00:00:00Z,,,,", "bad date: created_at is in the future"),
    (f"B-10,litter,Hole,,{IN_BIG[1]},{IN_BIG[0]},2024-03-05,closed,,2024-03-01,",
     "bad date: closed_at is before created_at"),
    (f"B-11,litter,Hole,,{IN_BIG[1]},{IN_BIG[0]},2024-03-01,closed,,,", "status: a closed report needs closed_at"),
    (f"B-12,litter,Hole,,{IN_BIG[1]},{IN_BIG[0]},2024-03-01,duplicate,,2024-03-02,", "status: duplicate cannot"),
    (f"B-13,litter,,,{IN_BIG[1]},{IN_BIG[0]},2024-03-01,,,,", "description: is empty"),
    (f",litter,Hole,,{IN_BIG[1]},{IN_BIG[0]},2024-03-01,,,,", "external_id: is empty"),
    (f"A-1,litter,Again,,{IN_BIG[1]},{IN_BIG[0]},2024-03-01,,,,", "external_id: A-1 repeats row 1"),
    (f"B-16,litter,Hole,,{IN_BIG[1]},{IN_BIG[0]},2024-03-01T25:00:00Z,,,,", "is not a date-time"),
    (f"B-17,litter,Hole,,{IN_BIG[1]},{IN_BIG[0]},2024-03-01T08:00:00+19:00,,,,", "is not a date-time"),
    (f"B-18,litter,Hole,,{IN_BIG[1]},{IN_BIG[0]},0000-01-01,,,,", "is not a date-time"),
    (f"B-19,litter,Hole,,{IN_BIG[1]},{IN_BIG[0]},2024-03-01,,,,{'x' * 201}", "contact: longer than 200"),
    (f"B-20,litter,Hole,,{IN_BIG[1]},1e999,2024-03-01,,,,", "bad coordinates: lon 1e999 is not a number"),
]


def test_bad_rows_are_reported_with_row_numbers_and_reasons_and_the_rest_imported(world, tmp_path):
    rows = [GOOD[0]] + [row for row, _ in BAD] + [GOOD[1]]
    before = _counts(world.conn)
    report = _load(world.conn, _csv(tmp_path, *rows))
    assert (report.read, report.imported, report.rejected) == (len(rows), 2, len(BAD))
    assert _counts(world.conn)[0] == before[0] + 2
    by_row = {r.row: r for r in report.rejections}
    assert sorted(by_row) == list(range(2, len(BAD) + 2))
    for k, (row, reason) in enumerate(BAD, start=2):
        assert any(reason in r for r in by_row[k].reasons), (k, by_row[k].reasons)
    # Several problems in one row are all named.
    many = _load(world.conn, _csv(tmp_path, f"C-1,pothole,,,abc,1,tomorrow,,,,", name="many.csv"))
    [rej] = many.rejections
    assert [r.split(":")[0] for r in rej.reasons] == ["unknown category", "description", "bad coordinates", "bad date"]
    text = reports.format_report(report)
    assert f"row 2 [B-1]: rejected: unknown category: pothole" in text
    assert "rejected: bad date" in text and "rejected: outside every community" in text
    out = tmp_path / "rejects.csv"
    reports.write_rejections(report, out)
    assert out.read_text(encoding="utf-8").splitlines()[1].startswith("2,B-1,unknown category: pothole")


def test_timezone_option_and_extra_columns(world, tmp_path):
    header = "ID_IGNORED,external_id,category,description,lat,lon,created_at,remarks\n"
    path = _csv(tmp_path, f"9,T-1,litter,x,{IN_BIG[1]},{IN_BIG[0]},2024-03-01 08:00,whatever", header=header)
    report = _load(world.conn, path, timezone="UTC")
    assert report.imported == 1 and "columns not imported: ID_IGNORED, remarks" in report.warnings
    assert _issue(world.conn, "T-1")["created_at"] == datetime(2024, 3, 1, 8, tzinfo=timezone.utc)


def test_gcj02_coordinates_are_converted(world, tmp_path):
    glon, glat = chinacrs.wgs84_to_gcj02(IN_SMALL[0], IN_SMALL[1])
    _load(world.conn, _csv(tmp_path, f"G-1,litter,x,,{glat!r},{glon!r},2024-03-01,,,,"), crs="gcj02")
    issue = _issue(world.conn, "G-1")
    assert issue["area_id"] == world.small
    assert abs(issue["lon"] - IN_SMALL[0]) < 1e-7 and abs(issue["lat"] - IN_SMALL[1]) < 1e-7


def test_dry_run_reports_and_writes_nothing(world, tmp_path):
    before = _counts(world.conn)
    report = _load(world.conn, _csv(tmp_path, *GOOD, BAD[0][0]), dry_run=True)
    assert (report.imported, report.rejected) == (6, 1)
    assert _counts(world.conn) == before
    assert "DRY RUN: nothing written" in reports.format_report(report)


@pytest.mark.parametrize("content, message", [
    ("external_id,category,description,lat,created_at\nx,litter,d,1,2024-01-01\n", "lacks the required column(s) lon"),
    ("", "empty"),
    (HEADER.strip(), "holds no reports"),
    (HEADER + 'A-1,litter,"unterminated,1,2,2024-01-01,,,,\n', "cannot be read as CSV"),
    (HEADER + "A-1,litter,d\n", "line 2 of the file"),
    ("external_id,external_id,category\n", "more than once"),
])
def test_files_that_cannot_be_read_write_nothing(world, tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    before = _counts(world.conn)
    with pytest.raises(reports.ReportImportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _load(world.conn, path)
    assert _counts(world.conn) == before


def test_not_utf8_is_refused(world, tmp_path):
    path = tmp_path / "gbk.csv"
    path.write_bytes(HEADER.encode() + f"A-1,litter,垃圾,,{IN_BIG[1]},{IN_BIG[0]},2024-03-01,,,,\n".encode("gbk"))
    with pytest.raises(reports.ReportImportError, match="cannot be read as CSV"):
        _load(world.conn, path)


# ---------------------------------------------------------------- Open311 JSON


OPEN311 = [
    {"service_request_id": 638344, "status": "closed", "status_notes": "Duplicate request.",
     "service_name": "Litter", "service_code": "litter", "description": None,
     "requested_datetime": "2024-04-14T06:37:38-08:00", "updated_datetime": "2024-04-15T06:37:38-08:00",
     "expected_datetime": "2024-04-15T06:37:38-08:00", "address": "8TH AVE and JUDAH ST", "address_id": 545483,
     "zipcode": 94122, "lat": IN_BIG[1], "long": IN_BIG[0], "media_url": "http://example.org/1.jpg"},
    {"service_request_id": "638349", "status": "open", "service_code": "noise", "description": "Drums",
     "requested_datetime": "2024-04-19T06:37:38Z", "updated_datetime": "2024-04-19T07:00:00Z",
     "lat": str(IN_SMALL[1]), "long": str(IN_SMALL[0])},
    "not a request",
    {"service_request_id": 7, "status": "closed", "service_code": "litter", "description": "no close time",
     "requested_datetime": "2024-04-19T06:37:38Z", "lat": IN_BIG[1], "long": IN_BIG[0]},
]


def test_open311_json_import(world, tmp_path):
    path = tmp_path / "requests.json"
    path.write_text(json.dumps(OPEN311), encoding="utf-8")
    report = _load(world.conn, path)
    assert report.format == "open311"
    assert (report.read, report.imported, report.rejected) == (4, 2, 2)
    closed = _issue(world.conn, "638344")
    assert closed["status"] == "closed" and closed["description"] == "Litter"
    assert closed["created_at"] == datetime(2024, 4, 14, 6, 37, 38, tzinfo=timezone(timedelta(hours=-8)))
    assert closed["closed_at"] == datetime(2024, 4, 15, 6, 37, 38, tzinfo=timezone(timedelta(hours=-8)))
    assert _events(world.conn, closed["id"])[1][2:5] == ("reported", "closed", "Duplicate request.")
    opened = _issue(world.conn, "638349")
    assert opened["status"] == "reported" and opened["closed_at"] is None and opened["area_id"] == world.small
    rejected = {r.row: r.reasons for r in report.rejections}
    assert rejected[3][0].startswith("external_id: is empty")
    assert "status: a closed report needs closed_at (in Open311: updated_datetime)" in rejected[4]
    assert _load(world.conn, path).already == 2


def test_open311_export_imports_into_another_server(world, tmp_path, database_url):
    """What our own GET requests.json hands out imports as it is (round trip through the spec's format)."""
    from issues_world import world as _  # noqa: F401
    from webmap import create_app
    from webmap import db as webdb

    issue = world.report(description="Round trip").issue
    world.walk(issue.id, "rejected")
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "t"})
    try:
        exported = app.test_client().get(f"/open311/v2/requests.json?service_request_id={issue.id}").get_json()
    finally:
        webdb.close_pool(app)
    path = tmp_path / "export.json"
    path.write_text(json.dumps(exported, ensure_ascii=False), encoding="utf-8")
    report = _load(world.conn, path)
    assert report.imported == 1
    copy = _issue(world.conn, str(issue.id))
    assert copy["status"] == "closed" and copy["description"] == "Round trip" and copy["area_id"] == world.big


@pytest.mark.parametrize("content, message", [
    ("{not json", "not JSON"),
    ('{"a": 1}', "JSON array"),
])
def test_bad_open311_files(world, tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(reports.ReportImportError, match=message):
        _load(world.conn, path)


# ---------------------------------------------------------------- the command line


def test_command_line(world, tmp_path, database_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", database_url)
    path = _csv(tmp_path, *GOOD, BAD[0][0])
    assert cli.main(["reports", str(path), "--rejects", str(tmp_path / "rej.csv")]) == 0
    out = capsys.readouterr().out
    assert "reports.csv (csv) -> issues" in out and "row 7 [B-1]: rejected: unknown category: pothole" in out
    lines = dict(line.strip().rsplit(None, 1) for line in out.splitlines() if line.startswith("  "))
    lines = {label.strip(): value for label, value in lines.items()}
    assert lines["read"] == "7" and lines["imported"] == "6" and lines["rejected"] == "1"
    assert (tmp_path / "rej.csv").exists()
    assert cli.main(["reports", str(path)]) == 0
    assert "nothing new" in capsys.readouterr().out
    bad = tmp_path / "nocols.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    assert cli.main(["reports", str(bad)]) == 1
    assert "nothing was written" in capsys.readouterr().err
