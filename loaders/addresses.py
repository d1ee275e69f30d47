"""Flat addresses in old compounds: building (幢/栋/号楼), unit (单元, 甲乙丙丁), room (室).

Owns `parse_address` and the parsers of the single parts. Text is NFKC-normalised first (full-width
digits and dashes), the raw text is kept, and a part that cannot be read stays None with a reason
in `message`. An address in another compound still parses; the caller decides it is outside.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from geodata import schema

__all__ = ["Address", "parse_address", "parse_building_no", "parse_unit", "parse_room",
           "chinese_numeral", "COMPOUND_SUFFIXES"]


@dataclass(frozen=True)
class Address:
    raw: str | None
    compound: str | None
    building: str | None
    unit: int | None
    room: str | None
    floor: int | None
    message: str


#: Endings of compound names (小区名) recognised when no list of compounds is given.
COMPOUND_SUFFIXES = ("新村", "小区", "花园", "家园", "公寓", "华庭", "华府", "雅苑", "名邸", "公馆", "广场", "山庄",
                     "苑", "庭", "府", "邸", "湾", "园", "居", "里", "坊", "村", "城")

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
           "八": 8, "九": 9}
_MULTIPLIERS = {"十": 10, "百": 100, "千": 1000}
_CN = "[零〇一二两三四五六七八九十百千]+"
_STEMS = schema.UNIT_HEAVENLY_STEMS
_BUILDING_MARKERS = "号楼|幢|栋|座|楼|号"
_UNIT_MARKERS = "单元|门"

# The core of an address: building, then optionally unit, then optionally room.
_RE_CORE = re.compile(
    rf"(?<!\d)(?P<b>\d{{1,4}}[A-Z]?|{_CN})(?:(?:{_BUILDING_MARKERS})-?|-)"
    rf"(?:(?P<u>\d{{1,2}}|{_CN})(?:{_UNIT_MARKERS}|-)-?|(?P<us>[{_STEMS}])(?:{_UNIT_MARKERS})?-?)?"
    rf"(?:(?P<r>\d{{3,4}})(?:室|号|房)?)?"
)
_RE_DASHES = re.compile(r"[‐‑‒–—―−﹣－_]")
_RE_CHINESE_TAIL = re.compile(r"[\u4e00-\u9fff]+$")
# Administrative or street parts in front of a compound name: 常州市 新北区 河海街道 兰翔社区 通江路.
_RE_ADMIN_PREFIX = re.compile(r"^[\u4e00-\u9fff]+?(?:省|市|区|县|街道|镇|乡|社区|居委会|路|街|巷|弄)")
_RE_ROOM = re.compile(r"([1-9]\d{2,3})(?:室|号|房)?")
_RE_BUILDING_END = re.compile(rf"(?<!\d)(\d{{1,4}}|{_CN})([A-Z]?)(?:{_BUILDING_MARKERS})?$")
_RE_BUILDING_MARKED = re.compile(rf"(?<!\d)(\d{{1,4}}|{_CN})([A-Z]?)(?:{_BUILDING_MARKERS})")
_RE_UNIT = re.compile(rf"第?(\d{{1,2}}|{_CN}|[{_STEMS}])(?:{_UNIT_MARKERS})?")


def chinese_numeral(text: str) -> int | None:
    """Value of a Chinese numeral: '十二' 12, '二十三' 23, '一百零五' 105, '二〇二' 202; else None."""
    if not text or any(c not in _DIGITS and c not in _MULTIPLIERS for c in text):
        return None
    if not any(c in _MULTIPLIERS for c in text):
        # Digit by digit, as in room numbers and years: 二〇二 = 202.
        return int("".join(str(_DIGITS[c]) for c in text))
    total, digit, last_mult = 0, None, 10_000
    for c in text:
        if c in _DIGITS:
            if digit is not None and _DIGITS[c] != 0:
                return None  # two digits in a row in positional form: 一二十
            digit = _DIGITS[c] if _DIGITS[c] != 0 else None
        else:
            mult = _MULTIPLIERS[c]
            if mult >= last_mult or (digit is None and mult != 10):
                return None  # 十百, 十十; only 十 may stand without a digit (十二, 一百十)
            total += (1 if digit is None else digit) * mult
            digit, last_mult = None, mult
    if digit is not None:
        total += digit
    return total or None


def _int_of(token: str) -> int | None:
    if token.isdigit():
        return int(token)
    return chinese_numeral(token)


def _clean(raw: object) -> tuple[str | None, str]:
    """(raw text, normalised text without whitespace, dashes unified, letters upper-case)."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return None, ""
    if isinstance(raw, (float, Decimal)) and raw == int(raw):
        raw_text = str(int(raw))
    else:
        raw_text = str(raw)
    text = unicodedata.normalize("NFKC", raw_text)
    text = _RE_DASHES.sub("-", "".join(text.split())).upper()
    return (raw_text if raw_text != "" else None), text


