"""The cross-check: matching, each finding category (with a case that must not raise it), idempotence, visits."""
from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from geodata import models, reconcile, schema, store, verification

AS_OF = dt.date(2020, 3, 25)


def make_id(birth: dt.date, seq: int, area: str = "320411") -> str:
    body = f"{area}{birth:%Y%m%d}{seq % 1000:03d}"
    return body + schema.ID_CHECK_CHARS[sum(int(d) * w for d, w in zip(body, schema.ID_WEIGHTS)) % 11]


@dataclasses.dataclass
class Town:
    """Ids of the hand-built community."""

    community_id: int
    grids: dict[str, int]
    flats: dict[str, int]
    households: dict[str, int]
    persons: dict[str, int]
    registrations: dict[str, int]


class _Builder:
    def __init__(self, s: Session) -> None:
        self.s = s
        self.seq = 0
        street = models.Street(name="河海街道")
        self.community = models.Community(street=street, name="测试社区", compound="兰翔新村")
        s.add_all([street, self.community])
        s.flush()
        self.grids = {code: models.Grid(community_id=self.community.id, code=code, name=name, seq=i)
                      for i, (code, name) in enumerate((("T01", "第一网格"), ("T02", "第二网格")), start=1)}
        s.add_all(self.grids.values())
        s.flush()
        self.buildings = {n: models.Building(community_id=self.community.id, grid_id=self.grids[g].id, number=n,
                                             floors=6, units=4) for n, g in (("1", "T01"), ("2", "T02"))}
        s.add_all(self.buildings.values())
        s.flush()
        self.flats: dict[str, int] = {}
        self.households: dict[str, int] = {}
        self.persons: dict[str, int] = {}
        self.registrations: dict[str, int] = {}

    def flat(self, key: str, status: str | None = None) -> models.Flat:
        b, u, r = key.split("-")
        flat = models.Flat(building_id=self.buildings[b].id, unit=int(u), floor=int(r) // 100, room=r,
                           residence_status=status)
        self.s.add(flat)
        self.s.flush()
        self.flats[key] = flat.id
        return flat

    def household(self, key: str, members: list[dict], *, status: str = schema.RES_OWNER,
                  landlord: str | None = None, label: str | None = None) -> int:
        flat_id = self.flats.get(key) or self.flat(key, status).id
        hh = models.Household(flat_id=flat_id, head_name=members[0]["name"], residence_status=status,
                              landlord=landlord)
        self.s.add(hh)
        self.s.flush()
        self.households[label or key] = hh.id
        for i, m in enumerate(members):
            self.seq += 1
            birth = m.get("birth", dt.date(1980, 1, 1))
            idn = m.get("id", make_id(birth, self.seq))
            person = models.Person(
                household_id=hh.id, name=m["name"], relation=m.get("relation", schema.HEAD_RELATION if i == 0
                                                                    else "10"),
                id_number=idn, id_raw=m.get("id_raw", idn), id_status=m.get("status", schema.ID_OK),
                birth_date=birth, birth_raw=m.get("birth_raw"), phone=m.get("phone", f"138{self.seq:08d}"),
                phone2=m.get("phone2"), phone_raw=m.get("phone_raw", m.get("phone", f"138{self.seq:08d}")),
                political_status=m.get("political", "13"), hukou_type=schema.HUKOU_LOCAL,
                sex=schema.SEX_MALE if idn and len(idn) == 18 and idn[16].isdigit() and int(idn[16]) % 2
                else schema.SEX_FEMALE)
            self.s.add(person)
            self.s.flush()
            self.persons[m.get("label", m["name"])] = person.id
        return hh.id

    def person_id(self, label: str) -> str | None:
        return self.s.get(models.Person, self.persons[label]).id_number

    def register(self, label: str, key: str | None, name: str, *, id_number: str | None = None,
                 status: str | None = None, phone: str | None = None, role: str | None = schema.CP_FAMILY,
                 in_community: bool = True) -> None:
        b, u, r = key.split("-") if key else (None, None, None)
        reg = models.CheckpointRegistration(
            community_id=self.community.id, name=name, id_number=id_number, id_raw=id_number,
            id_status=status or (schema.ID_OK if id_number else schema.ID_MISSING), phone=phone,
            address_raw=f"兰翔新村{b}幢{u}单元{r}室" if key else "兰翔新村", building_no=b,
            unit=int(u) if u else None, room=r, flat_id=self.flats.get(key) if key else None,
            in_community=in_community, role=role, reg_date=dt.date(2020, 2, 10))
        self.s.add(reg)
        self.s.flush()
        self.registrations[label] = reg.id


