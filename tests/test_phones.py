"""Tests of loaders.phones: mobile and Changzhou landline numbers as they appear in cells."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from loaders.phones import PHONE_INVALID, PHONE_MISSING, PHONE_OK, PHONE_PARTIAL, parse_phones

mobiles = st.builds(lambda p, rest: f"1{p}{rest:09d}", st.sampled_from("3456789"),
                    st.integers(min_value=0, max_value=999_999_999))
landlines = st.builds(lambda n: f"{n:08d}", st.integers(min_value=20_000_000, max_value=99_999_999))


@pytest.mark.parametrize("raw,numbers", [
    ("13812345678", ("13812345678",)),
    ("138 1234 5678", ("13812345678",)),
    ("138-1234-5678", ("13812345678",)),
    ("+86 138 1234 5678", ("13812345678",)),
    ("+8613812345678", ("13812345678",)),
    ("8613812345678", ("13812345678",)),
    ("008613812345678", ("13812345678",)),
    ("１３８１２３４５６７８", ("13812345678",)),
    (13812345678, ("13812345678",)),
    (13812345678.0, ("13812345678",)),
    ("13812345678.0", ("13812345678",)),
    ("0519-88123456", ("0519-88123456",)),
    ("051988123456", ("0519-88123456",)),
    ("0519 88123456", ("0519-88123456",)),
    ("(0519)88123456", ("0519-88123456",)),
    ("（0519）88123456", ("0519-88123456",)),
    ("0519－88123456", ("0519-88123456",)),
    ("13812345678/0519-88123456", ("13812345678", "0519-88123456")),
    ("13812345678、13912345678", ("13812345678", "13912345678")),
    ("13812345678，13912345678", ("13812345678", "13912345678")),
    ("13812345678;13912345678", ("13812345678", "13912345678")),
    ("13812345678\n13912345678", ("13812345678", "13912345678")),
    ("13812345678 13912345678", ("13812345678", "13912345678")),
    ("0519 88123456 13812345678", ("0519-88123456", "13812345678")),
    ("13812345678（女儿）", ("13812345678",)),
    ("儿子:13812345678", ("13812345678",)),
    ("13812345678/13812345678", ("13812345678",)),
])
def test_valid_numbers(raw: object, numbers: tuple[str, ...]) -> None:
    r = parse_phones(raw)
    assert r.status == PHONE_OK, r
    assert r.numbers == numbers
    assert r.invalid == ()
    assert r.message == ""
    assert r.raw == (raw if isinstance(raw, str) else "13812345678")


def test_bare_landline_is_not_guessed() -> None:
    r = parse_phones("88123456")
    assert r.status == PHONE_INVALID
    assert r.numbers == ()
    assert r.invalid == ("88123456",)
    assert "0519" in r.message


def test_bare_landline_as_excel_number() -> None:
    r = parse_phones(88123456)
    assert (r.status, r.invalid, r.raw) == (PHONE_INVALID, ("88123456",), "88123456")


@pytest.mark.parametrize("raw", ["1381234567", "138123456789", "12812345678", "021-12345678", "0519-8812345",
                                 "1.38123E+10", "123"])
def test_invalid_numbers_are_kept_as_text(raw: str) -> None:
    r = parse_phones(raw)
    assert r.status == PHONE_INVALID
    assert r.numbers == ()
    assert len(r.invalid) == 1 and r.invalid[0] in raw
    assert r.message


def test_partial() -> None:
    r = parse_phones("13812345678/88123456")
    assert r.status == PHONE_PARTIAL
    assert r.numbers == ("13812345678",)
    assert r.invalid == ("88123456",)
    assert r.message.startswith("部分号码无效")


def test_invalid_group_beside_a_valid_number() -> None:
    r = parse_phones("0519 8812345 13812345678")
    assert (r.status, r.numbers, r.invalid) == (PHONE_PARTIAL, ("13812345678",), ("0519 8812345",))


def test_short_labels_beside_a_number_are_ignored() -> None:
    assert parse_phones("13812345678 2号").status == PHONE_OK


@pytest.mark.parametrize("raw,expected_raw", [(None, None), ("", None), ("   ", "   "), ("无", "无"),
                                              ("/", "/"), (float("nan"), None)])
def test_missing(raw: object, expected_raw: str | None) -> None:
    r = parse_phones(raw)
    assert (r.status, r.raw, r.numbers, r.invalid) == (PHONE_MISSING, expected_raw, (), ())


@given(mobiles, st.sampled_from(["plain", "spaces", "dashes", "+86", "86", "full", "int", "float", "label"]))
def test_mobile_formats_round_trip(mobile: str, how: str) -> None:
    raw = {
        "plain": mobile,
        "spaces": f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}",
        "dashes": f"{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}",
        "+86": f"+86 {mobile}",
        "86": f"86{mobile}",
        "full": "".join(chr(ord(c) + 0xFEE0) for c in mobile),
        "int": int(mobile),
        "float": float(mobile),
        "label": f"{mobile}（本人）",
    }[how]
    r = parse_phones(raw)
    assert (r.status, r.numbers) == (PHONE_OK, (mobile,))


@given(landlines, st.sampled_from(["0519-{}", "0519{}", "0519 {}", "(0519){}", "（0519）{}", "0519—{}"]))
def test_landline_formats_round_trip(number: str, template: str) -> None:
    r = parse_phones(template.format(number))
    assert (r.status, r.numbers) == (PHONE_OK, (f"0519-{number}",))


@given(mobiles, landlines, st.sampled_from(["/", "、", ",", "，", ";", "；", " ", "\n", " / "]))
def test_two_numbers_in_one_cell(mobile: str, landline: str, sep: str) -> None:
    r = parse_phones(f"{mobile}{sep}0519-{landline}")
    assert (r.status, r.numbers) == (PHONE_OK, (mobile, f"0519-{landline}"))
