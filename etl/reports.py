"""Bulk import of historical reports (CSV, or an Open311 GeoReport v2 requests.json) as issues, in one transaction.

The file goes into a staging table as text by COPY; parsing, checks, the community lookup and the insert
are set-based SQL (etl/sql/reports_*.sql). A report is keyed by (source 'import', external_id): a re-run
adds nothing. Every row that cannot be imported is reported with its row number and the reasons; the
rest is imported. Only a file that cannot be read at all, or that lacks a required column, stops the
whole import (and then nothing is written).
"""
from __future__ import annotations

import csv
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from etl import dialect
from geodata import chinacrs, open311

log = logging.getLogger(__name__)

FORMATS = ("csv", "open311")
COLUMNS = ("external_id", "category", "description", "title", "lat", "lon", "created_at", "status",
           "resolved_at", "closed_at", "contact")
REQUIRED = ("external_id", "category", "description", "lat", "lon", "created_at")
# Open311 GeoReport v2 request fields -> staging columns (updated_datetime is the closing time only for
# closed requests; see _open311_rows).
OPEN311_FIELDS = {"service_request_id": "external_id", "service_code": "category", "description": "description",
                  "lat": "lat", "long": "lon", "requested_datetime": "created_at", "status": "status",
                  "status_notes": "note"}
COPY_CHUNK = 1 << 20
# Encodings a CSV file may be in: Python's codec (for the header line) and PostgreSQL's name (for COPY,
# which converts the rest). UTF-8 files may start with a byte-order mark.
ENCODINGS = {"utf-8": ("utf-8-sig", "UTF8"), "gbk": ("gbk", "GBK"), "gb18030": ("gb18030", "GB18030"),
             "big5": ("big5", "BIG5"), "latin1": ("latin-1", "LATIN1")}
SHOW_REJECTED = 200


class ReportImportError(RuntimeError):
    """The whole import is refused; nothing was written."""


@dataclass
class Options:
    """What to import and how to read it."""

    path: Path
    format: str | None = None  # csv or open311; None: from the file name (.json -> open311)
    # Zone of date-times written without an offset (default: TIMEZONE, else Asia/Shanghai).
    timezone: str | None = None
    crs: str = "wgs84"  # coordinate system of lat/lon: wgs84, gcj02 or bd09
    dry_run: bool = False
    # Another system's export (etl/dialect.py): {"id": "工单编号", ...} or ["id=工单编号", ...] for the columns,
    # strftime-style date formats tried before ISO 8601, and a file mapping their categories and statuses to ours.
    columns: dict[str, str] | list[str] | None = None
    # Character encoding of a CSV file (Chinese exports from Excel are often GBK); see ENCODINGS.
    encoding: str = "utf-8"
    date_formats: list[str] = field(default_factory=list)
    mapping: Path | None = None


@dataclass
class Rejected:
    row: int
    external_id: str | None
    reasons: list[str]


@dataclass
class ImportReport:
    """What an import did (or, in a dry run, would do)."""

    source: str
    format: str
    read: int = 0
    imported: int = 0
    already: int = 0
    rejected: int = 0
    events: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    rejections: list[Rejected] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # Seconds per step (stage, check, insert), for whoever tunes the import.
    steps: dict[str, float] = field(default_factory=dict)
    dry_run: bool = False


def _sql(name: str) -> str:
    return resources.files("etl").joinpath("sql", name).read_text(encoding="utf-8")


def _statements(name: str) -> list[str]:
    # The extended query protocol takes one statement at a time.
    return [part for part in (chunk.strip() for chunk in _sql(name).split(";\n\n")) if part]


# ---------------------------------------------------------------- reading


def _format(opts: Options) -> str:
    if opts.format:
        if opts.format not in FORMATS:
            raise ReportImportError(f"unknown format {opts.format!r}; use csv or open311")
        return opts.format
    return "open311" if opts.path.suffix.lower() == ".json" else "csv"


