"""Tests of loaders.ids: GB 11643-1999 check characters, normalisation and Excel damage."""
from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from geodata import schema
from loaders.ids import IdCheck, check_char, check_id, make_id, normalise_id

TODAY = datetime.date(2024, 6, 1)
# The worked example of GB 11643-1999 and its 15-digit form.
STANDARD_ID = "11010519491231002X"
STANDARD_ID_15 = "110105491231002"

areas = st.sampled_from(["320411", "320405", "320402", "110105", "440524", "510107"])
births = st.dates(min_value=datetime.date(1900, 1, 1), max_value=TODAY)
seqs = st.integers(min_value=0, max_value=999)


def test_check_char_of_the_standard_example() -> None:
    assert check_char(STANDARD_ID[:17]) == "X"
    assert check_char("44052418800101001") == "4"


@pytest.mark.parametrize("bad", ["1234", "1101051949123100X", "１１０１０５１９４９１２３１００２", ""])
def test_check_char_rejects_non_digits(bad: str) -> None:
    with pytest.raises(ValueError):
        check_char(bad)


def test_normalise_id() -> None:
    assert normalise_id("１１０１０５１９４９１２３１００２ｘ") == STANDARD_ID
    assert normalise_id(" 110105 19491231 002x\t") == STANDARD_ID
    assert normalise_id("'11010519491231002X") == STANDARD_ID
    assert normalise_id("\u3000" + STANDARD_ID) == STANDARD_ID


def test_ok_id_gives_birth_date_and_sex() -> None:
    r = check_id(STANDARD_ID, today=TODAY)
    assert r == IdCheck(STANDARD_ID, STANDARD_ID, schema.ID_OK, datetime.date(1949, 12, 31),
                        schema.SEX_FEMALE, "")
    male = make_id("320411", datetime.date(1952, 3, 12), 1)
    assert check_id(male, today=TODAY).sex == schema.SEX_MALE


def test_lowercase_x_and_full_width_are_normalised_but_raw_is_kept() -> None:
    raw = "１１０１０５１９４９１２３１００２ｘ"
    r = check_id(raw, today=TODAY)
    assert (r.raw, r.value, r.status) == (raw, STANDARD_ID, schema.ID_OK)


def test_obsolete_area_code_is_accepted() -> None:
    value = make_id("320405", datetime.date(1950, 1, 1), 123)
    assert check_id(value, today=TODAY).status == schema.ID_OK


def test_15_digit_id_is_upgraded() -> None:
    r = check_id(STANDARD_ID_15, today=TODAY)
    assert r.status == schema.ID_UPGRADED_15
    assert r.value == STANDARD_ID
    assert r.raw == STANDARD_ID_15
    assert r.birth_date == datetime.date(1949, 12, 31)
    assert r.sex == schema.SEX_FEMALE
    assert r.message


@pytest.mark.parametrize("raw", [
    320411195203120011,                 # int: Excel number, 18 digits
    3.20411195203121e17,                # float as openpyxl returns it
    Decimal("320411195203120011"),
    "3.20411E+17",                      # what a CSV of a mangled sheet shows
    "3.2041119520312E+17",
    "3.20411e17",
    "320411195203121000",               # 18 digits ending in 000 with a failing checksum
    "320411195203121000.0",
])
def test_excel_damage_is_flagged_not_fixed(raw: object) -> None:
    r = check_id(raw, today=TODAY)
    assert r.status == schema.ID_EXCEL_FLOAT
    assert r.birth_date is None and r.sex is None
    assert "Excel" in r.message
    assert r.raw is not None and r.value is not None


def test_15_digit_id_stored_as_a_number_is_intact() -> None:
    # Excel keeps 15 significant digits: an old 15-digit ID typed as a number lost nothing.
    r = check_id(int(STANDARD_ID_15), today=TODAY)
    assert r.status == schema.ID_UPGRADED_15 and r.value == STANDARD_ID
    assert check_id(float(STANDARD_ID_15), today=TODAY).status == schema.ID_UPGRADED_15


def test_excel_float_shows_the_number_as_excel_does() -> None:
    r = check_id(3.20411195203121e17, today=TODAY)
    assert r.raw == r.value == "320411195203121000"
    assert check_id(320411195203120011, today=TODAY).raw == "320411195203120011"


def test_valid_id_ending_in_000_is_not_excel_damage() -> None:
    first17 = next(f"32041119520312{s:03d}" for s in range(0, 1000, 1)
                   if check_char(f"32041119520312{s:03d}") == "0" and f"{s:03d}".endswith("00"))
    assert check_id(first17 + "0", today=TODAY).status == schema.ID_OK


