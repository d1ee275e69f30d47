"""How long the demo street takes to make and to load, and what it leaves on disk.

  generate_street   geodata.synthetic.generate_street alone: every community's raw files, into a temp folder
  build_demo        loaders.demo.build_demo into a fresh SQLite store (what `python -m geodata demo` runs),
                    split by its progress messages into generating the raw files and importing each community
                    (grids, buildings, register, checkpoint, reconciliation, history)
  store             the SQLite file and its WAL right after the load (engine still open, as a running app has
                    them), and the rows it holds: communities, households, persons

Prints one table. Machines are shared and noisy: the CPU column (this process only) is the steadier figure.

    python benchmarks/demo_load.py                        # the whole street
    python benchmarks/demo_load.py --only 兰翔社区          # one community (repeat --only for more)
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from geodata import models, store, synthetic  # noqa: E402
from geodata.settings import load_settings  # noqa: E402
from loaders import demo  # noqa: E402


class _Clock:
    """Wall and CPU time of each progress message build_demo sends."""

    def __init__(self) -> None:
        self.marks: list[tuple[float, float, str]] = []

    def __call__(self, message: str) -> None:
        self.marks.append((time.perf_counter(), time.process_time(), message))


def _pad(text: str, width: int) -> str:
    """`text` padded to `width` terminal columns (a Chinese character takes two)."""
    return text + " " * max(0, width - _cols(text))


def _cols(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _mb(path: Path) -> float:
    return path.stat().st_size / 2**20 if path.exists() else 0.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="only this community (repeatable); default: the whole street")
    args = ap.parse_args(argv)
    only = args.only

    rows: list[tuple[str, float, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="gridmap-demo-bench-") as tmp:
        root = Path(tmp)
        t0, c0 = time.perf_counter(), time.process_time()
        manifest = synthetic.generate_street(root / "raw-alone", only=only)
        files = sum(p.stat().st_size for p in (root / "raw-alone").rglob("*") if p.is_file())
        rows.append(("generate_street (alone)", time.perf_counter() - t0, time.process_time() - c0,
                     f"{len(manifest['communities'])} communities, {files / 2**20:.1f} MB of raw files"))

        db = root / "store.db"
        settings = load_settings(db_url=f"sqlite:///{db}", demo_dir=str(root / "raw"))
        engine = store.make_engine(settings.db_url)
        clock = _Clock()
        t0, c0 = time.perf_counter(), time.process_time()
        manifest = demo.build_demo(engine, settings, reset=True, only=only, progress=clock)
        t1, c1 = time.perf_counter(), time.process_time()
        # build_demo says: "generating…", then "[i/n] importing <name>" per community, then "loaded".
        starts = [m for m in clock.marks if m[2].startswith("[")]
        names = [c["name"] for c in manifest["communities"]]
        split = bool(clock.marks) and len(starts) == len(names)
        if split:
            gen = clock.marks[0]
            rows.append(("build_demo: migrate", gen[0] - t0, gen[1] - c0, "fresh store, newest schema"))
            rows.append(("build_demo: generate raw files", starts[0][0] - gen[0], starts[0][1] - gen[1], ""))
            ends = starts[1:] + [(t1, c1, "")]
            for name, c, (ws, cs, _), (we, ce, _) in zip(names, manifest["communities"], starts, ends):
                rows.append((f"  import {name}", we - ws, ce - cs,
                             f"{c['households']:,} households, {c['persons']:,} persons"))
            rows.append(("build_demo: import, all communities", t1 - starts[0][0], c1 - starts[0][1], ""))
        rows.append(("build_demo: total", t1 - t0, c1 - c0, "" if split else "(progress messages changed: no split)"))

        db_mb, wal_mb = _mb(db), _mb(Path(f"{db}-wal"))
        with Session(engine) as s:
            counts = {m.__tablename__: s.scalar(select(func.count()).select_from(m))
                      for m in (models.Community, models.Household, models.Person)}
        engine.dispose()

    width = max(_cols(r[0]) for r in rows)
    print(f"{_pad('step', width)} {'seconds':>8} {'cpu s':>7}  notes")
    print("-" * (width + 60))
    for label, secs, cpu, note in rows:
        print(f"{_pad(label, width)} {secs:8.1f} {cpu:7.1f}  {note}")
    print()
    print(f"store on disk: {db_mb + wal_mb:.1f} MB (db {db_mb:.1f} MB + wal {wal_mb:.1f} MB, engine still open)")
    print(f"rows: {counts['community']:,} communities, {counts['household']:,} households, "
          f"{counts['person']:,} persons")
    print("seconds: wall clock; cpu: this process only. One run: compare within it, not across machines.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
