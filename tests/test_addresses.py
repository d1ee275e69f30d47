"""Tests of loaders.addresses: every address variant of DOMAIN.md and the part parsers."""
from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, strategies as st

from loaders.addresses import (Address, chinese_numeral, parse_address, parse_building_no, parse_room,
                               parse_unit)

COMPOUND = "兰翔新村"
STEMS = "甲乙丙丁"
_CN_DIGITS = "零一二三四五六七八九"


def to_chinese(n: int) -> str:
    """1..999 written the usual way (十二, 二十三, 一百零五, 一百一十) - independent of the parser."""
    hundreds, rest = divmod(n, 100)
    tens, ones = divmod(rest, 10)
    out = ""
    if hundreds:
        out += _CN_DIGITS[hundreds] + "百"
        if rest and tens == 0:
            out += "零"
    if tens:
        out += ("" if tens == 1 and not hundreds else _CN_DIGITS[tens]) + "十"
    if ones:
        out += _CN_DIGITS[ones]
    return out


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() or c == "-" else c for c in text).replace(
        "\uff0d", "－")


@pytest.mark.parametrize("raw,compound", [
    ("12幢丁单元202室", None),
    ("12-4-202", None),
    ("12栋4单元202", None),
    ("十二幢四单元202室", None),
    ("１２－４－２０２", None),
    ("兰翔新村12幢丁单元202室", COMPOUND),
    ("兰翔新村 12 幢 丁 单元 202 室", COMPOUND),
    ("常州市新北区河海街道兰翔新村12幢丁单元202室", COMPOUND),
    ("江苏省常州市新北区河海街道兰翔社区兰翔新村12幢丁单元202室", COMPOUND),
    ("兰翔新村12-4-202室", COMPOUND),
    ("兰翔新村12号楼4单元202", COMPOUND),
    ("通江中路88号兰翔新村12幢4单元202", COMPOUND),
    ("12幢4-202", None),
    ("12—4—202", None),
    ("12幢丁202", None),
])
def test_domain_variants(raw: str, compound: str | None) -> None:
    r = parse_address(raw)
    assert r == Address(raw, compound, "12", 4, "202", 2, "")


def test_other_examples() -> None:
    assert parse_address("12号楼2单元502") == Address("12号楼2单元502", None, "12", 2, "502", 5, "")
    r = parse_address("兰翔新村3幢1单元1502室")
    assert (r.building, r.unit, r.room, r.floor) == ("3", 1, "1502", 15)
    r = parse_address("二十三栋甲单元101")
    assert (r.building, r.unit, r.room, r.floor) == ("23", 1, "101", 1)
    assert parse_address("12A幢2单元301室").building == "12A"
    assert parse_address("兰翔小区3幢2单元301").compound == "兰翔小区"
    assert parse_address("锦绣花园3幢2单元301").compound == "锦绣花园"
    assert parse_address("市府小区3幢2单元301").compound == "市府小区"


def test_given_compounds_are_found_and_other_compounds_still_parse() -> None:
    inside = parse_address("兰翔新村7幢1单元101室", [COMPOUND, "兰翔二村"])
    assert inside.compound == COMPOUND
    outside = parse_address("青枫新村7幢1单元101室", [COMPOUND])
    assert (outside.compound, outside.building, outside.unit, outside.room) == ("青枫新村", "7", 1, "101")
    # A given name is found wherever it stands, even without a usual suffix.
    assert parse_address("河海街道兰翔12幢1单元101", ["兰翔"]).compound == "兰翔"
    assert parse_address("兰翔新村二区5幢1单元101", ["兰翔新村", "兰翔新村二区"]).compound == "兰翔新村二区"


def test_incomplete_addresses_say_what_is_missing() -> None:
    r = parse_address("12幢")
    assert (r.building, r.unit, r.room) == ("12", None, None)
    assert "单元" in r.message and "室" in r.message
    r = parse_address("兰翔新村7幢302室")
    assert (r.compound, r.building, r.unit, r.room, r.floor) == (COMPOUND, "7", None, "302", 3)
    assert r.message == "缺少单元"
    r = parse_address("12幢4单元200")
    assert r.room is None and "200" in r.message


@pytest.mark.parametrize("raw", ["随便写的", "兰翔新村", "河海街道办事处"])
def test_unparseable(raw: str) -> None:
    r = parse_address(raw)
    assert r.raw == raw
    assert (r.building, r.unit, r.room) == (None, None, None)
    assert r.message == "无法解析地址"


def test_unparseable_keeps_the_compound() -> None:
    assert parse_address("兰翔新村", [COMPOUND]).compound == COMPOUND


@pytest.mark.parametrize("raw", [None, "", float("nan")])
def test_missing(raw: object) -> None:
    r = parse_address(raw)
    assert r.raw is None and r.message == "地址缺失"