def build_town(s: Session) -> Town:
    t = _Builder(s)
    # 1-1-101: the owner registered with his ID; his wife did not -> nothing at the flat.
    t.household("1-1-101", [{"name": "黄国平", "birth": dt.date(1970, 5, 1)}, {"name": "李秀英"}])
    t.register("huang", "1-1-101", "黄国平", id_number=t.person_id("黄国平"), role=schema.CP_OWNER)
    # 1-1-102: nobody registered (one registration names another compound's flat 1-1-102: ignored).
    t.household("1-1-102", [{"name": "王建国"}, {"name": "王小明", "relation": "20"}])
    t.register("outside", "1-1-102", "钱七", id_number=make_id(dt.date(1990, 1, 1), 901), in_community=False)
    # 1-1-201: vacant in the register, somebody registered there; 1-1-301: a flat the register never listed.
    t.flat("1-1-201", schema.RES_VACANT)
    t.register("liu", "1-1-201", "刘洋", id_number=make_id(dt.date(1985, 2, 2), 902), role=schema.CP_OWNER)
    t.register("zhao", "1-1-301", "赵六", id_number=make_id(dt.date(1986, 3, 3), 903), role=schema.CP_TENANT)
    # 1-1-202: rented to 陈伟; another tenant registered. 1-1-302: rented, the same tenant with a new phone.
    t.household("1-1-202", [{"name": "陈伟"}], status=schema.RES_RENTED, landlord="周老板")
    t.register("sun", "1-1-202", "孙丽", id_number=make_id(dt.date(1995, 4, 4), 904), role=schema.CP_TENANT)
    t.household("1-1-302", [{"name": "吴刚"}], status=schema.RES_RENTED, landlord="周老板")
    t.register("wu", "1-1-302", "吴刚", id_number=t.person_id("吴刚"), phone="13999999999", role=schema.CP_TENANT)
    # 1-4-202 (丁单元202): the seed's sold flat: register 张民生, the checkpoint a new owner.
    t.household("1-4-202", [{"name": "张民生", "birth": dt.date(1948, 6, 1)}, {"name": "刘桂兰"}])
    t.register("zhangxin", "1-4-202", "张新", id_number=make_id(dt.date(1982, 5, 5), 905), role=schema.CP_OWNER)
    t.register("wangfang", "1-4-202", "王芳", id_number=make_id(dt.date(1984, 6, 6), 906))
    # 1-2-101: the family registered, plus a new member.
    t.household("1-2-101", [{"name": "郑明"}, {"name": "郑丽"}])
    t.register("zhengming", "1-2-101", "郑明", id_number=t.person_id("郑明"), role=schema.CP_OWNER)
    t.register("xiaohong", "1-2-101", "郑小红", id_number=make_id(dt.date(2001, 7, 7), 907))
    # 1-2-102: a typo at the checkpoint (桦 for 华); the register's ID was damaged by Excel.
    t.household("1-2-102", [{"name": "马建华", "id": "320411196002030000", "id_raw": "320411196002030000",
                             "status": schema.ID_EXCEL_FLOAT, "birth": dt.date(1960, 2, 3)}])
    t.register("typo", "1-2-102", "马建桦", id_number=make_id(dt.date(1960, 2, 3), 31), phone="13700000000",
               role=schema.CP_OWNER)
    # 1-2-201: father and son with the same name, no IDs; one of them registered without an ID.
    t.household("1-2-201", [{"name": "李军", "id": None, "status": schema.ID_MISSING, "label": "李军父"},
                            {"name": "李军", "id": None, "status": schema.ID_MISSING, "label": "李军子",
                             "relation": "20"}])
    t.register("lijun", "1-2-201", "李军", role=schema.CP_OWNER)
    # 2-1-101 and 2-1-102: one ID listed at two flats. 2-1-201: 李秀英 of 1-1-101 registered at her mother's.
    shared = make_id(dt.date(1975, 8, 8), 921)
    t.household("2-1-101", [{"name": "高峰", "id": shared, "label": "高峰1"}])
    t.household("2-1-102", [{"name": "高峰", "id": shared, "label": "高峰2"}])
    t.register("gao", "2-1-101", "高峰", id_number=shared, role=schema.CP_OWNER)
    t.household("2-1-201", [{"name": "林玉珍", "birth": dt.date(1940, 9, 9)}])
    t.register("mother", "2-1-201", "林玉珍", id_number=t.person_id("林玉珍"), role=schema.CP_OWNER)
    t.register("daughter", "2-1-201", "李秀英", id_number=t.person_id("李秀英"))
    # 2-2-101: register-only problems (a bad check char, a wrong birth month, no phone) and a party member.
    good = make_id(dt.date(1951, 3, 12), 941)
    t.household("2-2-101", [
        {"name": "罗文", "id": good[:17] + ("1" if good[17] != "1" else "2"), "status": schema.ID_BAD_CHECKSUM,
         "birth": dt.date(1951, 3, 12), "birth_raw": "1951.03", "phone": None, "phone_raw": None,
         "political": "01"},
        {"name": "罗春梅", "birth": dt.date(1953, 5, 1), "birth_raw": "1952.05"},
        {"name": "罗海燕", "birth": dt.date(1980, 10, 1), "birth_raw": "1980年10月", "phone": None,
         "phone_raw": "87654321"}])
    t.register("luo", "2-2-101", "罗海燕", id_number=t.person_id("罗海燕"))
    s.flush()
    return Town(t.community.id, {c: g.id for c, g in t.grids.items()}, t.flats, t.households, t.persons,
                t.registrations)


