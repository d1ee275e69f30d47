"""The shortcuts that make a large register import fast give what the general code gives."""
from __future__ import annotations

import random

from sqlalchemy import delete
from sqlalchemy.orm import Session

from geodata import models, schema, store
from loaders.ids import check_char, check_id
from loaders.phones import PHONE_OK, PhoneCheck, parse_phones
from tests.test_store import _sample


def test_check_char_is_the_weighted_digit_sum():
    rng = random.Random(7)
    for _ in range(2000):
        first17 = "".join(rng.choice("0123456789") for _ in range(17))
        total = sum(int(d) * w for d, w in zip(first17, schema.ID_WEIGHTS))
        assert check_char(first17) == schema.ID_CHECK_CHARS[total % 11]
    assert check_id("11010519491231002X").status == schema.ID_OK


def test_plain_mobile_cells_as_text_and_numbers():
    for raw in ("13812345678", 13812345678, 13812345678.0):
        assert parse_phones(raw) == PhoneCheck("13812345678", ("13812345678",), (), PHONE_OK, "")


def test_mobile_cells_needing_normalisation_keep_their_raw_text():
    # full-width digits, surrounding blanks: the number is normalised, the raw text kept
    for raw in ("１３８１２３４５６７８", " 13812345678\n", "138-1234-5678"):
        assert parse_phones(raw) == PhoneCheck(raw, ("13812345678",), (), PHONE_OK, "")
    assert parse_phones("12812345678").status != PHONE_OK           # no 12x mobile numbers
    assert parse_phones("138123456789").status != PHONE_OK          # one digit too many


def test_bulk_insert_ids_after_the_largest_was_deleted(db_url):
    """SQLite reuses the id of a deleted last row; the ids returned are still those the rows got."""
    engine = store.open_store(db_url)
    with store.session_scope(engine) as s:
        flat_id = _sample(s).household.flat_id
        s.add_all(models.Household(flat_id=flat_id, head_name=f"旧{k}") for k in range(3))
    with store.session_scope(engine) as s:
        s.execute(delete(models.Household).where(models.Household.head_name == "旧2"))
        rows = [{"flat_id": flat_id, "head_name": f"新{k}", "residence_status": None, "landlord": None}
                for k in range(5)]
        ids = store.bulk_insert(s, models.Household.__table__, rows, ("flat_id", "head_name"))
    with Session(engine) as s:
        assert {(flat_id, s.get(models.Household, i).head_name): i for i in ids.values()} == ids
        assert len(ids) == 5
