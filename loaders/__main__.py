"""Command line of the loaders: `python -m loaders grids|buildings|register|checkpoint …`.

The store is chosen by GRIDMAP_DB (default: the embedded SQLite file). Each import prints its accounting line;
--report writes every quarantined, skipped or doubtful row with its reason. Exit 0 when the file was imported (even
with quarantined rows), 2 with one clear sentence when the file as a whole cannot be used.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from geodata import store
from geodata.errors import GridMapError
from loaders import areas, checkpoint, register
from loaders.report import ImportResult, write_report


def _mapping(path: str | None) -> dict[str, str] | None:
    """A column mapping file: JSON {"header text": "canonical field"} (see docs/IMPORT.md)."""
    if not path:
        return None
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _print(result: ImportResult, report: str | None) -> None:
    for note in result.notes:
        print(note)
    if result.rows_read == 0 and result.notes:
        return
    print(result.accounting_line())
    if result.diff:
        print("变更 | changes: " + ", ".join(f"{k}={v}" for k, v in result.diff.items()))
    for reason, n in result.reasons().most_common(12):
        print(f"  {n:6d}  {reason}")
    if report:
        write_report(result.problems, report)
        print(f"问题报告 | report: {report}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m loaders", description="导入社区数据 | import community files")
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("grids", help="网格面 | grid polygons")
    g.add_argument("--community", required=True)
    g.add_argument("--street")
    g.add_argument("path")
    g.add_argument("--crs", help="EPSG:4549, 4490, gcj02, bd09 … (when the file does not say)")
    g.add_argument("--encoding", help="attribute encoding, e.g. gbk (detected when omitted)")
    g.add_argument("--compound", help="小区名，多个用、分隔 (e.g. 兰翔新村): checkpoint addresses elsewhere are reported")
    g.add_argument("--code-field")
    g.add_argument("--name-field")
    b = sub.add_parser("buildings", help="楼栋面 | building footprints")
    b.add_argument("--community", required=True)
    b.add_argument("path")
    b.add_argument("--crs")
    b.add_argument("--encoding")
    b.add_argument("--number-field")
    for name, help_ in (("register", "家庭户情况平铺表 | master register"),
                        ("checkpoint", "人员排查和交通管控信息表 | checkpoint registrations")):
        r = sub.add_parser(name, help=help_)
        r.add_argument("--community", required=True)
        r.add_argument("path")
        r.add_argument("--report", help="write every problem row to this .csv or .xlsx")
        r.add_argument("--mapping", help="JSON file mapping header texts to fields")
        r.add_argument("--encoding", help="CSV encoding (detected when omitted)")
        if name == "register":
            r.add_argument("--dry-run", action="store_true", help="show the diff, write nothing")
            r.add_argument("--allow-removals", action="store_true",
                           help="accept a re-import that marks half of the households or more as no longer listed")
    for sp in sub.choices.values():
        if not any(a.dest == "report" for a in sp._actions):
            sp.add_argument("--report")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        engine = store.open_store()
        if args.cmd == "grids":
            result = areas.import_grids(engine, args.community, args.path, street=args.street, crs=args.crs,
                                        encoding=args.encoding, code_field=args.code_field,
                                        name_field=args.name_field, compound=args.compound)
        elif args.cmd == "buildings":
            result = areas.import_buildings(engine, args.community, args.path, crs=args.crs, encoding=args.encoding,
                                            number_field=args.number_field)
        elif args.cmd == "register":
            result = register.import_register(engine, args.community, args.path, mapping=_mapping(args.mapping),
                                              encoding=args.encoding, dry_run=args.dry_run,
                                              allow_removals=args.allow_removals)
        else:
            result = checkpoint.import_checkpoint(engine, args.community, args.path, mapping=_mapping(args.mapping),
                                                  encoding=args.encoding)
    except (GridMapError, OSError) as exc:
        print(f"错误 | error: {exc}", file=sys.stderr)
        return 2
    _print(result, args.report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