@pytest.fixture
def town(tmp_path):
    engine = store.open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with store.session_scope(engine) as s:
        ids = build_town(s)
    return engine, ids


def _run(engine, town):
    with store.session_scope(engine) as s:
        return reconcile.reconcile(s, town.community_id, as_of=AS_OF)


def _flat_set(result) -> set[tuple[str, str]]:
    f = result.findings
    flat = f[f["category"].isin(schema.FLAT_FINDINGS)]
    return {(k, c) for k, c in zip(flat["flat_key"], flat["category"])}


def _person_set(result, category: str) -> set[tuple[str, str]]:
    f = result.findings
    f = f[f["category"] == category]
    return {(k, n) for k, n in zip(f["flat_key"], f["name"])}


# --- matching ------------------------------------------------------------------------------------------------
def test_matches_carry_reason_and_confidence(town):
    engine, t = town
    result = _run(engine, t)
    m = result.matches.set_index("reg_id")
    assert m.loc[t.registrations["huang"], "reason"] == reconcile.REASON_ID
    assert m.loc[t.registrations["huang"], "confidence"] == 1.0
    assert m.loc[t.registrations["huang"], "person_id"] == t.persons["黄国平"]
    typo = m.loc[t.registrations["typo"]]
    assert typo["reason"] == reconcile.REASON_SIMILAR          # 马建桦 at the flat of 马建华
    assert typo["person_id"] == t.persons["马建华"]
    assert 0 < typo["confidence"] < m.loc[t.registrations["huang"], "confidence"]
    assert pd.isna(m.loc[t.registrations["xiaohong"], "person_id"])   # a new member matches nobody
    # an ID listed at two flats: the candidate at the registration's own flat wins
    assert m.loc[t.registrations["gao"], "person_id"] == t.persons["高峰1"]


def test_typo_at_the_right_flat_is_neither_new_member_nor_absent(town):
    engine, t = town
    result = _run(engine, t)
    assert ("1-2-102", "马建桦") not in _person_set(result, schema.F_NEW_MEMBER)
    assert not any(k == "1-2-102" for k, _ in _flat_set(result))


def test_two_candidates_make_an_ambiguous_finding_not_a_pick(town):
    engine, t = town
    result = _run(engine, t)
    m = result.matches.set_index("reg_id").loc[t.registrations["lijun"]]
    assert m["ambiguous"] and pd.isna(m["person_id"])
    assert set(m["candidates"]) == {t.persons["李军父"], t.persons["李军子"]}
    amb = result.findings[result.findings["category"] == schema.F_AMBIGUOUS_MATCH]
    assert list(amb["checkpoint_id"]) == [t.registrations["lijun"]]
    assert "2 人" in amb["evidence"].iloc[0]
    # both candidates live there: the household was seen, so no owner change or absence at 1-2-201
    assert not any(k == "1-2-201" for k, _ in _flat_set(result))


