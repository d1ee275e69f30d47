"""Our matcher against a general probabilistic linker: time and F1 of linking checkpoint registrations to register
persons, `geodata.reconcile.match_registrations` versus splink (Fellegi-Sunter, DuckDB backend), on the same street.

The street is built in memory by `geodata.synthetic` (no files, no store): by default the first eight communities of
the demo street (兰翔 … 安居, 61,338 register persons, 30,809 checkpoint rows: every register style and noise level),
`--all` for all twelve. Both linkers get the same inputs: every cell goes through the loaders' parsers
(`loaders.ids.check_id`, `loaders.phones.parse_phones`, `loaders.addresses.parse_address`, the register's
building/unit/room parsers) and registrations get their flat as `geodata.reconcile` places them. That shared
preparation is timed apart from both. Flat keys carry the community, so the whole street is one linkage task.

* ours: `match_registrations` on the frames (an ambiguous registration links nobody: it becomes a finding);
* splink 5: one comparison per field -- ID number (exact, Damerau-Levenshtein 1, same area + birth date (first 14
  characters), DL 2), name (exact with term frequencies, DL 1, same surname), phone (any of the register's numbers),
  flat (same flat, same stairwell, same building) -- and prediction blocking on ID, ID area + birth date, phone,
  name + building, flat. λ from the exact-ID rule (assumed recall 0.9), u by random sampling (`--u-pairs`, 1e7),
  m by EM blocked on ID, on name + building and on flat; predict above the lowest threshold, then each
  registration's best link at or above the threshold (a tie at the top links nobody). Training (including loading
  the tables into DuckDB) and prediction (including the best-link step) are timed separately.

Scored against `CommunityModel.checkpoint_links` (each checkpoint row's true register person, or none): precision,
recall and F1 of the (registration, person) links, and for kinds of records (typos, damaged IDs, people at another
flat, newcomers …) the rows each method gets wrong.

    pip install -r benchmarks/requirements.txt            # splink (brings DuckDB); not needed by the product
    python benchmarks/reconcile_vs_splink.py              # 8 communities, splink threshold 0.9
    python benchmarks/reconcile_vs_splink.py --all --threshold 0.5
    python benchmarks/reconcile_vs_splink.py --communities 兰翔社区 汇景社区 --show 5
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geodata import reconcile, schema, synthetic  # noqa: E402
from geodata.access import mask_id  # noqa: E402
from loaders import tables  # noqa: E402
from loaders.addresses import parse_address, parse_building_no, parse_room, parse_unit  # noqa: E402
from loaders.ids import check_id  # noqa: E402
from loaders.phones import parse_phones  # noqa: E402

#: The first eight communities of the street plan: 61,338 register persons.
DEFAULT_COMMUNITIES = ("兰翔社区", "河海社区", "新桥社区", "百馨苑社区", "锦绣社区", "紫薇社区", "丽园社区", "安居社区")
#: Splink thresholds reported besides the chosen one (one prediction serves them all).
SWEEP = (0.5, 0.9, 0.99)
#: Kinds of checkpoint rows the error breakdown counts (a row may be of several).
KINDS = ("clean", "not on register", "outside community", "other flat than register", "address unplaced",
         "name typo", "checkpoint ID typo", "register ID damaged", "register ID 15-digit", "phone changed/none")
_DAMAGED = (schema.ID_EXCEL_FLOAT, schema.ID_BAD_CHECKSUM, schema.ID_BAD_DATE, schema.ID_BAD_FORMAT,
            schema.ID_MISSING)


@dataclasses.dataclass(frozen=True)
class Street:
    """The linkage task: register persons and checkpoint registrations as `geodata.reconcile` frames, the true
    links (reg_id, person_id) and each registration's kinds (a boolean column per KINDS)."""

    persons: pd.DataFrame        # reconcile.PERSON_COLUMNS' matching part + community
    registrations: pd.DataFrame  # reconcile.REGISTRATION_COLUMNS
    truth: pd.DataFrame          # reg_id, person_id (Int64, NA: not on the register)
    kinds: pd.DataFrame          # reg_id + one bool column per KINDS
    communities: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Score:
    """Counts of right (tp), spurious or wrong (fp) and missed or wrong (fn) links."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp + self.fp + self.fn else float("nan")


def score(predicted: pd.DataFrame, truth: pd.DataFrame) -> Score:
    """Pairwise precision/recall/F1 of predicted (reg_id, person_id) links against the true ones. Rows with a missing
    person_id are no link; a registration linked to the wrong person counts once as FP and once as FN."""
    def pairs(frame: pd.DataFrame) -> set[tuple[int, int]]:
        linked = frame.dropna(subset=["person_id"])
        return set(zip(linked["reg_id"].astype(int).tolist(), linked["person_id"].astype(int).tolist()))
    p, t = pairs(predicted), pairs(truth)
    return Score(tp=len(p & t), fp=len(p - t), fn=len(t - p))


def wrong(predicted: pd.DataFrame, truth: pd.DataFrame) -> pd.Series:
    """Per registration of `truth` (index reg_id): True where the predicted person differs from the true one
    (a missed, spurious or wrong link)."""
    t = truth.set_index("reg_id")["person_id"].astype("Int64")
    p = predicted.dropna(subset=["person_id"]).set_index("reg_id")["person_id"].astype("Int64")
    p = p.reindex(t.index)
    return ~((p == t).fillna(False) | (p.isna() & t.isna())).astype(bool)


# --- The street, in memory --------------------------------------------------------------------------------------
def street_frames(names: Sequence[str]) -> Street:
    """Build the named communities and turn their rows into the core's frames, as the loaders would read them."""
    plans = [p for p in synthetic.plan_street() if p.name in set(names)]
    unknown = sorted(set(names) - {p.name for p in plans})
    if unknown:
        raise ValueError(f"--communities: expected names from {[p.name for p in synthetic.plan_street()]}, "
                         f"got {unknown}")
    persons, regs, truth, kinds = [], [], [], []
    next_person = next_reg = 1
    for plan in plans:
        model = synthetic.build_community(plan)
        tag = plan.abbr
        # Register persons.
        person_id: dict[int, int] = {}
        register_flat: dict[int, str] = {}
        id_status: dict[int, str] = {}
        for i, row in enumerate(model.register_rows):
            building = parse_building_no(row[schema.BUILDING])
            unit, room = parse_unit(row[schema.UNIT]), parse_room(row[schema.ROOM])
            if building is None or room is None or unit is None:
                continue                                  # the loader quarantines such a row
            idc = check_id(row[schema.ID_NUMBER])
            phones = parse_phones(row[schema.PHONE]).numbers
            key = reconcile.flat_key(f"{tag}{building}", unit, room[0])
            person_id[i], register_flat[i], id_status[i] = next_person, key, idc.status
            persons.append({"person_id": next_person, "community": plan.name, "flat_key": key,
                            "name": tables.cell_text(row[schema.NAME]), "id_number": idc.value,
                            "id_status": idc.status,
                            "phone": phones[0] if phones else None, "phone2": phones[1] if len(phones) > 1 else None})
            next_person += 1
        # Checkpoint registrations.
        buildings = {str(b.number): (b.floors, b.units) for b in model.geometry.buildings}
        noise: dict[int, set[str]] = {}
        for item in model.truth["checkpoint_noise"]:
            noise.setdefault(item["seq"], set()).add(item["kind"])
        for row, link in zip(model.checkpoint_rows, model.checkpoint_links()):
            idc = check_id(row[schema.ID_NUMBER])
            phones = parse_phones(row[schema.PHONE]).numbers
            addr = parse_address(row[schema.ADDRESS], (plan.compound,))
            inside = not (addr.compound and addr.compound != plan.compound)
            key = reconcile._registration_key(SimpleNamespace(
                in_community=inside, building_no=addr.building, unit=addr.unit, room=addr.room, flat_id=None),
                {}, buildings)
            key = f"{tag}{key}" if key else None
            role = schema.CP_ROLE_SYNONYMS.get((tables.cell_text(row[schema.CP_ROLE]) or "").replace(" ", ""))
            regs.append({"reg_id": next_reg, "flat_key": key, "name": tables.cell_text(row[schema.NAME]),
                         "id_number": idc.value, "id_status": idc.status, "phone": phones[0] if phones else None,
                         "role": role, "in_community": inside})
            true_person = person_id.get(link) if link is not None else None
            truth.append({"reg_id": next_reg, "person_id": true_person})
            seq_noise = noise.get(row[schema.SEQ], set())
            kind = {
                "not on register": true_person is None,
                "outside community": not inside,
                "other flat than register": true_person is not None and key is not None
                and register_flat[link] != key,
                "address unplaced": inside and key is None,
                "name typo": "name_typo" in seq_noise,
                "checkpoint ID typo": "id_typo" in seq_noise,
                "register ID damaged": true_person is not None and id_status[link] in _DAMAGED,
                "register ID 15-digit": true_person is not None and id_status[link] == schema.ID_UPGRADED_15,
                "phone changed/none": "phone_changed" in seq_noise or not phones,
            }
            kind["clean"] = not any(kind.values())
            kinds.append({"reg_id": next_reg, **kind})
            next_reg += 1
    truth_frame = pd.DataFrame(truth)
    truth_frame["person_id"] = truth_frame["person_id"].astype("Int64")
    regs_frame = pd.DataFrame(regs)
    regs_frame["in_community"] = regs_frame["in_community"].astype(bool)
    return Street(pd.DataFrame(persons), regs_frame, truth_frame, pd.DataFrame(kinds)[["reg_id", *KINDS]],
                  tuple(p.name for p in plans))


