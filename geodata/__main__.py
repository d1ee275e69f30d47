"""Command line of the model: summary, demo, exports. `python -m geodata --help`.

An entry point may call loaders (the demo is loaded through the same import path users use); modules of
geodata never import loaders.
"""
from __future__ import annotations

import argparse
import json
import sys

from sqlalchemy.orm import Session

from geodata import geoframes, indicators, store
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