def test_valid_ids_that_differ_veto_a_name_match():
    persons = pd.DataFrame({"person_id": [1], "household_id": [1], "flat_key": ["1-1-101"], "name": ["张伟"],
                            "id_number": [make_id(dt.date(1980, 1, 1), 1)], "id_status": [schema.ID_OK],
                            "phone": ["13800000001"], "phone2": [None], "phone_raw": [None], "birth_date": [None],
                            "birth_raw": [None], "political_status": [None]})
    regs = pd.DataFrame({"reg_id": [1, 2], "flat_key": ["1-1-101", "1-1-101"], "name": ["张伟", "张伟"],
                         "id_number": [make_id(dt.date(1999, 1, 1), 2), None],
                         "id_status": [schema.ID_OK, schema.ID_MISSING], "phone": [None, None],
                         "role": [schema.CP_FAMILY, schema.CP_FAMILY], "in_community": [True, True]})
    m = reconcile.match_registrations(persons, regs).set_index("reg_id")
    assert pd.isna(m.loc[1, "person_id"])                       # same name, another valid ID: another person
    assert m.loc[2, "person_id"] == 1 and m.loc[2, "reason"] == reconcile.REASON_NAME_FLAT


@pytest.mark.parametrize("a, b, similar", [
    ("马建华", "马建桦", True), ("张伟", "张玮", True), ("陳明", "陈明", True), ("张伟", "李伟", False),
    ("张伟", "张伟明", False), ("王芳", "王芳", False), ("欧阳明华", "欧阳明桦", True)])
def test_similar_names(a, b, similar):
    assert reconcile.similar_names(a, b) is similar


@pytest.mark.parametrize("raw, expected", [
    ("1952.03", (dt.date(1952, 3, 1), "month")), ("1952-03-12 00:00:00", (dt.date(1952, 3, 12), "day")),
    ("19520312", (dt.date(1952, 3, 12), "day")), ("1952年3月", (dt.date(1952, 3, 1), "month")),
    ("195203", (dt.date(1952, 3, 1), "month")), ("9989", (dt.date(1927, 5, 7), "day")),
    ("1952", (dt.date(1952, 1, 1), "year")), ("1952.1", None), ("不详", None)])
def test_birth_cells(raw, expected):
    assert reconcile.birth_of_raw(raw) == expected


# --- flat findings -------------------------------------------------------------------------------------------
def test_flat_findings(town):
    engine, t = town
    result = _run(engine, t)
    assert _flat_set(result) == {
        ("1-1-102", schema.F_ABSENT_REGISTERED),     # nobody of 王建国's household registered
        ("1-1-201", schema.F_PRESENT_UNREGISTERED),  # vacant in the register
        ("1-1-301", schema.F_PRESENT_UNREGISTERED),  # not in the register at all
        ("1-1-202", schema.F_TENANT_CHANGED),
        ("1-4-202", schema.F_OWNER_CHANGED),
        ("2-1-102", schema.F_ABSENT_REGISTERED),     # 高峰 registered at 2-1-101 (his ID is listed at both)
    }
    # negatives: the owner registered (1-1-101); a tenant with a new phone number (1-1-302) is not a change
    assert result.outside == 1 and result.unplaced == 0


def test_owner_change_evidence_names_both_and_masks_ids(town):
    engine, t = town
    result = _run(engine, t)
    f = result.findings.set_index(["flat_key", "category"])
    evidence = f.loc[("1-4-202", schema.F_OWNER_CHANGED), "evidence"]
    assert "张新" in evidence and "张民生" in evidence and "业主" in evidence
    assert f.loc[("1-1-202", schema.F_TENANT_CHANGED), "evidence"].count("周老板") == 1
    for text in result.findings["evidence"]:
        assert not re.search(r"\d{15,}", text), text