def _csv_header(raw: bytes, report: ImportReport, renamed: dict[str, str], encoding: str = "utf-8") -> list[str]:
    """The name of each field of the header line: ours where it is one of ours (directly or by --column)."""
    try:
        line = raw.decode(ENCODINGS[encoding][0])
    except UnicodeDecodeError:
        if encoding == "utf-8":
            raise ReportImportError("the header line is not UTF-8; give the file's encoding with --encoding "
                                    "(e.g. gbk), or save it as UTF-8 (CSV UTF-8 in Excel)") from None
        raise ReportImportError(f"the header line is not {encoding}") from None
    raw_names = [n.strip() for n in next(csv.reader([line]), [])]
    names = [n.lower() for n in raw_names]
    if not any(names):
        raise ReportImportError("the file is empty or has no header line")
    seen = Counter(n for n in names if n)
    twice = sorted(n for n, k in seen.items() if k > 1)
    if twice:
        raise ReportImportError(f"the header names {', '.join(twice)} more than once")
    absent = [f"{ours}={theirs}" for ours, theirs in renamed.items() if theirs not in seen]
    if absent:
        raise ReportImportError(f"--column {', '.join(absent)}: the header has no such column; it has: {', '.join(names)}")
    theirs_to_ours = {theirs: ours for ours, theirs in renamed.items()}
    # A column named by --column replaces a column of the file that happens to carry our name.
    names = [theirs_to_ours.get(n, "" if n in renamed else n) for n in names]
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise ReportImportError(
            f"the header lacks the required column(s) {', '.join(missing)}; it has: {', '.join(n for n in names if n)}. "
            f"Columns: {', '.join(COLUMNS)} (title, status, resolved_at, closed_at and contact are optional); "
            f"name a column of another system with --column, e.g. --column id=工单编号")
    ignored = [raw or "(unnamed)" for raw, n in zip(raw_names, names) if n not in COLUMNS]
    if ignored:
        report.warnings.append(f"columns not imported: {', '.join(ignored)}")
    return names


def _copy_csv(conn: psycopg.Connection, path: Path, report: ImportReport, renamed: dict[str, str],
              encoding: str = "utf-8") -> None:
    """Stream the file after its header line into stage_reports; COPY parses the CSV and converts its encoding."""
    with path.open("rb") as fh:
        header = fh.readline()
        names = _csv_header(header, report, renamed, encoding)
        columns = []
        for k, name in enumerate(names):
            if name in COLUMNS:
                columns.append(name)
            else:
                # A column we do not read still needs somewhere to go.
                extra = f"extra_{k}"
                conn.execute(sql.SQL("ALTER TABLE stage_reports ADD COLUMN {} text").format(sql.Identifier(extra)))
                columns.append(extra)
        statement = sql.SQL("COPY stage_reports ({}) FROM STDIN (FORMAT csv, ENCODING {})").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in columns), sql.Literal(ENCODINGS[encoding][1]))
        try:
            with conn.cursor().copy(statement) as copy:
                while chunk := fh.read(COPY_CHUNK):
                    copy.write(chunk)
        except psycopg.errors.DataError as exc:
            hint = ""
            if isinstance(exc, (psycopg.errors.CharacterNotInRepertoire, psycopg.errors.UntranslatableCharacter)):
                hint = f" (read as {encoding}; give the file's encoding with --encoding, e.g. gbk)"
            raise ReportImportError(f"the file cannot be read as CSV: {_copy_error(exc)}{hint}") from exc


