"""python -m etl reports on another system's export: its column names, date formats, and category and status names."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from etl import __main__ as cli
from etl import dialect, reports
from issues_world import IN_BIG, IN_SMALL, world  # noqa: F401

BEIJING = timezone(timedelta(hours=8))

# A 12345 hotline export: Chinese headers in its own order, a column we do not read, and its own status
# column beside one that happens to be called "status" (a workflow step, not the state).
HOTLINE_HEADER = "工单编号,诉求内容,问题类型,纬度,经度,受理时间,办结时间,处理状态,status,备注\n"
LAT, LON = IN_BIG[1], IN_BIG[0]
HOTLINE = [
    f"H-1,门口垃圾,乱扔垃圾,{LAT},{LON},2024/3/5 9:05,2024/3/6 18:00,已办结,step-4,",
    f"H-2,路灯坏了,路灯不亮,{IN_SMALL[1]},{IN_SMALL[0]},2024年3月6日,,处理中,step-1,夜里很黑",
    f"H-3,Litter again,litter,{LAT},{LON},03/07/24 02:30 PM,,open,,",
    f"H-4,井盖没了,井盖丢失,{LAT},{LON},2024/3/8 10:00,,处理中,,",
    f"H-5,日期不对,乱扔垃圾,{LAT},{LON},2024/2/30 10:00,,处理中,,",
    f"H-6,先办结后受理,乱扔垃圾,{LAT},{LON},2024/3/8 10:00,2024/3/7 10:00,已办结,,",
    f"H-7,状态不明,乱扔垃圾,{LAT},{LON},2024/3/8 10:00,,审核中,,",
    f"H-8,待定看日期,乱扔垃圾,{LAT},{LON},2024/3/9 10:00,2024/3/10 10:00,待定,,",
    "H-9,没有坐标,乱扔垃圾,,,2024/3/9 10:00,,处理中,,",
]
COLUMNS = ["id=工单编号", "description=诉求内容", "category=问题类型", "latitude=纬度", "longitude=经度",
           "created=受理时间", "closed=办结时间", "status=处理状态"]
FORMATS = ["%Y/%m/%d %H:%M", "%Y年%m月%d日", "%m/%d/%y %I:%M %p"]
MAPPING_CSV = ("field,theirs,ours\n"
               "category,乱扔垃圾,litter\n"
               "category,路灯不亮,Broken street light\n"  # our English name is as good as the code
               "status,已办结,closed\n"
               "status,处理中,reported\n"
               "status,待定,\n")


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _hotline(tmp_path: Path, rows=HOTLINE) -> Path:
    return _file(tmp_path, "hotline.csv", HOTLINE_HEADER + "".join(r + "\n" for r in rows))


def _issue(conn, external_id: str):
    return conn.execute("SELECT status, category, area_id, created_at, closed_at, resolved_at FROM issues"
                        " WHERE source = 'import' AND external_id = %s", (external_id,)).fetchone()


def _count(conn) -> int:
    return conn.execute("SELECT count(*) FROM issues").fetchone()[0]


def test_hotline_export_with_its_columns_dates_and_names(world, tmp_path):
    conn = world.conn
    opts = dict(columns=COLUMNS, date_formats=FORMATS, mapping=_file(tmp_path, "map.csv", MAPPING_CSV))
    report = reports.load(conn, reports.Options(path=_hotline(tmp_path), **opts))
    assert (report.read, report.imported, report.rejected) == (9, 4, 5)
    assert report.by_status == {"closed": 2, "reported": 2}
    # Our own "status" column of the file is not read: 处理状态 is.
    assert "columns not imported: status, 备注" in report.warnings

    assert _issue(conn, "H-1") == ("closed", "litter", world.big, datetime(2024, 3, 5, 9, 5, tzinfo=BEIJING),
                                   datetime(2024, 3, 6, 18, tzinfo=BEIJING), datetime(2024, 3, 6, 18, tzinfo=BEIJING))
    assert _issue(conn, "H-2")[:4] == ("reported", "street_light", world.small, datetime(2024, 3, 6, tzinfo=BEIJING))
    # Our own names need no mapping; a 12-hour clock with a two-digit year.
    assert _issue(conn, "H-3")[:2] == ("reported", "litter")
    assert _issue(conn, "H-3")[3] == datetime(2024, 3, 7, 14, 30, tzinfo=BEIJING)
    # A status mapped to nothing is decided by the dates, as an empty one: closed_at given, so closed.
    assert _issue(conn, "H-8")[0] == "closed"

    reasons = {r.external_id: r.reasons for r in report.rejections}
    assert reasons["H-4"] == ["unknown category: 井盖丢失"]
    assert reasons["H-5"] == ["bad date: created_at 2024/2/30 10:00 is not a date-time"]
    assert reasons["H-6"] == ["bad date: closed_at is before created_at"]
    assert reasons["H-7"][0].startswith("status: 审核中 cannot be imported") and "--mapping" in reasons["H-7"][0]
    assert reasons["H-9"] == ["bad coordinates: lat and lon are required"]

    # Re-importing the same export adds nothing.
    again = reports.load(conn, reports.Options(path=_hotline(tmp_path), **opts))
    assert (again.imported, again.already, again.rejected) == (0, 4, 5)


def test_json_mapping_and_open311_service_codes(world, tmp_path):
    doc = [{"service_request_id": "X1", "service_code": "SAN-01", "description": "bags", "lat": LAT, "long": LON,
            "requested_datetime": "2024/04/01 08:00", "status": "OPEN"}]
    path = _file(tmp_path, "requests.json", json.dumps(doc))
    mapping = _file(tmp_path, "map.json", json.dumps({"category": {"san-01": "litter"}, "status": {}}))
    report = reports.load(conn := world.conn, reports.Options(path=path, mapping=mapping,
                                                              date_formats=["%Y/%m/%d %H:%M"]))
    assert report.imported == 1
    assert _issue(conn, "X1")[:2] == ("reported", "litter")


@pytest.mark.parametrize("fmt, value, expected", [
    ("%Y/%m/%d %H:%M", "2024/3/5 9:05", datetime(2024, 3, 5, 9, 5, tzinfo=BEIJING)),
    ("%Y/%m/%d %H:%M", "  2024/03/05    09:05 ", datetime(2024, 3, 5, 9, 5, tzinfo=BEIJING)),
    ("%Y/%m/%d %H:%M", "2024/13/5 9:05", None),
    ("%Y/%m/%d %H:%M", "2024/3/5 24:00", None),
    ("%Y/%m/%d %H:%M", "2024/3/5 9:60", None),
    ("%Y/%m/%d %H:%M", "2024/3/5", None),
    ("%d.%m.%Y", "29.02.2024", datetime(2024, 2, 29, tzinfo=BEIJING)),
    ("%d.%m.%Y", "29.02.2023", None),
    ("%d.%m.%Y", "31.04.2024", None),
    ("%Y年%m月%d日 %H时%M分", "2024年3月5日 14时07分", datetime(2024, 3, 5, 14, 7, tzinfo=BEIJING)),
    ("%m/%d/%y %I:%M %p", "12/31/99 12:00 AM", datetime(1999, 12, 31, 0, 0, tzinfo=BEIJING)),
    ("%m/%d/%y %I:%M %p", "01/01/00 12:30 pm", datetime(2000, 1, 1, 12, 30, tzinfo=BEIJING)),
    ("%m/%d/%y %I:%M %p", "01/01/00 13:30 pm", None),
    ("%Y-%m-%d %p%I:%M", "2024-3-5 下午3:15", datetime(2024, 3, 5, 15, 15, tzinfo=BEIJING)),
    ("%Y%m%d%H%M%S", "20240305091500", datetime(2024, 3, 5, 9, 15, tzinfo=BEIJING)),
    ("%d/%m/%Y %H:%M:%S.%f%z", "05/03/2024 01:15:00.250Z", datetime(2024, 3, 5, 1, 15, 0, 250000, tzinfo=timezone.utc)),
    ("%d/%m/%Y %H:%M:%S%z", "05/03/2024 01:15:00+05:30",
     datetime(2024, 3, 5, 1, 15, tzinfo=timezone(timedelta(hours=5, minutes=30)))),
    ("%Y/%m/%d", "2024/3/5'); DROP TABLE issues; --", None),
    ("100%% %Y/%m/%d", "100% 2024/3/5", datetime(2024, 3, 5, tzinfo=BEIJING)),
    # The file's own format comes before ISO 8601: said to be year-day-month, 2024-03-05 is 3 May.
    ("%Y-%d-%m", "2024-03-05", datetime(2024, 5, 3, tzinfo=BEIJING)),
])
def test_date_formats_are_read_and_checked_by_the_database(world, fmt, value, expected):
    conn = world.conn
    with conn.transaction(force_rollback=True):
        conn.execute("SET LOCAL TimeZone = 'Asia/Shanghai'")
        for statement in reports._statements("reports_stage.sql"):
            conn.execute(statement)
        reports._install_date_formats(conn, [dialect.date_format(fmt)])
        got = conn.execute("SELECT pg_temp.import_datetime(%s)", (value,)).fetchone()[0]
        # ISO 8601 is still read whatever formats are given.
        iso = conn.execute("SELECT pg_temp.import_datetime('2024-03-05T09:05:00Z')").fetchone()[0]
    assert got == expected
    assert iso == datetime(2024, 3, 5, 9, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize("options, message", [
    (dict(columns=["identifier=工单编号"]), "unknown column 'identifier'"),
    (dict(columns=["id"]), "write it as KEY=HEADER"),
    (dict(columns=["id=工单编号", "external_id=诉求内容"]), "names 'external_id' twice"),
    (dict(columns=["id=工单编号", "title=工单编号"]), "for two columns"),
    (dict(columns=["id=单号"]), "the header has no such column"),
    (dict(columns=["id=工单编号"]), "lacks the required column(s) category, description"),
    (dict(date_formats=["%Y/%b/%d"]), "%b is not supported"),
    (dict(date_formats=["%Y/%m"]), "needs a year (%Y or %y), %m and %d"),
    (dict(date_formats=["%Y/%m/%d %I:%M"]), "%I (12-hour clock) goes with %p"),
    (dict(date_formats=["%Y/%m/%d %Y"]), "%Y appears twice"),
    (dict(mapping="field,theirs,ours\ncategory,井盖丢失,pothole\n"), "categories we do not have: pothole"),
    (dict(mapping="field,theirs,ours\nstatus,已办结,done\n"), "status 'done' cannot be imported"),
    (dict(mapping="from,to\n已办结,closed\n"), "header line must be field,theirs,ours"),
    (dict(mapping="field,theirs,ours\nkind,a,b\n"), "neither category nor status"),
    (dict(mapping="field,theirs,ours\nstatus,已办结,closed\nstatus,已办结,rejected\n"), "mapped twice"),
    (dict(mapping="field,theirs,ours\ncategory,a\n"), "line 2 has 2 fields"),
])
def test_bad_options_are_refused_and_nothing_is_written(world, tmp_path, options, message):
    if "mapping" in options:
        options = dict(options, columns=COLUMNS, mapping=_file(tmp_path, "map.csv", options["mapping"]))
    before = _count(world.conn)
    with pytest.raises(reports.ReportImportError) as caught:
        reports.load(world.conn, reports.Options(path=_hotline(tmp_path), **options))
    assert message in str(caught.value)
    assert _count(world.conn) == before


def test_columns_do_not_apply_to_open311(world, tmp_path):
    path = _file(tmp_path, "requests.json", "[]")
    with pytest.raises(reports.ReportImportError, match="--column names the columns of a CSV file"):
        reports.load(world.conn, reports.Options(path=path, columns={"id": "x"}))


def test_command_line_options(world, tmp_path, database_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", database_url)
    mapping = _file(tmp_path, "map.csv", MAPPING_CSV)
    args = ["reports", str(_hotline(tmp_path)), "--mapping", str(mapping)]
    for c in COLUMNS:
        args += ["--column", c]
    for f in FORMATS:
        args += ["--date-format", f]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    lines = {line.strip().rsplit(None, 1)[0].strip(): line.strip().rsplit(None, 1)[1]
             for line in out.splitlines() if line.startswith("  ")}
    assert lines["imported"] == "4" and lines["rejected"] == "5"
    assert cli.main(["reports", str(_hotline(tmp_path)), "--date-format", "%Q"]) == 1
    assert "%Q is not supported" in capsys.readouterr().err


def test_gbk_export_with_encoding_option(world, tmp_path):
    # Excel in a Chinese locale saves CSV as GBK: the header and the text are read through COPY's conversion.
    path = tmp_path / "gbk.csv"
    path.write_bytes((HOTLINE_HEADER + HOTLINE[1] + "\n").encode("gbk"))
    opts = dict(columns=COLUMNS, date_formats=FORMATS, mapping=_file(tmp_path, "map.csv", MAPPING_CSV))
    with pytest.raises(reports.ReportImportError, match="--encoding"):
        reports.load(world.conn, reports.Options(path=path, **opts))
    report = reports.load(world.conn, reports.Options(path=path, encoding="GBK", **opts))
    assert report.imported == 1
    row = world.conn.execute("SELECT description, category FROM issues WHERE external_id = 'H-2'").fetchone()
    assert row == ("路灯坏了", "street_light")


@pytest.mark.parametrize("options, message", [
    (dict(encoding="ebcdic"), "unknown encoding 'ebcdic'"),
    (dict(encoding="gbk", format="open311"), "--encoding applies to CSV files"),
])
def test_bad_encoding_options(world, tmp_path, options, message):
    with pytest.raises(reports.ReportImportError, match=message):
        reports.load(world.conn, reports.Options(path=_hotline(tmp_path), **options))


def test_body_in_another_encoding_names_the_option(world, tmp_path):
    path = tmp_path / "mixed.csv"
    # A UTF-8 header (plain ASCII) over GBK rows: COPY meets the first GBK byte.
    path.write_bytes("external_id,category,description,lat,lon,created_at\n".encode()
                     + f"G-1,litter,门口垃圾,{LAT},{LON},2024-03-01\n".encode("gbk"))
    with pytest.raises(reports.ReportImportError, match=r"line 2 of the file\) \(read as utf-8; give the file's encoding"):
        reports.load(world.conn, reports.Options(path=path))
