"""Quality of the cross-check, measured: precision and recall per finding category against the synthetic truth.

Builds the demo street (geodata.synthetic's raw files, imported through the loaders by loaders.demo.build_demo)
into a temporary SQLite store, runs `geodata.reconcile.reconcile` for each community and compares what it found
with each community's truth.json (flat findings by building/unit/room/category, person findings by
building/unit/room/name/category). Prints one table; `--show N` lists N disagreeing items per category.

    python benchmarks/reconcile_quality.py                  # 兰翔社区 + 百馨苑社区 (the noisiest)
    python benchmarks/reconcile_quality.py --all            # the whole street
    python benchmarks/reconcile_quality.py --show 5
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy.orm import Session  # noqa: E402

from geodata import reconcile, schema, store  # noqa: E402
from geodata.geoframes import community_by_name  # noqa: E402
from geodata.settings import load_settings  # noqa: E402
from loaders import demo  # noqa: E402

DEFAULT_ONLY = ("兰翔社区", "百馨苑社区")
#: Person categories the synthetic truth states (the others it cannot know: ambiguity is a property of the data).
TRUTH_PERSON = ("new_member", "id_at_two_flats", "id_corrupted", "id_invalid", "birth_date_mismatch", "missing_phone")


def truth_sets(truth: dict) -> tuple[set, set]:
    flat = {(f["building"], int(f["unit"]), f["room"], f["category"]) for f in truth["flat_findings"]}
    person = {(f["building"], int(f["unit"]), f["room"], f["name"], f["category"]) for f in truth["person_findings"]}
    return flat, person


def found_sets(found) -> tuple[set, set]:  # noqa: ANN001 - the run's findings frame
    flat, person = set(), set()
    for rec in found.itertuples(index=False):
        if rec.category in schema.FLAT_FINDINGS:
            flat.add((rec.building, int(rec.unit), rec.room, rec.category))
        elif rec.category in TRUTH_PERSON and isinstance(rec.building, str):
            person.add((rec.building, int(rec.unit), rec.room, rec.name, rec.category))
    return flat, person


def _align_typos(truth: set, found: set) -> set:
    """A person finding names the person as the checkpoint wrote them; truth has the true name. Count a typo'd
    name (`reconcile.similar_names`) at the same flat and category as the same finding."""
    missing = truth - found
    out = set()
    for item in found:
        if item in truth:
            out.add(item)
            continue
        twin = next((t for t in missing if t[:3] == item[:3] and t[4] == item[4]
                     and reconcile.similar_names(t[3], item[3])), None)
        out.add(twin or item)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--all", action="store_true", help="every community of the demo street")
    ap.add_argument("--only", nargs="*", default=list(DEFAULT_ONLY), help="communities to build")
    ap.add_argument("--show", type=int, default=0, help="list this many disagreements per category")
    ap.add_argument("--keep", help="build into this folder (kept) instead of a temporary one")
    args = ap.parse_args(argv)
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="gridmap_quality_"))
    tmp.mkdir(parents=True, exist_ok=True)
    settings = load_settings(db_url=f"sqlite:///{tmp / 'store.db'}", demo_dir=str(tmp / "demo"))
    engine = store.make_engine(settings.db_url)
    t0 = time.perf_counter()
    manifest = demo.build_demo(engine, settings, reset=True, only=None if args.all else args.only,
                               progress=lambda _m: None)
    print(f"demo built in {time.perf_counter() - t0:.0f} s ({tmp})")
    as_of = dt.date.fromisoformat(manifest.get("as_of", "2020-03-25"))

    tp, fp, fn = defaultdict(int), defaultdict(int), defaultdict(int)
    examples: dict[str, list[str]] = defaultdict(list)
    timings = []
    for c in manifest["communities"]:
        truth = json.loads((tmp / "demo" / c["truth"]).read_text(encoding="utf-8"))
        with Session(engine) as s:
            comm = community_by_name(s, c["name"])
            result = reconcile.reconcile(s, comm.id, as_of=as_of)
            s.rollback()          # measure only: the store keeps the findings build_demo wrote
        timings.append((c["name"], c["persons"], result.registrations, result.seconds))
        t_flat, t_person = truth_sets(truth)
        f_flat, f_person = found_sets(result.findings)
        f_person = _align_typos(t_person, f_person)
        for truth_set, found_set in ((t_flat, f_flat), (t_person, f_person)):
            for item in truth_set | found_set:
                cat = item[-1]
                if item in truth_set and item in found_set:
                    tp[cat] += 1
                elif item in found_set:
                    fp[cat] += 1
                    examples[cat].append(f"  FP {c['name']} {item}")
                else:
                    fn[cat] += 1
                    examples[cat].append(f"  FN {c['name']} {item}")
        other = result.findings[~result.findings["category"].isin(schema.FLAT_FINDINGS + TRUTH_PERSON)]
        for cat, n in other["category"].value_counts().items():
            tp.setdefault(cat, 0)
            fp[f"{cat} (not in truth)"] += int(n)

    print()
    print(f"{'category':<24}{'truth':>7}{'found':>7}{'TP':>7}{'FP':>6}{'FN':>6}{'precision':>11}{'recall':>8}")
    for cat in schema.FLAT_FINDINGS + TRUTH_PERSON:
        t, f = tp[cat] + fn[cat], tp[cat] + fp[cat]
        prec = tp[cat] / f if f else float("nan")
        rec = tp[cat] / t if t else float("nan")
        print(f"{cat:<24}{t:>7}{f:>7}{tp[cat]:>7}{fp[cat]:>6}{fn[cat]:>6}{prec:>11.3f}{rec:>8.3f}")
    for key in sorted(k for k in fp if k.endswith("(not in truth)")):
        print(f"{key:<38}{fp[key]:>7}")
    print()
    print(f"{'community':<12}{'persons':>9}{'registrations':>15}{'reconcile s':>13}")
    for name, persons, regs, secs in timings:
        print(f"{name:<12}{persons:>9}{regs:>15}{secs:>13.2f}")
    if args.show:
        for cat in schema.FLAT_FINDINGS + TRUTH_PERSON:
            if examples[cat]:
                print(f"\n{cat}:")
                print("\n".join(examples[cat][:args.show]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