@pytest.mark.parametrize("raw", ["7幢", "七幢", "7号楼", "7栋", "青枫新村7幢", 7, 7.0, "７", "07", "第7幢", "7号楼2单元",
                                 "7座"])
def test_parse_building_no(raw: object) -> None:
    assert parse_building_no(raw) == "7"


def test_parse_building_no_letters_and_failures() -> None:
    assert parse_building_no("12a幢") == "12A"
    assert parse_building_no("十二") == "12"
    assert parse_building_no("兰翔新村") is None
    assert parse_building_no(None) is None
    assert parse_building_no("0") is None


@pytest.mark.parametrize("raw,expected", [("1001幢", "1001"), ("青枫新村1234号楼", "1234"), (1001, "1001"),
                                          (1001.0, "1001"), ("一千零一幢", "1001"), ("12345幢", None),
                                          ("123456", None)])
def test_parse_building_no_four_digits_never_a_suffix(raw: object, expected: str | None) -> None:
    """Large estates number buildings past 999; a longer number is not cut down to its last digits."""
    assert parse_building_no(raw) == expected


def test_parse_address_four_digit_building() -> None:
    r = parse_address("青枫新村1001幢2单元302室", [COMPOUND, "青枫新村"])
    assert (r.building, r.unit, r.room) == ("1001", 2, "302")
    assert parse_address("12345幢2单元302室").building is None


@pytest.mark.parametrize("raw", ["丁", "丁单元", "4", "4单元", "四单元", 4, 4.0, "４", "第4单元", " 4 "])
def test_parse_unit(raw: object) -> None:
    assert parse_unit(raw) == 4


@pytest.mark.parametrize("raw,expected", [("甲", 1), ("乙单元", 2), ("丙", 3), ("1", 1), ("十二单元", 12),
                                          ("x", None), ("", None), (None, None), ("0", None)])
def test_parse_unit_others(raw: object, expected: int | None) -> None:
    assert parse_unit(raw) == expected


@pytest.mark.parametrize("raw,expected", [
    ("202", ("202", 2)), ("202室", ("202", 2)), (202, ("202", 2)), (202.0, ("202", 2)), ("1502", ("1502", 15)),
    ("２０２", ("202", 2)), ("3301", ("3301", 33)), ("200", None), ("0202", None), ("12", None), ("12345", None),
    (None, None), ("二〇二", None),
])
def test_parse_room(raw: object, expected: tuple[str, int] | None) -> None:
    assert parse_room(raw) == expected


@pytest.mark.parametrize("text,value", [
    ("一", 1), ("十", 10), ("十二", 12), ("二十", 20), ("二十三", 23), ("一百", 100), ("一百零五", 105),
    ("一百一十", 110), ("一百十", 110), ("九百九十九", 999), ("两", 2), ("二〇二", 202), ("一千零一", 1001),
])
def test_chinese_numeral(text: str, value: int) -> None:
    assert chinese_numeral(text) == value


@pytest.mark.parametrize("text", ["", "abc", "十十", "百十", "一二十", "十二x"])
def test_chinese_numeral_rejects(text: str) -> None:
    assert chinese_numeral(text) is None


@given(st.integers(min_value=1, max_value=999))
def test_chinese_numeral_round_trip(n: int) -> None:
    assert chinese_numeral(to_chinese(n)) == n


def _variants(b: int, u: int, room: str) -> list[str]:
    stem = STEMS[u - 1]
    return [
        f"{b}幢{stem}单元{room}室",
        f"{b}幢{stem}{room}室",
        f"{b}-{u}-{room}",
        f"{b}栋{u}单元{room}",
        f"{b}号楼{u}单元{room}",
        f"{to_chinese(b)}幢{to_chinese(u)}单元{room}室",
        full_width(f"{b}-{u}-{room}"),
        f"{COMPOUND}{b}幢{stem}单元{room}室",
        f"{COMPOUND}{b}-{u}-{room}室",
        f"常州市新北区河海街道{COMPOUND}{b}栋{u}单元{room}",
        f"{COMPOUND} {b} 幢 {u} 单元 {room} 室",
    ]


@given(st.integers(1, 99), st.integers(1, 4), st.integers(1, 33), st.integers(1, 4), st.booleans())
def test_every_variant_parses_back(b: int, u: int, floor: int, flat: int, with_compounds: bool) -> None:
    room = f"{floor * 100 + flat}"
    compounds = [COMPOUND] if with_compounds else []
    for text in _variants(b, u, room):
        r = parse_address(text, compounds)
        assert (r.building, r.unit, r.room, r.floor, r.message) == (str(b), u, room, floor, ""), text
        assert r.raw == text
        assert r.compound == (COMPOUND if COMPOUND in unicodedata.normalize("NFKC", text) else None)