# --- The two linkers ------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Run:
    """One linker's links (reg_id, person_id) and its wall and CPU seconds for training and for prediction."""

    label: str
    links: pd.DataFrame
    train: tuple[float, float]
    predict: tuple[float, float]


class _Clock:
    """Wall and CPU seconds since the last lap."""

    def __init__(self) -> None:
        self._t, self._c = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        t, c = time.perf_counter(), time.process_time()
        out = (t - self._t, c - self._c)
        self._t, self._c = t, c
        return out


def run_ours(street: Street, *, repeat: int = 3, storage: str | None = None) -> tuple[Run, pd.DataFrame]:
    """`match_registrations` on the street's frames (fastest of `repeat` runs) and its matches. `storage` sets
    pandas' string storage ('python' / 'pyarrow') for the run; None keeps the default."""
    best: tuple[float, float] | None = None
    with pd.option_context("mode.string_storage", storage or pd.get_option("mode.string_storage")):
        for _ in range(repeat):
            clock = _Clock()
            matches = reconcile.match_registrations(street.persons, street.registrations)
            lap = clock.lap()
            best = lap if best is None or lap[0] < best[0] else best
    assert best is not None
    label = "ours" + (f" (pandas str on {storage})" if storage else "")
    return Run(label, matches[["reg_id", "person_id"]], (0.0, 0.0), best), matches


