"""Birth-date cells (出生年月 / 出生日期): every way they arrive, with the precision they carry.

Owns `parse_birth_date` and `dates_agree`. A month-only value ("1952.03") becomes day 1 with
precision 'month'; nothing finer is invented. Problems are returned in `message`, never raised.
"""
from __future__ import annotations

import datetime
import math
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["DateParse", "parse_birth_date", "dates_agree", "excel_serial_to_date",
           "PRECISION_DAY", "PRECISION_MONTH", "PRECISION_YEAR"]

PRECISION_DAY = "day"
PRECISION_MONTH = "month"
PRECISION_YEAR = "year"

EARLIEST_BIRTH = datetime.date(1900, 1, 1)


@dataclass(frozen=True)
class DateParse:
    raw: str | None
    value: datetime.date | None
    precision: str | None
    message: str


_MSG_MISSING = "出生日期缺失"
_MSG_FORMAT = "无法识别的日期格式"
_MSG_INVALID = "日期不存在"
_MSG_RANGE = "出生日期超出范围（1900年至今）"
_MSG_AMBIGUOUS = "出生年月被Excel存为数字，无法区分1月和10月"

_RE_COMPACT = re.compile(r"(\d{4})(\d{2})?(\d{2})?")
# 1952-03-12, 1952/3/12, 1952.03, 1952年3月12日, 1952年3月, 1952年, with an optional time of day
# (what a CSV shows for a date cell).
_RE_SEPARATED = re.compile(
    r"(\d{4})\s*(?:[-/.年]\s*(\d{1,2})\s*(?:[-/.月]\s*(?:(\d{1,2})\s*[日号]?)?)?)?"
    r"(?:\s*[T ]?\s*\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
)
_EXCEL_EPOCH = datetime.date(1899, 12, 30)


def excel_serial_to_date(serial: float) -> datetime.date:
    """Date of an Excel 1900-system serial number (1 = 1900-01-01; Excel's fake 1900-02-29 is 60)."""
    days = int(math.floor(serial))
    if days < 61:
        # Serials below 60 are one day off against the usual epoch because of the fake leap day.
        return datetime.date(1899, 12, 31) + datetime.timedelta(days=days)
    return _EXCEL_EPOCH + datetime.timedelta(days=days)


def _serial_of(d: datetime.date) -> int:
    return (d - _EXCEL_EPOCH).days


def _make(raw: str | None, y: int, m: int | None, d: int | None, today: datetime.date) -> DateParse:
    precision = PRECISION_DAY if d is not None else PRECISION_MONTH if m is not None else PRECISION_YEAR
    try:
        value = datetime.date(y, m or 1, d or 1)
    except ValueError:
        return DateParse(raw, None, None, _MSG_INVALID)
    if value < EARLIEST_BIRTH or value > today:
        return DateParse(raw, None, None, _MSG_RANGE)
    return DateParse(raw, value, precision, "")


def _from_number(raw: int | float | Decimal, raw_text: str, today: datetime.date) -> DateParse:
    if raw == int(raw):
        n = int(raw)
        text = str(n)
        # Digits typed into a number cell: 19520312, 195203, 1952.
        if len(text) == 8:
            return _make(raw_text, int(text[:4]), int(text[4:6]), int(text[6:]), today)
        if len(text) == 6:
            return _make(raw_text, int(text[:4]), int(text[4:]), None, today)
        if len(text) == 4 and EARLIEST_BIRTH.year <= n <= today.year:
            return _make(raw_text, n, None, None, today)
    elif EARLIEST_BIRTH.year <= int(raw) <= today.year:
        # "1952.03" typed into a number cell becomes 1952.03; "1952.10" becomes 1952.1 (ambiguous).
        m = re.fullmatch(r"(\d{4})\.(\d{1,2})", raw_text)
        if m is None:
            return DateParse(raw_text, None, None, _MSG_FORMAT)
        if m.group(2) == "1":
            return DateParse(raw_text, None, None, _MSG_AMBIGUOUS)
        return _make(raw_text, int(m.group(1)), int(m.group(2)), None, today)
    if 1 <= raw <= _serial_of(today):
        d = excel_serial_to_date(float(raw))
        return _make(raw_text, d.year, d.month, d.day, today)
    return DateParse(raw_text, None, None, _MSG_FORMAT)


def parse_birth_date(raw: object, *, today: datetime.date | None = None) -> DateParse:
    """Parse one birth-date cell: date/datetime, Excel number or serial, or text in common forms."""
    today = today or datetime.date.today()
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return DateParse(None, None, None, _MSG_MISSING)
    if isinstance(raw, datetime.datetime):
        return _make(str(raw), raw.year, raw.month, raw.day, today)
    if isinstance(raw, datetime.date):
        return _make(str(raw), raw.year, raw.month, raw.day, today)
    if isinstance(raw, (int, float, Decimal)) and not isinstance(raw, bool):
        if isinstance(raw, float) and math.isinf(raw):
            return DateParse(repr(raw), None, None, _MSG_FORMAT)
        raw_text = str(raw) if not isinstance(raw, float) else repr(raw)
        if isinstance(raw, float) and raw == int(raw):
            raw_text = str(int(raw))
        return _from_number(raw, raw_text, today)

    raw_text = str(raw)
    raw_out = raw_text if raw_text != "" else None
    text = unicodedata.normalize("NFKC", raw_text).strip()
    if not text:
        return DateParse(raw_out, None, None, _MSG_MISSING)
    m = _RE_COMPACT.fullmatch(text.removesuffix("年"))
    if m:
        y, mo, d = m.groups()
        return _make(raw_out, int(y), int(mo) if mo else None, int(d) if d else None, today)
    m = _RE_SEPARATED.fullmatch(text)
    if m:
        y, mo, d = m.groups()
        return _make(raw_out, int(y), int(mo) if mo else None, int(d) if d else None, today)
    return DateParse(raw_out, None, None, _MSG_FORMAT)


def dates_agree(parsed: DateParse, id_birth: datetime.date) -> bool:
    """True when the parsed date equals the ID's birth date at the parsed precision."""
    if parsed.value is None:
        return False
    if parsed.precision == PRECISION_YEAR:
        return parsed.value.year == id_birth.year
    if parsed.precision == PRECISION_MONTH:
        return (parsed.value.year, parsed.value.month) == (id_birth.year, id_birth.month)
    return parsed.value == id_birth