def test_id_ending_in_000_with_a_male_row_is_flagged_as_excel_damage() -> None:
    """The 17th digit of an ID Excel cut to 15 digits is 0 (female): a row saying 男 exposes the damage even when the
    check character happens to fit. A female row, or none, leaves a valid ID valid: nothing is guessed."""
    first17 = next(f"32041119520312{s:03d}" for s in range(0, 1000, 100) if check_char(f"32041119520312{s:03d}") == "0")
    value = first17 + "0"
    male = check_id(value, today=TODAY, sex=schema.SEX_MALE)
    assert (male.status, male.value, male.raw, male.birth_date) == (schema.ID_EXCEL_FLOAT, value, value, None)
    assert "000" in male.message and "Excel" in male.message
    assert check_id(value, today=TODAY, sex=schema.SEX_FEMALE).status == schema.ID_OK
    assert check_id(value, today=TODAY).status == schema.ID_OK
    # an ordinary male ID is untouched by the rule
    assert check_id(make_id("320411", datetime.date(1952, 3, 12), 11), today=TODAY, sex=schema.SEX_MALE).status == \
        schema.ID_OK


def test_bad_checksum() -> None:
    good = make_id("320411", datetime.date(1952, 3, 12), 1)
    bad = good[:17] + ("1" if good[17] != "1" else "2")
    r = check_id(bad, today=TODAY)
    assert r.status == schema.ID_BAD_CHECKSUM
    assert r.message == "身份证校验位错误"
    assert r.value == bad
    assert r.birth_date == datetime.date(1952, 3, 12)


@pytest.mark.parametrize("first17", [
    "32041119520230001",    # 30 February
    "32041120991231001",    # future
    "44052418800101001",    # before 1900 (the standard's second example)
    "32041119521301001",    # month 13
])
def test_bad_date(first17: str) -> None:
    r = check_id(first17 + check_char(first17), today=TODAY)
    assert r.status == schema.ID_BAD_DATE
    assert r.birth_date is None


def test_bad_date_in_15_digit_id() -> None:
    assert check_id("320411521301001", today=TODAY).status == schema.ID_BAD_DATE


@pytest.mark.parametrize("raw", ["12345", "3204111952031200", "32041119520312001Y", "身份证", "3204111952031200111",
                                 12345, "32041119520312001X1"])
def test_bad_format(raw: object) -> None:
    r = check_id(raw, today=TODAY)
    assert r.status == schema.ID_BAD_FORMAT
    assert r.message.startswith("身份证号码格式错误")


@pytest.mark.parametrize("raw,expected_raw", [(None, None), ("", None), ("   ", "   "), (float("nan"), None),
                                              ("'", "'")])
def test_missing(raw: object, expected_raw: str | None) -> None:
    r = check_id(raw, today=TODAY)
    assert r.status == schema.ID_MISSING
    assert r.raw == expected_raw
    assert r.value is None


def test_default_today_is_the_current_date() -> None:
    assert check_id(STANDARD_ID).status == schema.ID_OK


def test_make_id_validates_arguments() -> None:
    with pytest.raises(ValueError):
        make_id("32041", datetime.date(1950, 1, 1), 1)
    with pytest.raises(ValueError):
        make_id("320411", datetime.date(1950, 1, 1), 1000)


@given(areas, births, seqs)
def test_make_id_round_trip(area: str, birth: datetime.date, seq: int) -> None:
    value = make_id(area, birth, seq)
    r = check_id(value, today=TODAY)
    assert r.status == schema.ID_OK
    assert r.value == value
    assert r.birth_date == birth
    assert r.sex == (schema.SEX_MALE if seq % 2 else schema.SEX_FEMALE)


@given(areas, births, seqs, st.integers(min_value=0, max_value=17), st.integers(min_value=1, max_value=10))
def test_any_single_character_change_is_detected(area: str, birth: datetime.date, seq: int, pos: int,
                                                  shift: int) -> None:
    value = make_id(area, birth, seq)
    alphabet = "0123456789X" if pos == 17 else "0123456789"
    new_char = alphabet[(alphabet.index(value[pos]) + shift) % len(alphabet)]
    if new_char == value[pos]:
        return
    changed = value[:pos] + new_char + value[pos + 1:]
    assert check_id(changed, today=TODAY).status != schema.ID_OK


@given(areas, births, seqs, st.sampled_from(["full", "lower", "spaces", "apostrophe", "tab"]))
def test_normalisation_variants_are_ok(area: str, birth: datetime.date, seq: int, how: str) -> None:
    value = make_id(area, birth, seq)
    variant = {
        "full": "".join(chr(ord(c) + 0xFEE0) for c in value),
        "lower": value.lower(),
        "spaces": f" {value[:6]} {value[6:14]} {value[14:]} ",
        "apostrophe": "'" + value,
        "tab": value + "\t",
    }[how]
    r = check_id(variant, today=TODAY)
    assert (r.status, r.value, r.raw) == (schema.ID_OK, value, variant)


@given(areas, st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date(1999, 12, 31)), seqs)
def test_15_digit_upgrade_round_trip(area: str, birth: datetime.date, seq: int) -> None:
    full = make_id(area, birth, seq)
    short = full[:6] + full[8:17]
    r = check_id(short, today=TODAY)
    assert (r.status, r.value, r.birth_date) == (schema.ID_UPGRADED_15, full, birth)