def splink_tables(street: Street) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The columns splink compares, from the shared frames: normalised name, ID, ID area + birth date (first 14
    characters of an 18-character ID), the phone numbers as a list, flat, stairwell and building."""
    def columns(frame: pd.DataFrame, uid: str, phones: Iterable[Iterable[Any]]) -> pd.DataFrame:
        ids = frame["id_number"].astype(object)
        flat = frame["flat_key"].astype(object)
        parts = flat.where(flat.notna(), "").astype(str).str.rsplit("-", n=2, expand=True)
        out = pd.DataFrame({
            "unique_id": frame[uid].astype("int64"),
            "name": [reconcile.normalise_name(n) or None for n in frame["name"]],
            "id_number": ids.where(ids.notna(), None),
            "id14": [i[:14] if isinstance(i, str) and len(i) == 18 else None for i in ids],
            "phones": [[x for x in ph if isinstance(x, str)] or None for ph in phones],
            "flat_key": flat.where(flat.notna(), None),
            "stair": (parts[0] + "-" + parts[1]).where(flat.notna(), None),
            "building": parts[0].where(flat.notna(), None),
        })
        text = [c for c in out.columns if c != "unique_id"]
        out[text] = out[text].astype(object)
        return out.assign(**{c: out[c].where(out[c].notna(), None) for c in text})   # NULL in DuckDB, not NaN
    p, r = street.persons, street.registrations
    return (columns(p, "person_id", zip(p["phone"], p["phone2"])),
            columns(r, "reg_id", ([x] for x in r["phone"])))


def splink_settings() -> Any:
    """The splink model: one comparison per field, prediction blocking on ID, ID prefix, phone, name + building and
    flat."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    id_number = cl.CustomComparison(output_column_name="id_number", comparison_levels=[
        cll.NullLevel("id_number"),
        cll.ExactMatchLevel("id_number"),
        cll.DamerauLevenshteinLevel("id_number", 1),
        cll.ExactMatchLevel("id14").configure(label_for_charts="same area + birth date (first 14)"),
        cll.DamerauLevenshteinLevel("id_number", 2),
        cll.ElseLevel()])
    name = cl.CustomComparison(output_column_name="name", comparison_levels=[
        cll.NullLevel("name"),
        cll.ExactMatchLevel("name", term_frequency_adjustments=True),
        cll.DamerauLevenshteinLevel("name", 1),
        cll.CustomLevel("substr(name_l, 1, 1) = substr(name_r, 1, 1)", label_for_charts="same surname"),
        cll.ElseLevel()])
    flat = cl.CustomComparison(output_column_name="flat_key", comparison_levels=[
        cll.NullLevel("flat_key"),
        cll.ExactMatchLevel("flat_key"),
        cll.ExactMatchLevel("stair").configure(label_for_charts="same stairwell"),
        cll.ExactMatchLevel("building").configure(label_for_charts="same building"),
        cll.ElseLevel()])
    return SettingsCreator(
        link_type="link_only",
        comparisons=[id_number, name, cl.ArrayIntersectAtSizes("phones", [1]), flat],
        blocking_rules_to_generate_predictions=[
            block_on("id_number"), block_on("id14"), block_on("phones", arrays_to_explode=["phones"]),
            block_on("name", "building"), block_on("flat_key")],
    )


