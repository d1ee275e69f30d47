"""Tests of loaders.dates: birth dates in every form registers use, with their precision."""
from __future__ import annotations

import datetime

import pytest
from hypothesis import assume, given, strategies as st

from loaders.dates import (PRECISION_DAY, PRECISION_MONTH, PRECISION_YEAR, DateParse, dates_agree,
                           excel_serial_to_date, parse_birth_date)

TODAY = datetime.date(2024, 6, 1)
D = datetime.date


@pytest.mark.parametrize("raw,value,precision", [
    ("1952.03", D(1952, 3, 1), PRECISION_MONTH),
    ("1952.3", D(1952, 3, 1), PRECISION_MONTH),
    ("1952.10", D(1952, 10, 1), PRECISION_MONTH),
    ("1952年3月", D(1952, 3, 1), PRECISION_MONTH),
    ("1952年3月12日", D(1952, 3, 12), PRECISION_DAY),
    ("1952年03月12号", D(1952, 3, 12), PRECISION_DAY),
    ("19520312", D(1952, 3, 12), PRECISION_DAY),
    ("195203", D(1952, 3, 1), PRECISION_MONTH),
    ("1952", D(1952, 1, 1), PRECISION_YEAR),
    ("1952年", D(1952, 1, 1), PRECISION_YEAR),
    ("1952-03-12", D(1952, 3, 12), PRECISION_DAY),
    ("1952-3-12", D(1952, 3, 12), PRECISION_DAY),
    ("1952/3/12", D(1952, 3, 12), PRECISION_DAY),
    ("1952.03.12", D(1952, 3, 12), PRECISION_DAY),
    ("1952-03", D(1952, 3, 1), PRECISION_MONTH),
    ("1952-03-12 00:00:00", D(1952, 3, 12), PRECISION_DAY),
    ("１９５２年３月１２日", D(1952, 3, 12), PRECISION_DAY),
    ("１９５２．０３", D(1952, 3, 1), PRECISION_MONTH),
    (" 1952.03 ", D(1952, 3, 1), PRECISION_MONTH),
    (datetime.datetime(1952, 3, 12, 0, 0), D(1952, 3, 12), PRECISION_DAY),
    (D(1952, 3, 12), D(1952, 3, 12), PRECISION_DAY),
    (19430, D(1953, 3, 12), PRECISION_DAY),            # Excel serial
    (19430.0, D(1953, 3, 12), PRECISION_DAY),
    (19430.75, D(1953, 3, 12), PRECISION_DAY),         # a date-time serial
    (1952, D(1952, 1, 1), PRECISION_YEAR),             # a year, not serial 1952 (1905-05-04)
    (19520312, D(1952, 3, 12), PRECISION_DAY),         # digits typed into a number cell
    (195203, D(1952, 3, 1), PRECISION_MONTH),
    (1952.03, D(1952, 3, 1), PRECISION_MONTH),         # "1952.03" typed into a number cell
    (1952.3, D(1952, 3, 1), PRECISION_MONTH),
    (1952.12, D(1952, 12, 1), PRECISION_MONTH),
])
def test_accepted_forms(raw: object, value: datetime.date, precision: str) -> None:
    r = parse_birth_date(raw, today=TODAY)
    assert (r.value, r.precision, r.message) == (value, precision, "")
    assert r.raw is not None


def test_raw_text_is_kept() -> None:
    assert parse_birth_date("１９５２年３月", today=TODAY).raw == "１９５２年３月"
    assert parse_birth_date(1952.03, today=TODAY).raw == "1952.03"
    assert parse_birth_date(19430.0, today=TODAY).raw == "19430"


@pytest.mark.parametrize("raw,fragment", [
    ("1952-02-30", "不存在"),
    ("1952.13", "不存在"),
    ("2099-01-01", "范围"),
    ("1899-12-31", "范围"),
    ("2024-06-02", "范围"),
    ("52.3", "无法识别"),
    ("三月", "无法识别"),
    ("1952.1.1.1", "无法识别"),
    (1952.1, "1月和10月"),    # 1952.01 or 1952.10: Excel kept neither
    (99999, "无法识别"),      # beyond today as a serial, not a date in any other form
    (float("inf"), "无法识别"),
    (True, "无法识别"),
])
def test_rejected(raw: object, fragment: str) -> None:
    r = parse_birth_date(raw, today=TODAY)
    assert r.value is None and r.precision is None
    assert fragment in r.message