def test_present_unregistered_at_an_unlisted_flat_keeps_its_place(town):
    engine, t = town
    _run(engine, t)
    with Session(engine) as s:
        row = s.scalars(select(models.Finding).where(models.Finding.category == schema.F_PRESENT_UNREGISTERED,
                                                     models.Finding.flat_id.is_(None))).one()
        assert row.checkpoint_id == t.registrations["zhao"]
        reg = s.get(models.CheckpointRegistration, row.checkpoint_id)
        assert (reg.building_no, reg.unit, reg.room) == ("1", 1, "301")


# --- person and household findings ---------------------------------------------------------------------------
def test_person_findings(town):
    engine, t = town
    result = _run(engine, t)
    assert _person_set(result, schema.F_NEW_MEMBER) == {("1-2-101", "郑小红")}
    assert _person_set(result, schema.F_ID_AT_TWO_FLATS) == {
        ("2-1-101", "高峰"), ("2-1-102", "高峰"),     # one ID at two flats of the register
        ("2-1-201", "李秀英")}                        # registered at her mother's, listed at 1-1-101
    assert _person_set(result, schema.F_ID_CORRUPTED) == {("1-2-102", "马建华")}
    assert _person_set(result, schema.F_ID_INVALID) == {("2-2-101", "罗文")}
    # 罗春梅 1952.05 vs ID 1953-05; 罗文's 1951.03 agrees with his (bad check char but readable) ID
    assert _person_set(result, schema.F_BIRTH_MISMATCH) == {("2-2-101", "罗春梅")}
    # 罗文 has no phone at all; 罗海燕's 87654321 lacks the area code but is a number to call
    assert _person_set(result, schema.F_MISSING_PHONE) == {("2-2-101", "罗文")}
    # new_member negatives: 王芳 came with the new owner (owner change covers her); 黄国平's flat has no stranger
    assert not any(k in ("1-4-202", "1-1-101") for k, _ in _person_set(result, schema.F_NEW_MEMBER))


def test_households_to_confirm(town):
    engine, t = town
    result = _run(engine, t)
    f = result.findings
    elderly = set(f.loc[f["category"] == schema.F_CONFIRM_ELDERLY, "household_id"])
    party = set(f.loc[f["category"] == schema.F_CONFIRM_PARTY, "household_id"])
    h = t.households
    assert elderly == {h["1-4-202"], h["1-2-102"], h["2-1-201"], h["2-2-101"]}   # 60+ on 2020-03-25
    assert h["1-1-101"] not in elderly                                         # 黄国平 is 49
    assert party == {h["2-2-101"]}
    ev = f.loc[(f["category"] == schema.F_CONFIRM_ELDERLY) & (f["household_id"] == h["1-2-102"]), "evidence"]
    assert "60岁" in ev.iloc[0] and "马建华" in ev.iloc[0]


# --- storing: idempotence, visits, both backends ---------------------------------------------------------------
def _open(s: Session, community_id: int) -> dict[tuple, tuple]:
    rows = s.scalars(select(models.Finding).where(models.Finding.community_id == community_id,
                                                  models.Finding.status == schema.FINDING_OPEN))
    return {(f.category, f.flat_id, f.household_id, f.person_id, f.checkpoint_id): (f.id, f.evidence) for f in rows}


def test_reconcile_twice_gives_the_same_open_set(db_url):
    engine = store.open_store(db_url)
    with store.session_scope(engine) as s:
        t = build_town(s)
    first = _run(engine, t)
    with Session(engine) as s:
        before = _open(s, t.community_id)
    second = _run(engine, t)
    with Session(engine) as s:
        after = _open(s, t.community_id)
    assert before == after and len(before) == len(first.findings)
    assert second.inserted == 0 and second.removed == 0 and second.updated == 0
    assert first.counts == second.counts
    engine.dispose()