def parse_building_no(raw: object) -> str | None:
    """'7幢', '七幢', '7号楼', '7栋', '青枫新村7幢', 7, 7.0, '７' -> '7'; '12a幢' -> '12A'.

    Up to four digits ('1001幢'); a longer number is not a building number and gives None, never its tail.
    """
    _, text = _clean(raw)
    # A building cell ends with the number ("青枫新村7幢"); otherwise take the first number that
    # carries a building marker ("7号楼2单元").
    m = _RE_BUILDING_END.search(text) or _RE_BUILDING_MARKED.search(text)
    if not m:
        return None
    n = _int_of(m.group(1))
    return f"{n}{m.group(2)}" if n else None


def parse_unit(raw: object) -> int | None:
    """'丁', '丁单元', '4', '4单元', '四单元', 4 -> 4."""
    _, text = _clean(raw)
    m = _RE_UNIT.fullmatch(text)
    if not m:
        return None
    token = m.group(1)
    n = _STEMS.index(token) + 1 if token in _STEMS else _int_of(token)
    return n or None


def parse_room(raw: object) -> tuple[str, int] | None:
    """'202', '202室', 202, '1502' -> (room, floor): ('1502', 15). Flat number 00 is not a room."""
    _, text = _clean(raw)
    m = _RE_ROOM.fullmatch(text)
    if not m or int(m.group(1)) % 100 == 0:
        return None
    room = m.group(1)
    return room, int(room) // 100


def _compound_in(prefix: str, compounds: Sequence[str]) -> str | None:
    """The compound named in the text before the building number."""
    # A given name wins; the longest first, so '兰翔新村二村' beats '兰翔新村'.
    for name in sorted(compounds, key=len, reverse=True):
        norm = unicodedata.normalize("NFKC", "".join(name.split()))
        if norm and norm in prefix:
            return name
    m = _RE_CHINESE_TAIL.search(prefix)
    if not m:
        return None
    tail = m.group(0).removeprefix("号")  # "88号兰翔新村": the 号 belongs to the street number
    while True:
        a = _RE_ADMIN_PREFIX.match(tail)
        if not a:
            break
        rest = tail[a.end():]
        # Strip only when a real name remains (more than a bare suffix such as 小区).
        if not any(rest.endswith(s) and len(rest) > len(s) for s in COMPOUND_SUFFIXES):
            break
        tail = rest
    if any(tail.endswith(s) and len(tail) > len(s) for s in COMPOUND_SUFFIXES):
        return tail
    return None


def parse_address(raw: object, compounds: Sequence[str] = ()) -> Address:
    """Parse a flat address; `compounds` are the names of the community's compounds, if known."""
    raw_text, text = _clean(raw)
    if not text:
        return Address(raw_text, None, None, None, None, None, "地址缺失")

    # Several numbers may look like a building ("通江路88号"); the one followed by the most parts
    # (unit, room) is the flat, the last one on a tie.
    best, best_score = None, -1
    for m in _RE_CORE.finditer(text):
        score = (m.group("u") is not None or m.group("us") is not None) + (m.group("r") is not None)
        if _int_of(m.group("b").rstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")) and score >= best_score:
            best, best_score = m, score
    if best is None:
        compound = _compound_in(text, compounds)
        return Address(raw_text, compound, None, None, None, None, "无法解析地址")

    compound = _compound_in(text[:best.start()], compounds)
    b = best.group("b")
    building = b if b[0].isdigit() else str(chinese_numeral(b))
    building = building.lstrip("0") or None
    if best.group("us"):
        unit = _STEMS.index(best.group("us")) + 1
    elif best.group("u"):
        unit = _int_of(best.group("u")) or None
    else:
        unit = None
    room = floor = None
    if best.group("r"):
        parsed = parse_room(best.group("r"))
        if parsed:
            room, floor = parsed

    problems = []
    if building is None:
        problems.append("楼幢无法识别")
    if unit is None:
        problems.append("缺少单元")
    if room is None:
        problems.append("缺少室号" if best.group("r") is None else f"室号{best.group('r')}无效")
    return Address(raw_text, compound, building, unit, room, floor, "，".join(problems))