@pytest.mark.parametrize("raw", [None, "", "  ", float("nan")])
def test_missing(raw: object) -> None:
    r = parse_birth_date(raw, today=TODAY)
    assert (r.value, r.message) == (None, "出生日期缺失")


def test_today_is_the_upper_bound() -> None:
    assert parse_birth_date("2024-06-01", today=TODAY).value == TODAY
    assert parse_birth_date("2024.06", today=TODAY).value == D(2024, 6, 1)
    assert parse_birth_date("1990-01-01").value == D(1990, 1, 1)


def test_excel_serial_to_date_handles_the_1900_leap_bug() -> None:
    assert excel_serial_to_date(1) == D(1900, 1, 1)
    assert excel_serial_to_date(59) == D(1900, 2, 28)
    assert excel_serial_to_date(61) == D(1900, 3, 1)
    assert excel_serial_to_date(43831) == D(2020, 1, 1)


def test_dates_agree_at_the_parsed_precision() -> None:
    birth = D(1952, 3, 12)
    assert dates_agree(parse_birth_date("1952-03-12", today=TODAY), birth)
    assert not dates_agree(parse_birth_date("1952-03-13", today=TODAY), birth)
    assert dates_agree(parse_birth_date("1952.03", today=TODAY), birth)
    assert not dates_agree(parse_birth_date("1952.04", today=TODAY), birth)
    assert dates_agree(parse_birth_date("1952", today=TODAY), birth)
    assert not dates_agree(parse_birth_date("1953", today=TODAY), birth)
    assert not dates_agree(parse_birth_date(None, today=TODAY), birth)
    assert not dates_agree(DateParse("x", None, None, "无法识别的日期格式"), birth)


births = st.dates(min_value=D(1900, 1, 1), max_value=TODAY)
DAY_FORMATS = ["{y}-{m:02d}-{d:02d}", "{y}/{m}/{d}", "{y}{m:02d}{d:02d}", "{y}年{m}月{d}日", "{y}.{m:02d}.{d:02d}",
               "{y}-{m:02d}-{d:02d} 00:00:00"]
MONTH_FORMATS = ["{y}.{m:02d}", "{y}.{m}", "{y}年{m}月", "{y}{m:02d}", "{y}-{m:02d}"]


@given(births, st.sampled_from(DAY_FORMATS), st.booleans())
def test_day_formats_round_trip(birth: datetime.date, fmt: str, full_width: bool) -> None:
    text = fmt.format(y=birth.year, m=birth.month, d=birth.day)
    if full_width:
        text = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in text)
    r = parse_birth_date(text, today=TODAY)
    assert (r.value, r.precision) == (birth, PRECISION_DAY)
    assert dates_agree(r, birth)


@given(births, st.sampled_from(MONTH_FORMATS))
def test_month_formats_round_trip(birth: datetime.date, fmt: str) -> None:
    r = parse_birth_date(fmt.format(y=birth.year, m=birth.month), today=TODAY)
    assert (r.value, r.precision) == (birth.replace(day=1), PRECISION_MONTH)
    assert dates_agree(r, birth)


@given(births)
def test_excel_serial_round_trip(birth: datetime.date) -> None:
    serial = (birth - D(1899, 12, 30)).days
    if birth < D(1900, 3, 1):
        serial -= 1  # Excel counts a 29 February 1900 that never was
    # Whole numbers 1900..this year read as years ("1952"): serials of March-July 1905 are given up.
    assume(not 1900 <= serial <= TODAY.year)
    assert parse_birth_date(serial, today=TODAY).value == birth
    assert parse_birth_date(float(serial), today=TODAY).value == birth


@given(births)
def test_date_objects_round_trip(birth: datetime.date) -> None:
    assert parse_birth_date(birth, today=TODAY).value == birth
    dt = datetime.datetime.combine(birth, datetime.time(0, 0))
    assert parse_birth_date(dt, today=TODAY).value == birth
