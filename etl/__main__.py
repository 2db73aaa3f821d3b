"""Command line: python -m etl boundaries FILE [options] | reports FILE [options] | demo [--if-empty]."""
from __future__ import annotations

import argparse
import logging
import sys
from importlib import resources
from pathlib import Path

from geodata import db
from geodata.areas import LEVELS

from etl import boundaries, dialect, reports

log = logging.getLogger("etl")


def _boundaries(args: argparse.Namespace) -> int:
    opts = boundaries.Options(
        path=Path(args.file),
        layer=args.layer,
        name_field=args.name_field,
        code_field=args.code_field,
        parent_field=args.parent_field,
        level=args.level,
        source_crs=args.source_crs,
        encoding=args.encoding,
        dry_run=args.dry_run,
        progress=sys.stderr.isatty(),
    )
    with db.connect(autocommit=True) as conn:
        report = boundaries.load(conn, opts)
    print(boundaries.format_report(report, verbose=not args.quiet))
    return 0


def _reports(args: argparse.Namespace) -> int:
    opts = reports.Options(path=Path(args.file), format=args.format, timezone=args.timezone, crs=args.crs,
                           dry_run=args.dry_run, columns=args.column, date_formats=args.date_format or [],
                           mapping=Path(args.mapping) if args.mapping else None, encoding=args.encoding)
    with db.connect(autocommit=True) as conn:
        report = reports.load(conn, opts)
    if args.rejects:
        reports.write_rejections(report, Path(args.rejects))
    print(reports.format_report(report))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from geodata import areas

    with db.connect(autocommit=True) as conn:
        if args.if_empty and areas.count(conn) > 0:
            print("areas already loaded; demo data not loaded")
            return 0
        demo = resources.files("etl").joinpath("demo")
        for name, level in (("zzy_street.geojson", "street"), ("pilot_communities.geojson", "community")):
            with resources.as_file(demo.joinpath(name)) as path:
                report = boundaries.load(conn, boundaries.Options(path=path, level=level))
            print(boundaries.format_report(report, verbose=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one loader."""
    parser = argparse.ArgumentParser(prog="python -m etl", description="Load outside data into the issue map.")
    sub = parser.add_subparsers(dest="command", required=True)

    b = sub.add_parser("boundaries", help="load or update area boundaries from any OGR vector file")
    b.add_argument("file", help="GeoJSON, Shapefile (.shp or .zip), GeoPackage, KML, CSV with a WKT column, ...")
    b.add_argument("--layer", help="layer name, for files with several (GeoPackage)")
    b.add_argument("--name-field", help="field holding the area name (default: auto-detected)")
    b.add_argument("--code-field", help="field holding the stable area code (default: auto-detected, else the name)")
    b.add_argument("--parent-field", help="field holding the parent area's code (default: found by containment)")
    b.add_argument("--level", choices=LEVELS, default="community", help="level of every area in the file (default community)")
    b.add_argument("--source-crs", help="CRS of the coordinates when the file lacks or misstates it: EPSG:N, gcj02 or bd09")
    b.add_argument("--encoding", help="attribute encoding, e.g. GBK for Chinese shapefiles without a .cpg")
    b.add_argument("--dry-run", action="store_true", help="report what would change and write nothing")
    b.add_argument("--quiet", action="store_true", help="do not list every inserted or updated area")
    b.set_defaults(run=_boundaries)

    r = sub.add_parser("reports", help="bulk-import historical reports (CSV or an Open311 requests.json)")
    r.add_argument("file", help="CSV with external_id, category, description, lat, lon, created_at and optional "
                                "title, status, resolved_at, closed_at, contact; or a GeoReport v2 requests.json")
    r.add_argument("--format", choices=reports.FORMATS, help="default: open311 for .json files, csv otherwise")
    r.add_argument("--timezone", help="zone of date-times without an offset (default: $TIMEZONE, else Asia/Shanghai)")
    r.add_argument("--crs", default="wgs84", help="coordinate system of lat/lon: wgs84 (default), gcj02 or bd09")
    r.add_argument("--column", action="append", metavar="KEY=HEADER",
                   help="the file's column for one of ours, e.g. --column id=工单编号 --column created=受理时间; KEY: "
                        + ", ".join(dialect.KEYS))
    r.add_argument("--date-format", action="append", metavar="FORMAT",
                   help="strftime-style format of the dates, tried before ISO 8601, e.g. '%%Y/%%m/%%d %%H:%%M' "
                        "(may be given more than once)")
    r.add_argument("--encoding", default="utf-8",
                   help="character encoding of a CSV file: " + ", ".join(reports.ENCODINGS) + " (default utf-8)")
    r.add_argument("--mapping", metavar="FILE",
                   help="their category and status names to ours: CSV with field,theirs,ours, or JSON "
                        '{"category": {...}, "status": {...}}')
    r.add_argument("--rejects", metavar="FILE", help="also write every rejected row with its reasons to this CSV")
    r.add_argument("--dry-run", action="store_true", help="check everything and report, write nothing")
    r.set_defaults(run=_reports)

    d = sub.add_parser("demo", help="load the demo street and its three pilot communities")
    d.add_argument("--if-empty", action="store_true", help="only when no areas are loaded yet")
    d.set_defaults(run=_demo)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.run(args)
    except (boundaries.BoundaryLoadError, reports.ReportImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        print("nothing was written", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
