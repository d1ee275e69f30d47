"""How the cross-check's core scales: time and peak memory of matching + findings for 20k, 200k and 2M persons.

Register and checkpoint tables are made directly as DataFrames (no Excel, no store) with the shapes of a real
street — households of ~2.5 at walk-up flats, ~9% vacant flats, ~80% of households registering some members,
moved-away, new and changed households, name and ID typos, Excel-damaged IDs — and fed to
`geodata.reconcile.match_registrations` and `geodata.reconcile.cross_check`. Each size runs in its own process so
the peak resident memory (resource.getrusage) is that size's own.

    python benchmarks/reconcile_scale.py                 # 20k, 200k, 2M
    python benchmarks/reconcile_scale.py --sizes 20000 200000
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geodata import reconcile, schema  # noqa: E402

AS_OF = dt.date(2020, 3, 25)
SURNAMES = np.array(list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"))
GIVEN = np.array(list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华建国文辉鹏玉珍红梅志春海燕林云峰飞"))
TYPO = dict(zip("明华军伟英芳红建平丽静杰敏峰涛", "铭桦君玮瑛方宏健萍莉婧洁闵锋韬"))
WEIGHTS = np.array(schema.ID_WEIGHTS)
CHECK = np.array(list(schema.ID_CHECK_CHARS))


def _ids(n: int, rng: np.random.Generator, areas: tuple[str, ...] = ("320411", "320402", "320404", "320412",
                                                                       "340121", "411323")
         ) -> tuple[np.ndarray, np.ndarray]:
    """n distinct valid 18-character ID numbers (unique for n up to 30M per area code) and their birth dates."""
    order = rng.permutation(n)
    days = order % 30000                                   # birth dates 1935..2017
    seq = (order // 30000) % 1000
    area = np.array(areas)[(order // 30_000_000) % len(areas)]
    birth = (np.datetime64("1935-01-01") + days.astype("timedelta64[D]")).astype("datetime64[D]")
    ymd = np.char.replace(birth.astype(str), "-", "")
    body = np.char.add(np.char.add(area, ymd), np.char.zfill(seq.astype(str), 3))
    digits = np.frombuffer(body.astype("S17").tobytes(), dtype=np.uint8).reshape(n, 17) - 48
    return np.char.add(body, CHECK[(digits * WEIGHTS).sum(axis=1) % 11]), birth


def _names(n: int, rng: np.random.Generator) -> np.ndarray:
    names = np.char.add(SURNAMES[rng.integers(0, len(SURNAMES), n)], GIVEN[rng.integers(0, len(GIVEN), n)])
    two = rng.random(n) < 0.7
    return np.where(two, np.char.add(names, GIVEN[rng.integers(0, len(GIVEN), n)]), names)


def make_tables(n_persons: int, seed: int = 1) -> tuple[pd.DataFrame, ...]:
    """(flats, households, persons, registrations) of a synthetic street with about n_persons register persons."""
    rng = np.random.default_rng(seed)
    n_hh = int(n_persons / 2.5)
    n_flats = int(n_hh / 0.91)
    per_building = 6 * 3 * 2                               # floors x units x flats per floor
    f = np.arange(n_flats)
    b, rest = f // per_building + 1, f % per_building
    unit, rest = rest // 12 + 1, rest % 12
    room = (rest // 2 + 1) * 100 + rest % 2 + 1
    keys = np.char.add(np.char.add(np.char.add(b.astype(str), "-"), np.char.add(unit.astype(str), "-")),
                       room.astype(str))
    occupied = np.sort(rng.choice(n_flats, n_hh, replace=False))
    rented = rng.random(n_hh) < 0.2
    flats = pd.DataFrame({"flat_key": keys.astype(object), "flat_id": f + 1, "building": b.astype(str).astype(object),
                          "unit": unit, "room": room.astype(str).astype(object),
                          "residence_status": schema.RES_VACANT})
    flats.loc[occupied, "residence_status"] = np.where(rented, schema.RES_RENTED, schema.RES_OWNER)

    size = np.clip(rng.poisson(1.5, n_hh) + 1, 1, 6)
    n = int(size.sum())
    hh_of = np.repeat(np.arange(n_hh), size)
    first = np.r_[True, hh_of[1:] != hh_of[:-1]]
    names = _names(n, rng)
    ids, birth = _ids(n, rng)
    status = np.full(n, schema.ID_OK, dtype=object)
    r = rng.random(n)
    shown = ids.astype(object)
    excel = r < 0.03
    shown[excel] = np.char.add(np.char.ljust(ids[excel].astype("U15"), 15), "000")
    status[excel] = schema.ID_EXCEL_FLOAT
    bad = (r >= 0.03) & (r < 0.05)
    shown[bad] = np.char.add(ids[bad].astype("U17"), "0")
    status[bad & (shown != ids)] = schema.ID_BAD_CHECKSUM
    phone = np.char.add("13", np.char.zfill(rng.integers(0, 10**9, n).astype(str), 9)).astype(object)
    phone[rng.random(n) < 0.05] = None
    birth_raw = birth.astype(str).astype(object)
    shift = rng.random(n) < 0.01
    birth_raw[shift] = (birth[shift] + np.timedelta64(62, "D")).astype(str)
    heads = names[first]
    households = pd.DataFrame({"household_id": np.arange(n_hh) + 1, "flat_key": keys[occupied].astype(object),
                               "head_name": heads.astype(object),
                               "residence_status": np.where(rented, schema.RES_RENTED, schema.RES_OWNER),
                               "landlord": np.where(rented, "房东", None)})
    persons = pd.DataFrame({
        "person_id": np.arange(n) + 1, "household_id": hh_of + 1, "flat_key": keys[occupied][hh_of].astype(object),
        "name": names.astype(object), "id_number": shown, "id_status": status, "phone": phone, "phone2": None,
        "phone_raw": phone, "birth_date": pd.to_datetime(birth).date, "birth_raw": birth_raw,
        "political_status": np.where(rng.random(n) < 0.1, "01", "13").astype(object)})

    # Checkpoint: most households register some members; some moved away; new people at changed and vacant flats.
    fate = rng.random(n_hh)                                # < .15 moved away / did not register, < .2 replaced
    stay = fate[hh_of] >= 0.2
    pick = stay & ((rng.random(n) < 0.55) | first)
    cp_names = names[pick].astype(object)
    typo = rng.random(len(cp_names)) < 0.012
    cp_names[typo] = [s[:-1] + TYPO.get(s[-1], "明") for s in cp_names[typo]]
    cp_ids = ids[pick].astype(object)
    id_typo = rng.random(len(cp_ids)) < 0.01
    cp_ids[id_typo] = [s[:10] + str((int(s[10]) + 1) % 10) + s[11:] for s in cp_ids[id_typo]]
    cp_phone = phone[pick].copy()
    cp_phone[rng.random(len(cp_phone)) < 0.07] = "13900000000"
    role = np.where(first[pick], schema.CP_OWNER, schema.CP_FAMILY).astype(object)
    role[rented[hh_of[pick]]] = schema.CP_TENANT
    regs = [pd.DataFrame({"flat_key": keys[occupied][hh_of[pick]].astype(object), "name": cp_names,
                          "id_number": cp_ids, "id_status": np.where(id_typo, schema.ID_BAD_CHECKSUM, schema.ID_OK),
                          "phone": cp_phone, "role": role})]
    new_flats = np.r_[occupied[(fate >= 0.15) & (fate < 0.2)],
                      rng.choice(np.setdiff1d(f, occupied), int(0.06 * n_hh), replace=False)]
    m = len(new_flats) * 2
    new_ids, _ = _ids(m, np.random.default_rng(seed + 1), areas=("510921",))     # newcomers: another area
    regs.append(pd.DataFrame({"flat_key": np.repeat(keys[new_flats], 2).astype(object),
                              "name": _names(m, rng).astype(object), "id_number": new_ids.astype(object),
                              "id_status": schema.ID_OK, "phone": None,
                              "role": np.tile([schema.CP_OWNER, schema.CP_FAMILY], len(new_flats)).astype(object)}))
    registrations = pd.concat(regs, ignore_index=True)
    registrations.insert(0, "reg_id", np.arange(len(registrations)) + 1)
    registrations["in_community"] = True
    registrations.loc[rng.random(len(registrations)) < 0.003, "flat_key"] = None
    return flats, households, persons, registrations


def run_one(n_persons: int) -> dict:
    t0 = time.perf_counter()
    flats, households, persons, registrations = make_tables(n_persons)
    t1, c1 = time.perf_counter(), time.process_time()
    matches = reconcile.match_registrations(persons, registrations)
    t2 = time.perf_counter()
    found = reconcile.cross_check(flats, households, persons, registrations, matches, as_of=AS_OF)
    t3, c3 = time.perf_counter(), time.process_time()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"persons": len(persons), "registrations": len(registrations), "findings": len(found),
            "matched": int(matches["person_id"].notna().sum()), "make_s": t1 - t0, "match_s": t2 - t1,
            "findings_s": t3 - t2, "cpu_s": c3 - c1, "peak_mb": peak_kb / 1024}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="*", type=int, default=[20_000, 200_000, 2_000_000])
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one)))
        return 0
    print(f"{'persons':>10}{'registrations':>15}{'findings':>10}{'matched':>10}{'match s':>9}{'findings s':>12}"
          f"{'core s':>8}{'cpu s':>7}{'s / 100k':>10}{'peak MB':>9}")
    for size in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(size)], capture_output=True, text=True,
                             check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        core = r["match_s"] + r["findings_s"]
        print(f"{r['persons']:>10}{r['registrations']:>15}{r['findings']:>10}{r['matched']:>10}{r['match_s']:>9.1f}"
              f"{r['findings_s']:>12.1f}{core:>8.1f}{r['cpu_s']:>7.1f}{core / r['persons'] * 1e5:>10.2f}"
              f"{r['peak_mb']:>9.0f}")
    print("core s = wall time of match_registrations + cross_check (cpu s: their CPU time, less sensitive to a "
          "busy machine); peak MB = the process's peak resident memory, table generation included")
    return 0


if __name__ == "__main__":
    sys.exit(main())
