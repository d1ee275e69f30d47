"""Resident ID numbers (居民身份证号码, GB 11643-1999): normalise, check, classify, build.

Owns the rules for turning one cell of an ID column into an `IdCheck`. Nothing here is ever
"repaired": an ID that Excel stored as a number has lost its last digits and is flagged for
re-collection; the raw text is kept in every result. Per-value problems are returned, never raised.
"""
from __future__ import annotations

import datetime
import math
import operator
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from geodata import schema

__all__ = ["IdCheck", "normalise_id", "check_char", "check_id", "make_id"]


@dataclass(frozen=True)
class IdCheck:
    """The verdict on one ID cell.

    `birth_date` and `sex` are filled whenever the ID's date part is a valid date, except for
    ID_EXCEL_FLOAT: there the 17th digit is lost and Excel's rounding may have carried into the date.
    """

    raw: str | None
    value: str | None
    status: str
    birth_date: datetime.date | None
    sex: str | None
    message: str


_RE_18 = re.compile(r"\d{17}[\dX]")
_RE_15 = re.compile(r"\d{15}")
# What a CSV or a text cell shows after Excel turned the ID into a number.
_RE_SCIENTIFIC = re.compile(r"\d(?:\.\d+)?E\+?\d+", re.IGNORECASE)
_RE_FLOAT_TEXT = re.compile(r"\d{15,}\.0*")
_EARLIEST = datetime.date(1900, 1, 1)
_WEIGHT_SUM = sum(schema.ID_WEIGHTS)
# Significant digits Excel keeps in a number: a longer ID stored as a number is damaged.
_EXCEL_DIGITS = 15

_MSG_EXCEL = "身份证号被Excel存为数字，末位已丢失，需重新采集"
_MSG_EXCEL_SEX = "身份证号末三位为000且性别栏为男（号码第17位为0应为女）：疑被Excel存为数字后损坏，需重新采集"
_MSG_CHECKSUM = "身份证校验位错误"
_MSG_DATE = "身份证出生日期无效"
_MSG_FORMAT = "身份证号码格式错误"
_MSG_MISSING = "身份证号码缺失"
_MSG_UPGRADED = "15位身份证号已升级为18位"


def normalise_id(text: str) -> str:
    """NFKC (full-width to ASCII), drop whitespace and a leading apostrophe, upper-case the X."""
    s = unicodedata.normalize("NFKC", text)
    s = "".join(s.split())
    # Excel users type a leading apostrophe to force text; CSV exports sometimes keep it.
    s = s.lstrip("'‘’`")
    return s.replace("x", "X")


