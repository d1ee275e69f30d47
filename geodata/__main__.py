"""Command line of the model: summary, demo, exports. `python -m geodata --help`.

An entry point may call loaders (the demo is loaded through the same import path users use); modules of
geodata never import loaders.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
from pathlib import Path

from sqlalchemy.orm import Session

from geodata import compare, geoframes, indicators, routing, schema, store
from geodata.errors import GridMapError
from geodata.settings import load_settings


def _summary(args: argparse.Namespace) -> int:
    engine = store.open_store()
    with Session(engine) as s:
        rows = indicators.community_summary(s)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    if not rows:
        print("库中还没有社区：运行 python -m geodata demo 载入演示街道 | the store is empty: "
              "run python -m geodata demo")
        return 0
    head = ("社区", "街道", "网格", "楼栋", "户室", "户", "人", "已核实", "待核实问题", "未结事件")
    print("  ".join(head))
    for r in rows:
        print("  ".join(str(x) for x in (r["name"], r["street"], r["grids"], r["buildings"], r["flats"],
                                          r["households"], r["persons"], f"{r['verified_share']:.1%}",
                                          sum(r["findings"].values()), r["open_issues"])))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from loaders import demo  # an entry point may call loaders
    settings = load_settings()
    engine = store.make_engine(settings.db_url)
    demo.build_demo(engine, settings, reset=True, progress=print)
    return 0


def _export_geo(args: argparse.Namespace) -> int:
    engine = store.open_store()
    with Session(engine) as s:
        n = geoframes.export_layer(s, args.community, args.layer, args.out, args.crs)
    print(f"{n} features → {args.out}")
    return 0


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def _reconcile(args: argparse.Namespace) -> int:
    from geodata import reconcile
    out = Path(args.out)
    persons_out = out.with_name(f"{out.stem}.persons{out.suffix or '.csv'}")
    engine = store.open_store()
    with store.session_scope(engine) as s:
        comm = geoframes.community_by_name(s, args.community)
        result = reconcile.reconcile(s, comm.id, as_of=args.as_of)
        flat_rows, person_rows = reconcile.report_rows(result.findings)
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_csv(out, reconcile.FLAT_REPORT_COLUMNS, flat_rows)
    _write_csv(persons_out, reconcile.PERSON_REPORT_COLUMNS, person_rows)
    print(f"{args.community} 比对日期 {result.as_of}：卡口登记 {result.registrations} 条（社区外 {result.outside}，"
          f"无法定位户室 {result.unplaced}），匹配 {sum(result.matched.values())} 条，用时 {result.seconds:.1f} 秒")
    for category, n in result.counts.items():
        print(f"  {schema.FINDING_LABELS[category]:<12} {category:<22} {n:>6}")
    print(f"待核实问题：新增 {result.inserted}，更新 {result.updated}，撤销 {result.removed}，"
          f"已核实不再重复 {result.settled}")
    print(f"{len(flat_rows)} 户室问题 → {out}；{len(person_rows)} 人员/家庭问题 → {persons_out}")
    return 0


def _worklist(args: argparse.Namespace) -> int:
    from geodata import worklist
    engine = store.open_store()
    with store.session_scope(engine) as s:
        comm = geoframes.community_by_name(s, args.community)
        counts = worklist.write_worklist_xlsx(s, comm.id, args.out, args.grid, by=args.by)
    for sheet, n in counts.items():
        print(f"  {sheet}: {n}")
    print(f"{sum(counts.values())} 条待核实问题 → {args.out}")
    return 0


def _export_register(args: argparse.Namespace) -> int:
    from geodata import register_export
    engine = store.open_store()
    with store.session_scope(engine) as s:
        comm = geoframes.community_by_name(s, args.community)
        counts = register_export.write_register_xlsx(s, comm.id, args.out, by=args.by)
    print(f"{sum(counts.values())} 行（{len(counts)} 个网格工作表）→ {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m geodata", description="网格地图数据 | Grid Map store")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("summary", help="每个社区的概况 | per-community summary")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_summary)
    d = sub.add_parser("demo", help="(重新)生成并载入演示街道 | (re)build the demo street store")
    d.set_defaults(func=_demo)
    e = sub.add_parser("export-geo", help="导出网格或楼栋 | export grids or buildings")
    e.add_argument("--community", required=True)
    e.add_argument("--layer", required=True, choices=("grids", "buildings"))
    e.add_argument("--out", required=True)
    e.add_argument("--crs")
    e.set_defaults(func=_export_geo)
    r = sub.add_parser("reconcile", help="卡口登记与登记表交叉比对，生成待核实问题 | cross-check checkpoint "
                                         "registrations against the register and store the findings",
                       description="Writes PATH.csv with one row per flat finding (columns building, unit, room, "
                                   "category, evidence) and PATH.persons.csv next to it with the person and "
                                   "household findings (building, unit, room, name, category, evidence); plain "
                                   "UTF-8 without BOM, for scripts. Prints the counts per category.")
    r.add_argument("--community", required=True)
    r.add_argument("--as-of", type=_date, help="reference date YYYY-MM-DD (ages; default today)")
    r.add_argument("--out", required=True, help="PATH.csv of the flat findings (person findings: PATH.persons.csv)")
    r.set_defaults(func=_reconcile)
    w = sub.add_parser("worklist", help="导出入户情况汇总表（每个网格一张表）| write the printable worklist")
    w.add_argument("--community", required=True)
    w.add_argument("--grid", help="grid code (default: every grid, one sheet each)")
    w.add_argument("--out", required=True, help="PATH.xlsx")
    w.add_argument("--by", help="user name recorded in the audit log")
    w.set_defaults(func=_worklist)
    x = sub.add_parser("export-register", help="导出更新后的家庭户情况平铺表 | export the updated register")
    x.add_argument("--community", required=True)
    x.add_argument("--out", required=True, help="PATH.xlsx")
    x.add_argument("--by", help="user name recorded in the audit log")
    x.set_defaults(func=_export_register)
    compare.add_cli(sub)
    routing.add_cli(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except GridMapError as exc:
        print(f"错误 | error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