def _copy_error(exc: psycopg.Error) -> str:
    """COPY's own message with its line number, counted as in the file (COPY saw it without the header)."""
    message = exc.diag.message_primary or str(exc)
    context = exc.diag.context or ""
    for part in context.split(","):
        part = part.strip()
        if part.startswith("line "):
            try:
                line = int(part.split()[1].rstrip(":")) + 1
            except (IndexError, ValueError):
                break
            return f"{message} (line {line} of the file)"
    return message


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _open311_rows(path: Path, report: ImportReport):
    """Rows for stage_reports from a GeoReport v2 requests.json (a list of requests)."""
    try:
        with path.open("rb") as fh:
            doc = json.load(fh)
    except UnicodeDecodeError:
        raise ReportImportError("the file is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise ReportImportError(f"the file is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    if isinstance(doc, dict) and isinstance(doc.get("service_requests"), list):
        doc = doc["service_requests"]
    if not isinstance(doc, list):
        raise ReportImportError("an Open311 requests.json is a JSON array of service requests")
    for item in doc:
        if not isinstance(item, dict):
            # Kept as an all-empty row, so that it is reported under its own row number.
            yield (None,) * 9
            continue
        values = {col: _text(item.get(name)) for name, col in OPEN311_FIELDS.items()}
        status = (values["status"] or "").strip().lower()
        # "For requests with status=closed, [updated_datetime] will be the date the request was closed."
        values["closed_at"] = _text(item.get("updated_datetime")) if status == "closed" else None
        if not (values["description"] or "").strip():
            # The spec's own examples have requests without a description; the service name is true.
            values["description"] = _text(item.get("service_name"))
        if not (values["category"] or "").strip():
            values["category"] = _text(item.get("service_name"))
        yield (values["external_id"], values["category"], values["description"], values["lat"], values["lon"],
               values["created_at"], values["status"], values["closed_at"], values["note"])


def _copy_open311(conn: psycopg.Connection, path: Path, report: ImportReport) -> None:
    with conn.cursor().copy(
        "COPY stage_reports (external_id, category, description, lat, lon, created_at, status, closed_at, note)"
        " FROM STDIN"
    ) as copy:
        for row in _open311_rows(path, report):
            copy.write_row(row)


def _convert_crs(conn: psycopg.Connection, system: str) -> None:
    """Rewrite the staged coordinates from GCJ-02 or BD-09 to WGS84 (numbers only; the rest is checked later)."""
    rows = conn.execute(
        "SELECT row_no, pg_temp.import_number(lon), pg_temp.import_number(lat) FROM stage_reports"
        " WHERE pg_temp.import_number(lon) BETWEEN -180 AND 180 AND pg_temp.import_number(lat) BETWEEN -90 AND 90"
    ).fetchall()
    if not rows:
        return
    ids = np.array([r[0] for r in rows])
    lon, lat = chinacrs.to_wgs84(system, np.array([r[1] for r in rows]), np.array([r[2] for r in rows]))
    conn.execute("CREATE TEMP TABLE stage_wgs84 (row_no bigint PRIMARY KEY, lon float8, lat float8) ON COMMIT DROP")
    with conn.cursor().copy("COPY stage_wgs84 (row_no, lon, lat) FROM STDIN") as copy:
        for row in zip(ids.tolist(), lon.tolist(), lat.tolist()):
            copy.write_row(row)
    conn.execute("UPDATE stage_reports s SET lon = w.lon::text, lat = w.lat::text FROM stage_wgs84 w"
                 " WHERE w.row_no = s.row_no")


def _install_date_formats(conn: psycopg.Connection, formats: list[dialect.DateFormat]) -> None:
    """pg_temp.import_datetime reads each format in turn, then ISO 8601.

    The file's own formats come first: a file said to write %Y-%d-%m means 2024-03-05 as 3 May, and most
    files keep to one format, so ISO is tried only for what the formats did not read.
    """
    readers = [sql.SQL("pg_temp.import_formatted(t, {}, {})").format(sql.Literal(f.pattern), sql.Literal(list(f.groups)))
               for f in formats]
    body = sql.SQL("SELECT COALESCE({}, pg_temp.import_timestamp(t))").format(sql.SQL(", ").join(readers))
    conn.execute(sql.SQL("CREATE OR REPLACE FUNCTION pg_temp.import_datetime(t text) RETURNS timestamptz"
                         " LANGUAGE sql STABLE AS {}").format(sql.Literal(body.as_string(conn))))


def _install_mapping(conn: psycopg.Connection, mapping: dict[str, dict[str, str]]) -> None:
    """Their names to ours in import_mapping; a category it maps to must be one of ours (else nothing is written)."""
    with conn.cursor().copy("COPY import_mapping (field, theirs, ours) FROM STDIN") as copy:
        for fld, names in mapping.items():
            for theirs, ours in names.items():
                copy.write_row((fld, theirs, ours))
    unknown = [r[0] for r in conn.execute(_sql("reports_mapping_unknown.sql")).fetchall()]
    if unknown:
        codes = [r[0] for r in conn.execute("SELECT code FROM categories ORDER BY code").fetchall()]
        raise ReportImportError(f"the mapping file maps to categories we do not have: {', '.join(unknown)}; "
                                f"ours are {', '.join(codes)} (or their names)")
    conn.execute("ANALYZE import_mapping")


# ---------------------------------------------------------------- the import


def load(conn: psycopg.Connection, opts: Options) -> ImportReport:
    """Import the file's reports; returns what was done. Raises ReportImportError when nothing can be."""
    started = time.perf_counter()
    fmt = _format(opts)
    report = ImportReport(source=opts.path.name, format=fmt, dry_run=opts.dry_run)
    if not opts.path.is_file():
        raise ReportImportError(f"{opts.path}: no such file")
    zone = opts.timezone or open311.timezone_name()
    crs = (opts.crs or "wgs84").strip().lower()
    if crs not in chinacrs.SYSTEMS:
        raise ReportImportError(f"unknown coordinate system {opts.crs!r}; use {', '.join(chinacrs.SYSTEMS)}")
    try:
        renamed = dialect.columns(opts.columns)
        formats = [dialect.date_format(f) for f in opts.date_formats]
        mapping = dialect.read_mapping(Path(opts.mapping)) if opts.mapping else {}
    except dialect.DialectError as exc:
        raise ReportImportError(str(exc)) from None
    encoding = (opts.encoding or "utf-8").strip().lower().replace("_", "-")
    encoding = {"utf8": "utf-8", "latin-1": "latin1", "cp936": "gbk"}.get(encoding, encoding)
    if encoding not in ENCODINGS:
        raise ReportImportError(f"unknown encoding {opts.encoding!r}; use {', '.join(ENCODINGS)}")
    if encoding != "utf-8" and fmt != "csv":
        raise ReportImportError("--encoding applies to CSV files; JSON is UTF-8")
    if renamed and fmt != "csv":
        raise ReportImportError("--column names the columns of a CSV file; an Open311 file has the spec's fields")
    with conn.transaction() as tx:
        try:
            conn.execute(sql.SQL("SET LOCAL TimeZone = {}").format(sql.Literal(zone)))
        except psycopg.errors.InvalidParameterValue:
            raise ReportImportError(f"unknown time zone {zone!r}; use a name such as Asia/Shanghai or UTC") from None
        # JIT compiles these one-off statements for longer than they run (docs/decisions.md); the sort that
        # finds repeated external_ids and the hash joins get memory instead of temporary files.
        conn.execute("SET LOCAL jit = off")
        conn.execute("SET LOCAL work_mem = '256MB'")
        # One transaction that a re-run repeats exactly (idempotent by external_id): after a crash it is
        # simply run again, so its commit need not wait for the WAL to reach the disk.
        conn.execute("SET LOCAL synchronous_commit = off")
        for statement in _statements("reports_stage.sql"):
            conn.execute(statement)
        if formats:
            _install_date_formats(conn, formats)
        if mapping:
            _install_mapping(conn, mapping)
        if fmt == "csv":
            _copy_csv(conn, opts.path, report, renamed, encoding)
        else:
            _copy_open311(conn, opts.path, report)
        if crs != "wgs84":
            _convert_crs(conn, crs)
        report.steps["stage"] = time.perf_counter() - started
        for statement in _statements("reports_check.sql"):
            conn.execute(statement)
        report.steps["check"] = time.perf_counter() - started - report.steps["stage"]
        report.read = conn.execute("SELECT count(*) FROM stage_checked").fetchone()[0]
        if report.read == 0:
            raise ReportImportError("the file holds no reports")
        imported, events, by_status = conn.execute(_sql("reports_insert.sql"), {"file": opts.path.name}).fetchone()
        report.imported, report.events, report.by_status = imported, events, dict(by_status)
        report.steps["insert"] = time.perf_counter() - started - report.steps["stage"] - report.steps["check"]
        # The statistics rollup takes the new issues now, in one fold, rather than at the next dashboard read.
        folding = time.perf_counter()
        conn.execute("SELECT stats_fold()")
        report.steps["rollup"] = time.perf_counter() - folding
        counts = conn.execute(
            "SELECT count(*) FILTER (WHERE reasons <> '{}'), count(*) FILTER (WHERE reasons = '{}') FROM stage_checked"
        ).fetchone()
        report.rejected = counts[0]
        report.already = counts[1] - report.imported
        for row_no, external_id, reasons in conn.execute(
                "SELECT row_no, external_id, reasons FROM stage_checked WHERE reasons <> '{}' ORDER BY row_no"):
            report.rejections.append(Rejected(row_no, external_id, list(reasons)))
        report.reasons = dict(Counter(_reason_kind(r) for rej in report.rejections for r in rej.reasons).most_common())
        if opts.dry_run:
            # Everything above ran for real, so the report is exact; rolling back keeps nothing of it.
            raise psycopg.Rollback(tx)
    report.seconds = time.perf_counter() - started
    log.info("imported %s of %s report(s) from %s (%s already, %s rejected)%s", report.imported, report.read,
             report.source, report.already, report.rejected, " [dry run]" if opts.dry_run else "")
    return report


def _reason_kind(reason: str) -> str:
    """The kind of a reason ("bad date", "unknown category", ...): its text up to the first colon."""
    return reason.split(":", 1)[0]


def write_rejections(report: ImportReport, path: Path) -> None:
    """All rejected rows as CSV (row, external_id, reasons), for fixing the file."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["row", "external_id", "reasons"])
        for rej in report.rejections:
            writer.writerow([rej.row, rej.external_id or "", "; ".join(rej.reasons)])


def format_report(report: ImportReport, show: int = SHOW_REJECTED) -> str:
    """The summary printed at the end of an import: rejected rows, then one table."""
    lines = [f"note: {w}" for w in report.warnings]
    for rej in report.rejections[:show]:
        ext = f" [{rej.external_id}]" if rej.external_id else ""
        lines.append(f"row {rej.row}{ext}: rejected: {'; '.join(rej.reasons)}")
    if len(report.rejections) > show:
        lines.append(f"... and {len(report.rejections) - show} more rejected row(s); --rejects FILE lists them all")
    lines.append("")
    title = f"{report.source} ({report.format}) -> issues"
    if report.dry_run:
        title += "  DRY RUN: nothing written"
    lines.append(title)
    rows = [("read", report.read), ("imported", report.imported), ("already imported", report.already),
            ("rejected", report.rejected)]
    rows += [(f"  imported {status}", n) for status, n in sorted(report.by_status.items())]
    rows += [(f"  rejected: {reason}", n) for reason, n in report.reasons.items()]
    width = max(len(label) for label, _ in rows)
    digits = max(len(f"{n:,}") for _, n in rows)
    for label, n in rows:
        lines.append(f"  {label.ljust(width)}  {n:>{digits},}")
    lines.append(f"  {'seconds'.ljust(width)}  {report.seconds:>{digits}.1f}")
    if report.imported == 0 and report.already and not report.dry_run:
        lines.append(f"nothing new: {report.already:,} report(s) of this file were imported before")
    return "\n".join(lines)