def test_a_closed_or_visited_finding_survives_and_is_not_raised_again(town):
    engine, t = town
    _run(engine, t)
    with store.session_scope(engine) as s:
        # 王建国's household was visited: they still live there (closes the absence);
        # 张民生's flat: nobody answered (the finding stays open, now with a visit).
        verification.record_visit(s, t.households["1-1-102"], by="wang", method=schema.M_DOOR,
                                  result=schema.R_CONFIRMED, note="人在，未办出入证")
        verification.record_visit(s, t.households["1-4-202"], by="wang", method=schema.M_PHONE,
                                  result=schema.R_UNREACHABLE, note=None)
    with Session(engine) as s:
        absent_before = [(f.id, f.status) for f in s.scalars(select(models.Finding).where(
            models.Finding.category == schema.F_ABSENT_REGISTERED,
            models.Finding.flat_id == t.flats["1-1-102"]))]
        visited = s.scalars(select(models.Finding).where(
            models.Finding.category == schema.F_OWNER_CHANGED)).one()
        visited_id = visited.id
        s.add(models.Visit(finding_id=visited_id, flat_id=t.flats["1-4-202"], by="wang", method=schema.M_PHONE,
                           result=schema.R_UNREACHABLE))
        s.commit()
    assert [status for _, status in absent_before] == [schema.FINDING_CLOSED]
    result = _run(engine, t)
    with Session(engine) as s:
        absent = [(f.id, f.status) for f in s.scalars(select(models.Finding).where(
            models.Finding.category == schema.F_ABSENT_REGISTERED, models.Finding.flat_id == t.flats["1-1-102"]))]
        owner = [(f.id, f.status) for f in s.scalars(select(models.Finding).where(
            models.Finding.category == schema.F_OWNER_CHANGED))]
    assert absent == absent_before                                 # kept closed, not raised again
    assert owner == [(visited_id, schema.FINDING_OPEN)]            # kept (a visit refers to it), not duplicated
    assert result.settled >= 2
    assert ("1-1-102", schema.F_ABSENT_REGISTERED) in _flat_set(result)   # still found, just not raised again


def test_a_finding_no_longer_found_is_removed_unless_visited(town):
    engine, t = town
    _run(engine, t)
    with store.session_scope(engine) as s:
        # 王建国 registers after all; 郑小红's address turns out to be in another compound
        s.add(models.CheckpointRegistration(community_id=t.community_id, name="王建国", id_status=schema.ID_MISSING,
                                            building_no="1", unit=1, room="102", flat_id=t.flats["1-1-102"],
                                            in_community=True, role=schema.CP_OWNER))
        new_member = s.scalars(select(models.Finding).where(models.Finding.category == schema.F_NEW_MEMBER)).one()
        s.add(models.Visit(finding_id=new_member.id, flat_id=t.flats["1-2-101"], by="wang", method=schema.M_PHONE,
                           result=schema.R_REVISIT))
        s.get(models.CheckpointRegistration, t.registrations["xiaohong"]).in_community = False
    result = _run(engine, t)
    with Session(engine) as s:
        cats = {(f.category, f.flat_id) for f in s.scalars(select(models.Finding).where(
            models.Finding.status == schema.FINDING_OPEN))}
    assert (schema.F_ABSENT_REGISTERED, t.flats["1-1-102"]) not in cats   # gone: no visit referred to it
    assert (schema.F_NEW_MEMBER, t.flats["1-2-101"]) in cats              # not found, but a visit refers to it
    assert result.removed >= 1


def test_other_communities_are_untouched(town):
    engine, t = town
    with store.session_scope(engine) as s:
        other = models.Community(street_id=s.get(models.Community, t.community_id).street_id, name="白云社区")
        s.add(other)
        s.flush()
        s.add(models.Finding(community_id=other.id, category=schema.F_ABSENT_REGISTERED, status=schema.FINDING_OPEN))
        other_id = other.id
    _run(engine, t)
    with Session(engine) as s:
        assert len(_open(s, other_id)) == 1


def test_a_finding_found_again_keeps_its_id_and_gets_fresh_evidence(db_url):
    engine = store.open_store(db_url)
    with store.session_scope(engine) as s:
        t = build_town(s)
    _run(engine, t)
    with Session(engine) as s:
        before = _open(s, t.community_id)
    with store.session_scope(engine) as s:
        s.add(models.CheckpointRegistration(community_id=t.community_id, name="张小新", id_status=schema.ID_MISSING,
                                            building_no="1", unit=4, room="202", flat_id=t.flats["1-4-202"],
                                            in_community=True, role=schema.CP_FAMILY))
    result = _run(engine, t)
    with Session(engine) as s:
        after = _open(s, t.community_id)
    key = next(k for k in before if k[0] == schema.F_OWNER_CHANGED)
    assert after[key][0] == before[key][0]                      # same finding, same id
    assert "张小新" in after[key][1] and "张小新" not in before[key][1]
    assert result.updated >= 1 and result.removed == 0
    engine.dispose()