def check_char(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits (ISO 7064 MOD 11-2)."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError(f"check_char expects 17 ASCII digits, got {first17!r}")
    # The digits' ASCII codes times the weights, less '0' times the weights' sum: no int() per digit (this runs
    # for every ID of a register).
    total = sum(map(operator.mul, first17.encode("ascii"), schema.ID_WEIGHTS)) - ord("0") * _WEIGHT_SUM
    return schema.ID_CHECK_CHARS[total % 11]


def make_id(area: str, birth: datetime.date, seq: int) -> str:
    """A valid 18-character ID from a 6-digit area code, a birth date and a sequence 0..999."""
    if len(area) != 6 or not area.isdigit():
        raise ValueError(f"area must be 6 digits, got {area!r}")
    if not 0 <= seq <= 999:
        raise ValueError(f"seq must be 0..999, got {seq}")
    first17 = f"{area}{birth:%Y%m%d}{seq:03d}"
    return first17 + check_char(first17)


def _birth(yyyymmdd: str, today: datetime.date) -> datetime.date | None:
    try:
        d = datetime.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return None
    return d if _EARLIEST <= d <= today else None


def _sex(digit: str) -> str:
    return schema.SEX_MALE if int(digit) % 2 else schema.SEX_FEMALE


def _number_text(raw: int | float | Decimal) -> str:
    """The number as Excel shows it in the formula bar: at most 15 significant digits, no exponent."""
    if isinstance(raw, int):
        return str(raw)
    d = Decimal(repr(raw)) if isinstance(raw, float) else raw
    if d == d.to_integral_value():
        # Round to 15 significant digits like Excel, then print all integer digits.
        return f"{int(Decimal(format(d, '.15g'))):d}" if abs(d) >= 10**_EXCEL_DIGITS else f"{int(d):d}"
    return format(d.normalize(), "f")


def _digits_of_number(raw: int | float | Decimal) -> int:
    try:
        n = abs(int(raw))
    except (ValueError, OverflowError, InvalidOperation):
        return 0
    return len(str(n)) if n else 0


def check_id(raw: object, *, today: datetime.date | None = None, sex: str | None = None) -> IdCheck:
    """Classify one ID cell. `raw` may be text, an int/float/Decimal (an Excel number) or None.

    `today` (default: the current date) bounds birth dates from above. `sex` is the sex the same row states
    (schema.SEX_*), if any: an ID ending in '000' whose check character happens to fit (1 in 11 of those Excel
    cut to 15 digits) is flagged when the row says male, as the 17th digit of such an ID reads female.
    """
    today = today or datetime.date.today()
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return IdCheck(None, None, schema.ID_MISSING, None, None, _MSG_MISSING)
    if isinstance(raw, (int, float, Decimal)) and not isinstance(raw, bool):
        text = _number_text(raw)
        if _digits_of_number(raw) > _EXCEL_DIGITS:
            # An Excel number holds 15 significant digits: an 18-digit ID has lost its last ones and is unusable
            # (keep it as shown). A 15-digit old ID fits exactly and is read as the old ID it is.
            return IdCheck(text, text, schema.ID_EXCEL_FLOAT, None, None, _MSG_EXCEL)
        raw_text = text
    else:
        raw_text = str(raw)
    value = normalise_id(raw_text)
    raw_out = raw_text if raw_text != "" else None
    if not value:
        return IdCheck(raw_out, None, schema.ID_MISSING, None, None, _MSG_MISSING)
    if _RE_SCIENTIFIC.fullmatch(value) or _RE_FLOAT_TEXT.fullmatch(value):
        return IdCheck(raw_out, value, schema.ID_EXCEL_FLOAT, None, None, _MSG_EXCEL)

    if _RE_18.fullmatch(value):
        stated_sex = sex
        birth = _birth(value[6:14], today)
        sex = _sex(value[16])
        if check_char(value[:17]) != value[17]:
            if value.endswith("000"):
                # Typical of a CSV saved from a sheet where the ID had become a number.
                return IdCheck(raw_out, value, schema.ID_EXCEL_FLOAT, None, None, _MSG_EXCEL)
            return IdCheck(raw_out, value, schema.ID_BAD_CHECKSUM, birth, sex if birth else None,
                           _MSG_CHECKSUM)
        if birth is None:
            return IdCheck(raw_out, value, schema.ID_BAD_DATE, None, None, _MSG_DATE)
        if value.endswith("000") and stated_sex == schema.SEX_MALE:
            return IdCheck(raw_out, value, schema.ID_EXCEL_FLOAT, None, None, _MSG_EXCEL_SEX)
        return IdCheck(raw_out, value, schema.ID_OK, birth, sex, "")

    if _RE_15.fullmatch(value):
        birth = _birth("19" + value[6:12], today)
        if birth is None:
            return IdCheck(raw_out, value, schema.ID_BAD_DATE, None, None, _MSG_DATE)
        first17 = value[:6] + "19" + value[6:]
        return IdCheck(raw_out, first17 + check_char(first17), schema.ID_UPGRADED_15, birth,
                       _sex(value[14]), _MSG_UPGRADED)

    digits = sum(c.isdigit() for c in value)
    detail = f"（{len(value)}位）" if digits == len(value) else ""
    return IdCheck(raw_out, value, schema.ID_BAD_FORMAT, None, None, _MSG_FORMAT + detail)