def run_splink(street: Street, thresholds: Sequence[float], *, u_pairs: float = 1e7, seed: int = 1
               ) -> tuple[list[Run], int]:
    """splink trained on the street (λ, u, m), one prediction at the lowest threshold, and each threshold's best
    links; also the number of scored pairs."""
    import logging

    from splink import DuckDBAPI, Linker, block_on

    clock = _Clock()
    register, checkpoint = splink_tables(street)
    db = DuckDBAPI()
    linker = Linker([db.register(register, dataset_display_name="register"),
                     db.register(checkpoint, dataset_display_name="checkpoint")],
                    splink_settings(), log_level=logging.ERROR)
    training = linker.training
    training.estimate_probability_two_random_records_match([block_on("id_number")], recall=0.9)
    training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=seed)
    for rule in (block_on("id_number"), block_on("name", "building"), block_on("flat_key")):
        training.estimate_parameters_using_expectation_maximisation(rule)
    train = clock.lap()
    pairs = linker.inference.predict(threshold_match_probability=min(thresholds)).as_pandas_dataframe()
    predict = clock.lap()
    runs = []
    for threshold in thresholds:
        links = best_links(pairs, threshold)
        best = clock.lap()
        runs.append(Run(f"splink p ≥ {threshold:g}", links, train,
                        (predict[0] + best[0], predict[1] + best[1])))
    return runs, len(pairs)


