"""The scoring of benchmarks/reconcile_vs_splink.py on tiny hand-made links, so its F1 cannot silently be wrong;
and the splink model it configures, on a few rows (skipped without splink)."""
from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pandas as pd
import pytest

from geodata import reconcile, schema

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
bench = importlib.import_module("reconcile_vs_splink")


def links(pairs: list[tuple[int, int | None]]) -> pd.DataFrame:
    return pd.DataFrame({"reg_id": [r for r, _ in pairs],
                         "person_id": pd.Series([p for _, p in pairs], dtype="Int64")})


TRUTH = links([(1, 10), (2, 20), (3, None), (4, 40), (5, 50)])


def test_score_counts_right_wrong_missed_and_spurious_links() -> None:
    # 1 right; 2 linked to the wrong person (FP + FN); 3 linked though nobody (FP); 4 missed (FN); 5 right.
    got = links([(1, 10), (2, 21), (3, 30), (4, None), (5, 50)])
    s = bench.score(got, TRUTH)
    assert (s.tp, s.fp, s.fn) == (2, 2, 2)
    assert s.precision == pytest.approx(2 / 4) and s.recall == pytest.approx(2 / 4)
    assert s.f1 == pytest.approx(2 * 2 / (2 * 2 + 2 + 2))
    assert list(bench.wrong(got, TRUTH)) == [False, True, True, True, False]


def test_score_perfect_empty_and_missing_rows() -> None:
    assert bench.score(TRUTH, TRUTH).f1 == 1.0
    assert list(bench.wrong(TRUTH, TRUTH)) == [False] * 5
    nothing = bench.score(links([]), TRUTH)
    assert (nothing.tp, nothing.fp, nothing.fn) == (0, 0, 4) and nothing.f1 == 0.0 and math.isnan(nothing.precision)
    # Registrations absent from the prediction are "no link".
    partial = links([(1, 10), (5, 50)])
    assert bench.score(partial, TRUTH).recall == pytest.approx(2 / 4)
    assert list(bench.wrong(partial, TRUTH)) == [False, True, False, True, False]


def test_best_links_takes_the_top_pair_above_threshold_and_drops_ties() -> None:
    pairs = pd.DataFrame({
        "source_dataset_l": ["checkpoint", "register", "checkpoint", "checkpoint", "checkpoint", "register"],
        "unique_id_l": [1, 10, 2, 2, 3, 40],
        "unique_id_r": [11, 1, 20, 21, 30, 4],
        "match_probability": [0.6, 0.95, 0.97, 0.97, 0.4, 0.99]})
    got = bench.best_links(pairs, 0.5)
    assert sorted(zip(got["reg_id"], got["person_id"])) == [(1, 10), (4, 40)]     # 2: a tie; 3: below
    assert sorted(zip(*bench.best_links(pairs, 0.3).T.values)) == [(1, 10), (3, 30), (4, 40)]


def _tiny_street() -> bench.Street:
    persons = pd.DataFrame({
        "person_id": [1, 2, 3], "community": "甲", "flat_key": ["A1-1-101", "A1-1-101", "A2-1-201"],
        "name": ["张伟明", "李芳", "王强"],
        "id_number": ["320411195203120017", "32041119800101002X", None],
        "id_status": [schema.ID_OK, schema.ID_OK, schema.ID_MISSING],
        "phone": ["13812345678", None, "051981234567"], "phone2": [None, None, None]})
    regs = pd.DataFrame({
        "reg_id": [1, 2, 3], "flat_key": ["A1-1-101", "A1-1-101", None], "name": ["张玮明", "李芳", "赵六"],
        "id_number": ["320411195203120017", "32041119800101002X", "510921199001010011"],
        "id_status": schema.ID_OK, "phone": ["13812345678", None, None], "role": schema.CP_OWNER,
        "in_community": [True, True, False]})
    truth = links([(1, 1), (2, 2), (3, None)])
    return bench.Street(persons, regs, truth, pd.DataFrame({"reg_id": [1, 2, 3]}), ("甲",))


def test_our_matcher_scores_perfectly_on_the_tiny_street() -> None:
    street = _tiny_street()
    matches = reconcile.match_registrations(street.persons, street.registrations)
    assert bench.score(matches[["reg_id", "person_id"]], street.truth).f1 == 1.0


@pytest.mark.skipif(importlib.util.find_spec("splink") is None, reason="splink not installed "
                    "(pip install -r benchmarks/requirements.txt)")
def test_splink_model_scores_the_tiny_street() -> None:
    import logging

    from splink import DuckDBAPI, Linker

    street = _tiny_street()
    register, checkpoint = bench.splink_tables(street)
    assert list(register["id14"]) == ["32041119520312", "32041119800101", None]
    assert list(register["stair"]) == ["A1-1", "A1-1", "A2-1"] and checkpoint["building"].tolist()[2] is None
    db = DuckDBAPI()
    linker = Linker([db.register(register, dataset_display_name="register"),
                     db.register(checkpoint, dataset_display_name="checkpoint")],
                    bench.splink_settings(), log_level=logging.ERROR)
    pairs = linker.inference.predict(warning_mode="never").as_pandas_dataframe()
    best = bench.best_links(pairs, 0.0)
    assert set(zip(best["reg_id"], best["person_id"])) == {(1, 1), (2, 2)}