def best_links(pairs: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """(reg_id, person_id) of each registration's most probable register person at or above `threshold`; a tie at
    the top links nobody. `pairs` is splink's prediction (either side may be the checkpoint's)."""
    left_is_cp = (pairs["source_dataset_l"] == "checkpoint").to_numpy()
    frame = pd.DataFrame({
        "reg_id": np.where(left_is_cp, pairs["unique_id_l"], pairs["unique_id_r"]).astype("int64"),
        "person_id": np.where(left_is_cp, pairs["unique_id_r"], pairs["unique_id_l"]).astype("int64"),
        "p": pairs["match_probability"].to_numpy()})
    frame = frame[frame["p"] >= threshold]
    best = frame[frame["p"] == frame.groupby("reg_id")["p"].transform("max")]
    best = best[~best["reg_id"].duplicated(keep=False)]
    return best[["reg_id", "person_id"]].reset_index(drop=True)


# --- Report -----------------------------------------------------------------------------------------------------
def _describe(street: Street, reg_id: int, person_id: Any) -> str:
    r = street.registrations.set_index("reg_id").loc[reg_id]
    text = f"reg {reg_id} {r['name']} {mask_id(r['id_number'])} {r['id_status']} {r['flat_key']}"
    if pd.notna(person_id):
        p = street.persons.set_index("person_id").loc[int(person_id)]
        text += f" -> {p['name']} {mask_id(p['id_number'])} {p['id_status']} {p['flat_key']}"
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--communities", nargs="*", default=list(DEFAULT_COMMUNITIES), help="communities of the street")
    ap.add_argument("--all", action="store_true", help="all twelve communities")
    ap.add_argument("--threshold", type=float, default=0.9, help="splink's match probability threshold (0.9)")
    ap.add_argument("--u-pairs", type=float, default=1e7, help="pairs splink samples to estimate u (1e7)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of our matcher; the fastest counts (3)")
    ap.add_argument("--show", type=int, default=0, help="list this many wrong links per method")
    args = ap.parse_args(argv)
    names = [p.name for p in synthetic.plan_street()] if args.all else args.communities
    if importlib.util.find_spec("splink") is None:
        print("splink is not installed: pip install -r benchmarks/requirements.txt", file=sys.stderr)
        return 2

    clock = _Clock()
    try:
        street = street_frames(names)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    prep = clock.lap()
    n_true = int(street.truth["person_id"].notna().sum())
    print(f"street: {len(street.communities)} communities ({'、'.join(street.communities)}); "
          f"{len(street.persons):,} register persons, {len(street.registrations):,} checkpoint registrations, "
          f"{n_true:,} of them on the register; shared preparation (parsers, flat placement) {prep[0]:.1f} s")

    # pandas backs its string dtype with pyarrow when pyarrow is installed (splink brings it); the product's
    # requirements do not include it. Time our matcher both ways when both exist, and count the slower.
    storages: tuple[str | None, ...] = ("python", "pyarrow") if importlib.util.find_spec("pyarrow") else (None,)
    ours_runs = [run_ours(street, repeat=args.repeat, storage=storage) for storage in storages]
    matches = ours_runs[0][1]
    if any(score(r.links, ours_runs[0][0].links).f1 != 1 for r, _ in ours_runs[1:]):
        print("warning: our matcher's links differ between pandas string storages")
    runs = [r for r, _ in ours_runs]
    ours = max(runs, key=lambda r: r.predict[0])
    thresholds = sorted(set(SWEEP) | {args.threshold})
    splink_runs, n_pairs = run_splink(street, thresholds, u_pairs=args.u_pairs)
    runs += splink_runs
    chosen = next(r for r in splink_runs if r.label == f"splink p ≥ {args.threshold:g}")

    print()
    print(f"{'method':<34}{'train s':>9}{'predict s':>11}{'total s':>9}{'cpu s':>8}{'links':>8}{'precision':>11}"
          f"{'recall':>8}{'F1':>8}")
    for run in runs:
        s = score(run.links, street.truth)
        total = run.train[0] + run.predict[0]
        train = f"{run.train[0]:.2f}" if run.train[0] else "-"
        print(f"{run.label:<34}{train:>9}{run.predict[0]:>11.2f}{total:>9.2f}"
              f"{run.train[1] + run.predict[1]:>8.2f}{s.tp + s.fp:>8}{s.precision:>11.4f}{s.recall:>8.4f}"
              f"{s.f1:>8.4f}")
    ours_s, splink_s = score(ours.links, street.truth), score(chosen.links, street.truth)
    ours_t, splink_t = ours.predict[0], chosen.train[0] + chosen.predict[0]
    ours_c, splink_c = ours.predict[1], chosen.train[1] + chosen.predict[1]
    print(f"ours: {int(matches['ambiguous'].sum())} ambiguous registrations (no link, a finding); splink scored "
          f"{n_pairs:,} pairs at p ≥ {min(thresholds):g}; train = load + λ + u ({args.u_pairs:.0e} pairs) + EM "
          "(3 blockings); predict = scoring + best link; cpu s = process CPU time (DuckDB's threads included)")
    print(f"splink / {ours.label}: total {splink_t / ours_t:.0f}× wall, {splink_c / ours_c:.0f}× cpu; predict alone "
          f"{chosen.predict[0] / ours_t:.1f}× wall, {chosen.predict[1] / ours_c:.1f}× cpu")
    print(f"goal (F1 ≥ splink's at p ≥ {args.threshold:g} and ≥ 10× faster than its training + prediction): "
          f"{'met' if ours_s.f1 >= splink_s.f1 and min(splink_t / ours_t, splink_c / ours_c) >= 10 else 'NOT met'}")
    print()
    kinds = street.kinds.set_index("reg_id")
    wrong_of = {run.label: wrong(run.links, street.truth) for run in (ours, chosen)}
    print(f"{'kind of registration':<28}{'rows':>7}{'ours wrong':>12}{chosen.label + ' wrong':>24}")
    for kind in KINDS:
        mask = kinds[kind]
        print(f"{kind:<28}{int(mask.sum()):>7}{int((wrong_of[ours.label] & mask).sum()):>12}"
              f"{int((wrong_of[chosen.label] & mask).sum()):>24}")
    print("wrong = linked to another person than the true one, or not linked though on the register, or linked "
          "though not on it")
    if args.show:
        truth = street.truth.set_index("reg_id")["person_id"]
        for run in (ours, chosen):
            got = run.links.dropna(subset=["person_id"]).set_index("reg_id")["person_id"]
            bad = wrong_of[run.label]
            print(f"\n{run.label}: {int(bad.sum())} wrong")
            for reg_id in bad[bad].index[:args.show]:
                print(f"  got  {_describe(street, reg_id, got.get(reg_id))}")
                print(f"  true {_describe(street, reg_id, truth.get(reg_id))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
