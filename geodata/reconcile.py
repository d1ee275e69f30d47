"""The cross-check (交叉比对): checkpoint registrations (卡口登记) against the master register (家庭户情况平铺表).

Two layers:

* a core over DataFrames — `match_registrations` (who at the checkpoint is whom in the register, with the keys that
  agreed and a confidence) and `cross_check` (the findings those matches imply, DOMAIN.md's definitions). It is pure
  and vectorised, so the same code serves a community of 6k persons and the 2M-person benchmark
  (benchmarks/reconcile_scale.py);
* `reconcile(session, community_id)`, which loads one community into those frames with a few queries, runs the core
  and writes `models.Finding` rows in bulk, replacing the open findings of the previous run.

Matching, in order; a registration stops at the first step that finds a candidate:
1. the same normalised ID number (only IDs with status ok / upgraded_15 on both sides);
   1b. the same name and the same leading digits when one side's ID is damaged (an Excel number keeps its first
   14 digits: area and birth date; a wrong check char keeps 17);
2. the same name and phone (the register's phone or phone2);
3. the same name at the same flat;
4. a similar name at the same flat (one character different, or a variant character: 張/张), for typos.
Steps 2-4 never pair two valid IDs that differ (the IDs would have matched in step 1 if they were the same person) —
unless one is the other as Excel stores it (first 15 digits, then 000: such an ID can pass the check) — and step 4
only considers register persons nobody else has matched. Several candidates at one step: the one at the
registration's flat wins, then the one nobody else matched, else the registration becomes an `ambiguous_match`
finding — never a silent pick (if all its candidates live at its flat, the household still counts as seen there).

Flat findings (a flat is building-unit-room; registrations whose address names a flat the register has never listed
still count, by their parsed address):
* absent_registered: an active household; nobody registered at the flat, and none of its members was matched through
  a registration whose address could not be placed;
* present_unregistered: registrations at a flat without an active household;
* owner_changed: a checkpoint owner (业主) matching nobody of the flat's households (a rented flat's landlord
  excepted), or none of an owner-occupied household at the checkpoint while others registered there;
* tenant_changed: the register says rented; others registered there and none of the tenant household did.
Person findings: new_member (a registrant at a flat whose household was seen, matching nobody, not an owner),
id_at_two_flats (one valid ID at two flats in the register, or a registrant matched by ID/name to a register person of
another flat), id_corrupted (also a '...000' ID that passes the check when the checkpoint shows the full number),
id_invalid, birth_date_mismatch (against the ID's date; for an unreadable ID, against the ID the person gave at the
checkpoint), missing_phone (nothing at all in the phone cell; a number without area code is a contact),
ambiguous_match. Household findings to confirm: party family, a member 60+ on `as_of` (age from the ID's birth date,
else the register's). Evidence texts name the rows behind a finding and never show a full ID number.
Changed phones alone are never a finding. Registrations outside the community are matched but raise nothing.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
import time
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Final, NamedTuple

import numpy as np
import pandas as pd
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from geodata import models, schema, store
from geodata.access import mask_id, mask_phone
from geodata.indicators import elderly_cutoff

# --- Names and codes of the core's frames ---------------------------------------------------------------------
REASON_ID: Final = "id"
REASON_ID_PREFIX: Final = "id prefix+name"
REASON_NAME_PHONE: Final = "name+phone"
REASON_NAME_FLAT: Final = "name+flat"
REASON_SIMILAR: Final = "similar name"
REASONS: Final = (REASON_ID, REASON_ID_PREFIX, REASON_NAME_PHONE, REASON_NAME_FLAT, REASON_SIMILAR)
REASON_LABELS: Final = {REASON_ID: "身份证号一致", REASON_ID_PREFIX: "身份证号前段+姓名一致",
                        REASON_NAME_PHONE: "姓名+电话一致", REASON_NAME_FLAT: "姓名+户室一致",
                        REASON_SIMILAR: "姓名相近（同一户室）"}
#: Confidence of a match found at each step.
REASON_CONFIDENCE: Final = {REASON_ID: 1.0, REASON_ID_PREFIX: 0.95, REASON_NAME_PHONE: 0.95, REASON_NAME_FLAT: 0.9,
                            REASON_SIMILAR: 0.7}

VALID_ID: Final = (schema.ID_OK, schema.ID_UPGRADED_15)
INVALID_ID: Final = (schema.ID_BAD_CHECKSUM, schema.ID_BAD_DATE, schema.ID_BAD_FORMAT)
#: Statuses whose characters 7-14 still carry a readable birth date. An ID Excel turned into a number kept its
#: first 15 digits, so its date too — unless rounding carried into the day (then off by one day at most).
ID_WITH_BIRTH: Final = (schema.ID_OK, schema.ID_UPGRADED_15, schema.ID_BAD_CHECKSUM, schema.ID_EXCEL_FLOAT)
#: Damaged IDs whose leading digits still identify someone together with the name: characters compared.
DAMAGED_PREFIX: Final = {schema.ID_EXCEL_FLOAT: 14, schema.ID_BAD_CHECKSUM: 17, schema.ID_BAD_DATE: 17}

FLAT_COLUMNS: Final = ("flat_key", "flat_id", "building", "unit", "room", "residence_status")
HOUSEHOLD_COLUMNS: Final = ("household_id", "flat_key", "head_name", "residence_status", "landlord")
PERSON_COLUMNS: Final = ("person_id", "household_id", "flat_key", "name", "id_number", "id_status", "phone",
                         "phone2", "phone_raw", "birth_date", "birth_raw", "political_status")
REGISTRATION_COLUMNS: Final = ("reg_id", "flat_key", "name", "id_number", "id_status", "phone", "role",
                               "in_community")
MATCH_COLUMNS: Final = ("reg_id", "person_id", "reason", "confidence", "ambiguous", "candidates")
FINDING_COLUMNS: Final = ("category", "flat_key", "household_id", "person_id", "checkpoint_id", "name", "evidence",
                          "confidence")

#: Most names an evidence text lists before "等 n 人".
_EVIDENCE_NAMES = 3
_ROLE_TEXT = {schema.CP_OWNER: "业主", schema.CP_TENANT: "租户", schema.CP_FAMILY: "家属"}

#: Variant and traditional characters seen in names, folded before comparing (張/张, 峯/峰 …).
_VARIANTS = str.maketrans(
    "張陳劉黃趙吳鄭周王孫馬朱胡郭何高林羅梁宋謝韓唐馮許鄧蕭曹曾彭蔡潘袁於董葉蘇呂魏蔣田杜丁沈姜範傅鍾盧汪戴崔陸廖姚"
    "華國偉軍紅麗靜傑敏峯羣綫鳳蘭燕娟勇剛亮東榮濤斌霞琴珍梅婷玲芳英明輝龍鵬飛雲貴義強",
    "张陈刘黄赵吴郑周王孙马朱胡郭何高林罗梁宋谢韩唐冯许邓萧曹曾彭蔡潘袁于董叶苏吕魏蒋田杜丁沈姜范傅钟卢汪戴崔陆廖姚"
    "华国伟军红丽静杰敏峰群线凤兰燕娟勇刚亮东荣涛斌霞琴珍梅婷玲芳英明辉龙鹏飞云贵义强")


def flat_key(building: Any, unit: Any, room: Any) -> str:
    """The key of a flat in the core's frames: '12-4-202' (building number, unit number, room)."""
    return f"{building}-{int(unit)}-{room}"


def split_flat_key(key: str) -> tuple[str, int, str]:
    """('12', 4, '202') from '12-4-202'."""
    building, unit, room = key.rsplit("-", 2)
    return building, int(unit), room


def normalise_name(name: Any) -> str:
    """A name as compared: NFKC, no whitespace (the register writes '张 三' for aligned columns)."""
    if name is None or (isinstance(name, float) and np.isnan(name)):
        return ""
    return "".join(unicodedata.normalize("NFKC", str(name)).split())


def similar_names(a: str, b: str) -> bool:
    """True for two different names that are the same after folding variant characters, or differ in exactly one
    character at the same place (a typo: 张伟明/张玮明). Two-character names must share the surname."""
    if a == b:
        return False
    fa, fb = a.translate(_VARIANTS), b.translate(_VARIANTS)
    if fa == fb:
        return True
    if len(fa) != len(fb) or len(fa) < 2:
        return False
    diff = [i for i, (x, y) in enumerate(zip(fa, fb)) if x != y]
    return len(diff) == 1 and not (len(fa) == 2 and diff[0] == 0)


# --- Birth dates of the register (a small reader: geodata does not import loaders) ---------------------------
_RE_YMD = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*(?:[-/.月]\s*(?:(\d{1,2})\s*[日号]?)?)?"
                     r"(?:\s*[T ]?\s*\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
_EXCEL_EPOCH = dt.date(1899, 12, 30)


def birth_of_raw(raw: Any) -> tuple[dt.date, str] | None:
    """(date, precision 'day'/'month'/'year') of a register birth cell as stored in `Person.birth_raw`, or None when
    it cannot be read unambiguously (a float '1952.1' may be January or October)."""
    if raw is None:
        return None
    text = unicodedata.normalize("NFKC", str(raw)).strip()
    if not text:
        return None
    try:
        if text.isdigit():
            if len(text) == 8:
                return dt.date(int(text[:4]), int(text[4:6]), int(text[6:])), "day"
            if len(text) == 6:
                return dt.date(int(text[:4]), int(text[4:]), 1), "month"
            if len(text) == 4 and 1900 <= int(text) <= dt.date.today().year:
                return dt.date(int(text), 1, 1), "year"
            if len(text) <= 5 and int(text) > 60:    # an Excel date serial (1927-05-07 is 9989)
                return _EXCEL_EPOCH + dt.timedelta(days=int(text)), "day"
            return None
        if re.fullmatch(r"\d{4}\.1", text):          # Excel turned 1952.10 into 1952.1: ambiguous
            return None
        m = _RE_YMD.fullmatch(text.removesuffix("月"))
        if m:
            y, mo, d = m.groups()
            return dt.date(int(y), int(mo), int(d) if d else 1), "day" if d else "month"
        if re.fullmatch(r"\d{4}年?", text):
            return dt.date(int(text[:4]), 1, 1), "year"
    except (ValueError, OverflowError):
        return None
    return None


def birth_disagrees(raw: Any, id_birth: dt.date | None, *, tolerance_days: int = 0) -> bool:
    """True when the register's birth cell disagrees with the ID's birth date at the cell's precision
    (by more than `tolerance_days` for a full date)."""
    if id_birth is None:
        return False
    parsed = birth_of_raw(raw)
    if parsed is None:
        return False
    value, precision = parsed
    if precision == "year":
        return value.year != id_birth.year
    if precision == "month":
        return (value.year, value.month) != (id_birth.year, id_birth.month)
    return abs((value - id_birth).days) > tolerance_days


def _birth_disagreements(raw: pd.Series, id_birth: pd.Series, id_status: pd.Series, from_cp: pd.Series) -> list:
    """Index labels where the birth cell disagrees with the ID's date (`birth_disagrees`, vectorised: each distinct
    cell text is read once). An Excel-damaged ID's own date may be one day off."""
    mask = raw.notna() & id_birth.notna()
    if not mask.any():
        return []
    cells = raw[mask]
    parsed = {u: birth_of_raw(u) for u in pd.unique(cells)}
    value = pd.to_datetime(cells.map({u: (v[0] if v else None) for u, v in parsed.items()}), errors="coerce")
    precision = cells.map({u: (v[1] if v else None) for u, v in parsed.items()})
    ref = id_birth[mask]
    tolerance = ((id_status[mask] == schema.ID_EXCEL_FLOAT) & ~from_cp[mask]).astype(int)
    year_differs = value.dt.year != ref.dt.year
    month_differs = year_differs | (value.dt.month != ref.dt.month)
    day_differs = (value - ref).dt.days.abs() > tolerance
    bad = value.notna() & np.select([precision == "year", precision == "month"], [year_differs, month_differs],
                                    default=day_differs).astype(bool)
    return list(cells.index[bad.to_numpy()])


def _id_birth(id_number: pd.Series, id_status: pd.Series) -> pd.Series:
    """Birth dates (datetime64, NaT when none) from the ID numbers whose date part is readable."""
    usable = id_status.isin(ID_WITH_BIRTH) & id_number.notna() & (id_number.str.len() == 18)
    text = id_number.where(usable).str.slice(6, 14)
    return pd.to_datetime(text, format="%Y%m%d", errors="coerce")


# --- Matching ---------------------------------------------------------------------------------------------------
def _normalised_names(names: pd.Series) -> pd.Series:
    """`normalise_name` of a column, computed once per distinct name."""
    uniq = pd.unique(names.dropna())
    return names.map(dict(zip(uniq, map(normalise_name, uniq)))).fillna("").astype(object)


def _with_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the compared forms: normalised name and valid ID."""
    frame["name_n"] = _normalised_names(frame["name"])
    frame["id_valid"] = frame["id_number"].where(frame["id_status"].isin(VALID_ID))
    return frame


def _with_prefixes(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the leading digits of valid and damaged 18-character IDs (`pre14`, `pre17`) and `damaged`."""
    ids, status = frame["id_number"], frame["id_status"]
    long = ids.notna() & (ids.str.len() == 18) & status.isin(VALID_ID + tuple(DAMAGED_PREFIX))
    return frame.assign(pre14=ids.where(long).str.slice(0, 14),
                        pre17=ids.where(long & (status != schema.ID_EXCEL_FLOAT)).str.slice(0, 17),
                        damaged=status.isin(tuple(DAMAGED_PREFIX)))


def _resolve(pairs: pd.DataFrame, reason: str, matched_persons: set[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(matches, ambiguities) of one step's candidate pairs (reg_id, person_id, reg_flat, person_flat).

    One candidate: a match. Several: the only one at the registration's flat, else the only one nobody else matched
    yet; otherwise the registration is ambiguous (its candidates are listed)."""
    pairs = pairs.drop_duplicates(["reg_id", "person_id"])
    n = pairs.groupby("reg_id")["person_id"].transform("size")
    single = pairs[n == 1]
    multi = pairs[n > 1]
    picked = [single[["reg_id", "person_id"]]]
    if len(multi):
        rest = multi
        for prefer_same_flat in (True, False):
            prefer = (rest["person_flat"] == rest["reg_flat"]) if prefer_same_flat else \
                ~rest["person_id"].isin(matched_persons)
            sub = rest[prefer.fillna(False).astype(bool)]
            ns = sub.groupby("reg_id")["person_id"].transform("size")
            chosen = sub[ns == 1]
            picked.append(chosen[["reg_id", "person_id"]])
            rest = rest[~rest["reg_id"].isin(chosen["reg_id"])]
            if rest.empty:
                break
        amb = (rest.groupby("reg_id")["person_id"].agg(lambda s: tuple(sorted(int(x) for x in s)))
               .rename("candidates").reset_index())
    else:
        amb = pd.DataFrame({"reg_id": pd.Series(dtype="int64"), "candidates": pd.Series(dtype=object)})
    matches = pd.concat(picked, ignore_index=True)
    matches["reason"] = reason
    matches["confidence"] = REASON_CONFIDENCE[reason]
    amb["reason"] = reason
    return matches, amb


def excel_damaged_pair(a: pd.Series, b: pd.Series) -> pd.Series:
    """True where one of two differing IDs is the other as Excel stores it: the first 15 digits, then '000'.

    Such an ID can even pass the check (1 in 11 do), so the loader cannot flag it; beside the full number it shows."""
    out = pd.Series(False, index=a.index)
    differ = (a.notna() & b.notna() & (a != b)).fillna(False).astype(bool)
    if differ.any():
        a, b = a[differ], b[differ]
        zeros = a.str.endswith("000").fillna(False).astype(bool) | b.str.endswith("000").fillna(False).astype(bool)
        out[differ] = ((a.str.slice(0, 15) == b.str.slice(0, 15)).fillna(False).astype(bool) & zeros).to_numpy()
    return out


def _veto(pairs: pd.DataFrame) -> pd.DataFrame:
    """Drop pairs whose two valid ID numbers differ (unless one is the other damaged by Excel)."""
    both = pairs["reg_id_valid"].notna() & pairs["person_id_valid"].notna()
    differ = both & (pairs["reg_id_valid"] != pairs["person_id_valid"]).fillna(False).astype(bool)
    if differ.any():
        differ &= ~excel_damaged_pair(pairs["reg_id_valid"], pairs["person_id_valid"])
    return pairs[~differ]


_PERSON_TEXT: Final = ("flat_key", "name", "id_number", "id_status", "phone", "phone2", "phone_raw", "birth_raw",
                       "political_status")
_REGISTRATION_TEXT: Final = ("flat_key", "name", "id_number", "id_status", "phone", "role")


def _as_text(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """A copy whose text columns have pandas' string dtype (missing values NA), whatever the caller passed."""
    return frame.assign(**{c: frame[c].astype("str") for c in columns if c in frame.columns})


def _as_objects(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """A copy whose text columns hold Python strings or None (for row-wise code)."""
    return frame.assign(**{c: frame[c].astype(object).where(frame[c].notna(), None)
                           for c in columns if c in frame.columns})


def match_registrations(persons: pd.DataFrame, registrations: pd.DataFrame) -> pd.DataFrame:
    """One row per registration: the register person it is (or NA), why (`reason`, REASONS), `confidence`, and for
    an ambiguous registration `ambiguous` True with the candidate person ids in `candidates`.

    `persons` has PERSON_COLUMNS (active persons of active households), `registrations` REGISTRATION_COLUMNS
    (`flat_key` NA when the address names no flat)."""
    p = _with_keys(_as_text(persons[["person_id", "flat_key", "name", "id_number", "id_status", "phone", "phone2"]],
                            _PERSON_TEXT))
    r = _with_keys(_as_text(registrations[["reg_id", "flat_key", "name", "id_number", "id_status", "phone"]],
                            _REGISTRATION_TEXT))
    r = r.rename(columns={"flat_key": "reg_flat", "id_valid": "reg_id_valid"})
    p = p.rename(columns={"flat_key": "person_flat", "id_valid": "person_id_valid"})
    pcols = ["person_id", "person_flat", "person_id_valid"]
    rcols = ["reg_id", "reg_flat", "reg_id_valid"]

    done: list[pd.DataFrame] = []
    ambiguous: list[pd.DataFrame] = []
    pending = r
    matched_persons: set[int] = set()

    def step(pairs: pd.DataFrame, reason: str) -> None:
        nonlocal pending
        if pairs.empty:
            return
        m, a = _resolve(pairs, reason, matched_persons)
        done.append(m)
        ambiguous.append(a)
        matched_persons.update(int(x) for x in m["person_id"])
        pending = pending[~pending["reg_id"].isin(m["reg_id"]) & ~pending["reg_id"].isin(a["reg_id"])]

    # 1. ID number
    with_id = pending[pending["reg_id_valid"].notna()]
    pairs = with_id[rcols].merge(p.loc[p["person_id_valid"].notna(), pcols], left_on="reg_id_valid",
                                 right_on="person_id_valid")
    step(pairs, REASON_ID)
    # 1b. damaged ID on one side: same name and leading digits (damaged register IDs against the pending
    # registrations, damaged registration IDs against the persons of the same names)
    cand = _with_prefixes(pending[pending["name_n"] != ""])
    cand = cand[cand["pre14"].notna()]
    bad_p = p[p["id_status"].isin(tuple(DAMAGED_PREFIX))]
    bad_r = cand[cand["damaged"]]
    near = pd.concat([bad_p, p[p["name_n"].isin(set(bad_r["name_n"].tolist()))]]).drop_duplicates("person_id")
    near = _with_prefixes(near)
    near = near[near["pre14"].notna()]
    pairs = cand[rcols + ["name_n", "pre14", "pre17", "damaged"]].merge(
        near[pcols + ["name_n", "pre14", "pre17", "damaged"]], on=["name_n", "pre14"], suffixes=("_r", "_p"))
    if len(pairs):
        same17 = (pairs["pre17_r"].isna() | pairs["pre17_p"].isna()
                  | (pairs["pre17_r"] == pairs["pre17_p"])).fillna(False).astype(bool)
        pairs = pairs[(pairs["damaged_r"] | pairs["damaged_p"]) & same17]
    step(pairs, REASON_ID_PREFIX)
    # 2. name + phone (either of the register's numbers; only numbers some pending registration gave)
    cand = pending[pending["phone"].notna() & (pending["name_n"] != "")]
    given = set(cand["phone"].tolist())
    phones = pd.concat([p.loc[p["phone"].isin(given), ["person_id", "name_n", "phone"]],
                        p.loc[p["phone2"].isin(given), ["person_id", "name_n", "phone2"]]
                        .rename(columns={"phone2": "phone"})])
    pairs = (cand[rcols + ["name_n", "phone"]].merge(phones, on=["name_n", "phone"])
             .merge(p[pcols], on="person_id"))
    step(_veto(pairs), REASON_NAME_PHONE)
    # 3. name + flat (only persons at flats where some pending registration is)
    cand = pending[pending["reg_flat"].notna() & (pending["name_n"] != "")]
    there = p[p["person_flat"].isin(set(cand["reg_flat"].tolist()))]
    pairs = cand[rcols + ["name_n"]].merge(there[pcols + ["name_n"]], left_on=["reg_flat", "name_n"],
                                           right_on=["person_flat", "name_n"])
    step(_veto(pairs), REASON_NAME_FLAT)
    # 4. similar name at the flat, among persons nobody matched
    cand = pending[pending["reg_flat"].notna() & (pending["name_n"] != "")]
    free = there[~there["person_id"].isin(matched_persons)]
    pairs = cand[rcols + ["name_n"]].merge(free[pcols + ["name_n"]], left_on="reg_flat", right_on="person_flat",
                                           suffixes=("_r", "_p"))
    if len(pairs):
        pairs = _veto(pairs)
        pairs = pairs[pairs["name_n_r"].str.len() == pairs["name_n_p"].str.len()]
        keep = [similar_names(a, b) for a, b in zip(pairs["name_n_r"].tolist(), pairs["name_n_p"].tolist())]
        pairs = pairs[np.asarray(keep, dtype=bool)] if len(pairs) else pairs
    step(pairs, REASON_SIMILAR)

    out = r[["reg_id"]].astype("int64")
    matched = pd.concat([pd.DataFrame({"reg_id": pd.Series(dtype="int64"), "person_id": pd.Series(dtype="int64"),
                                       "reason": pd.Series(dtype=object), "confidence": pd.Series(dtype=float)}),
                         *done], ignore_index=True)
    amb = pd.concat([pd.DataFrame({"reg_id": pd.Series(dtype="int64"), "candidates": pd.Series(dtype=object),
                                   "reason": pd.Series(dtype=object)}), *ambiguous], ignore_index=True)
    matched["reg_id"] = matched["reg_id"].astype("int64")
    amb["reg_id"] = amb["reg_id"].astype("int64")
    out = out.merge(matched, on="reg_id", how="left")
    amb_reason = amb.set_index("reg_id")["reason"] if len(amb) else pd.Series(dtype=object)
    out["ambiguous"] = out["reg_id"].isin(amb["reg_id"])
    out["reason"] = out["reason"].astype(object).where(out["reason"].notna(), out["reg_id"].map(amb_reason))
    out["candidates"] = out["reg_id"].map(amb.set_index("reg_id")["candidates"] if len(amb) else {})
    out["person_id"] = out["person_id"].astype("Int64")
    out["confidence"] = out["confidence"].astype(float)
    return out[list(MATCH_COLUMNS)]


# --- Findings ---------------------------------------------------------------------------------------------------
def _names(items: Iterable[str]) -> str:
    items = list(items)
    text = "、".join(items[:_EVIDENCE_NAMES])
    return text + (f" 等 {len(items)} 人" if len(items) > _EVIDENCE_NAMES else "")


def _reg_text(rows: list[tuple[str, str | None]]) -> str:
    """'卡口登记 3 人（业主 刘洋、家属 王芳、张明）'."""
    named = [f"{_ROLE_TEXT[role]} {name}" if role in _ROLE_TEXT else name for name, role in rows]
    return f"卡口登记 {len(rows)} 人（{_names(named)}）"


def _frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(records, columns=list(FINDING_COLUMNS))
    for col in ("household_id", "person_id", "checkpoint_id"):
        frame[col] = frame[col].astype("Int64")
    frame["confidence"] = frame["confidence"].astype(float)
    return frame


_PERSON_REF: Final = ("flat_key", "household_id", "person_id", "name")


def _rows(frame: pd.DataFrame, *columns: str) -> Iterable[tuple]:
    """The rows of some columns as plain Python tuples (much faster than itertuples on string columns)."""
    return zip(*(frame[c].tolist() for c in columns))


def _int(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


class _Household(NamedTuple):
    household_id: int
    flat_key: str
    head_name: str | None
    residence_status: str | None
    landlord: str | None


def cross_check(flats: pd.DataFrame, households: pd.DataFrame, persons: pd.DataFrame, registrations: pd.DataFrame,
                matches: pd.DataFrame, *, as_of: dt.date) -> pd.DataFrame:
    """The findings (FINDING_COLUMNS) of one community: flat, person and household categories of schema.

    `flats` (FLAT_COLUMNS) are the flats the register knows; `households`/`persons` the active ones;
    `matches` come from `match_registrations`. `flat_key` of a finding names its flat (also for flats the register
    has never listed), `name` the person a person finding is about."""
    persons = _as_text(persons, _PERSON_TEXT)
    registrations = _as_text(registrations, _REGISTRATION_TEXT)
    households = _as_objects(households, ("flat_key", "head_name", "residence_status", "landlord"))
    flats = _as_objects(flats, ("flat_key", "residence_status"))
    records: list[dict[str, Any]] = []
    add = records.append
    hh_of_flat: dict[str, list[_Household]] = defaultdict(list)
    for row in _rows(households, *_Household._fields):
        hh_of_flat[row[1]].append(_Household(*row))
    flat_status = dict(zip(flats["flat_key"].tolist(), flats["residence_status"].tolist()))
    person_flat = persons.set_index("person_id")["flat_key"]
    person_name = persons.set_index("person_id")["name"]

    # --- registrations at flats -------------------------------------------------------------------------------
    regs = registrations[registrations["in_community"].astype(bool)].merge(
        matches[["reg_id", "person_id", "reason", "confidence", "ambiguous"]], on="reg_id", how="left")
    regs["person_flat"] = regs["person_id"].map(person_flat)
    regs["member"] = (regs["person_flat"].notna() & (regs["person_flat"] == regs["flat_key"])).fillna(False)
    regs["ambiguous"] = regs["ambiguous"].fillna(False).astype(bool)
    # An ambiguous registration among members of its own flat still shows the household is there.
    candidates = matches.set_index("reg_id")["candidates"]
    amb_placed = regs[regs["ambiguous"] & regs["flat_key"].notna()]
    for i, key, reg_id in zip(amb_placed.index, amb_placed["flat_key"].tolist(), amb_placed["reg_id"].tolist()):
        if any(person_flat.get(c) == key for c in candidates[reg_id]):
            regs.loc[i, "member"] = True
    regs["member"] = regs["member"].astype(bool)
    placed = regs[regs["flat_key"].notna()]
    seen_unplaced = set(regs.loc[regs["flat_key"].isna() & regs["person_flat"].notna(), "person_flat"])

    def landlord_of(key: str) -> set[str]:
        return {normalise_name(h.landlord) for h in hh_of_flat.get(key, ()) if h.landlord}

    foreign_owner = (placed["role"] == schema.CP_OWNER) & ~placed["member"]
    if foreign_owner.any():
        idx = placed.index[foreign_owner]
        is_landlord = [normalise_name(n) in landlord_of(k) for n, k in
                       zip(placed.loc[idx, "name"], placed.loc[idx, "flat_key"])]
        foreign_owner.loc[idx] = ~np.asarray(is_landlord, dtype=bool)
    placed = placed.assign(foreign_owner=foreign_owner.to_numpy())
    per_flat = placed.groupby("flat_key").agg(n_member=("member", "sum"), n_foreign_owner=("foreign_owner", "sum"))
    registered = set(hh_of_flat)
    hh_status = households["residence_status"].fillna(households["flat_key"].map(flat_status))
    rented = set(households.loc[hh_status == schema.RES_RENTED, "flat_key"].tolist())
    at = per_flat.index.to_series()
    is_registered = at.isin(registered)
    overlap = (per_flat["n_member"] > 0) | at.isin(seen_unplaced)
    foreign = per_flat["n_foreign_owner"] > 0
    category = pd.Series(np.select(
        [~is_registered, foreign | (~overlap & ~at.isin(rented)), ~overlap],
        [schema.F_PRESENT_UNREGISTERED, schema.F_OWNER_CHANGED, schema.F_TENANT_CHANGED], default=""),
        index=per_flat.index)
    category = category[category != ""]
    reg_rows: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    with_finding = placed[placed["flat_key"].isin(set(category.index.tolist()))]
    for key, name, role in _rows(with_finding, "flat_key", "name", "role"):
        reg_rows[key].append((name, role if isinstance(role, str) else None))

    def household_text(key: str) -> str:
        hhs = hh_of_flat[key]
        heads = "、".join(h.head_name or "（无户主）" for h in hhs)
        return f"登记户主 {heads}" if len(hhs) == 1 else f"登记 {len(hhs)} 户（户主 {heads}）"

    def flat_household(key: str) -> int | None:
        hhs = hh_of_flat.get(key, ())
        return int(hhs[0].household_id) if len(hhs) == 1 else None

    for key in sorted(registered - set(per_flat.index.tolist()) - seen_unplaced):
        add(dict(category=schema.F_ABSENT_REGISTERED, flat_key=key, household_id=flat_household(key),
                 evidence=f"{household_text(key)}；卡口无本户室登记", confidence=0.9))
    for key, cat, n_foreign_owner in zip(category.index.tolist(), category.tolist(),
                                         per_flat.loc[category.index, "n_foreign_owner"].tolist()):
        regs_text = _reg_text(reg_rows[key])
        if cat == schema.F_PRESENT_UNREGISTERED:
            status = flat_status.get(key)
            why = ("登记表为空置" if status == schema.RES_VACANT else
                   "登记表无本户室" if key not in flat_status else "登记表无在册住户")
            add(dict(category=cat, flat_key=key, evidence=f"{regs_text}；{why}", confidence=0.9))
        elif cat == schema.F_OWNER_CHANGED:
            owners = [n for n, r in reg_rows[key] if r == schema.CP_OWNER]
            lead = f"卡口业主 {_names(owners)}，" if owners else ""
            add(dict(category=cat, flat_key=key, household_id=flat_household(key),
                     evidence=f"{lead}{household_text(key)}；{regs_text}",
                     confidence=0.9 if n_foreign_owner > 0 else 0.7))
        else:
            landlords = "、".join(sorted({h.landlord for h in hh_of_flat[key] if h.landlord}))
            add(dict(category=cat, flat_key=key, household_id=flat_household(key),
                     evidence=f"{regs_text}；{household_text(key)}（出租{'，房东 ' + landlords if landlords else ''}）"
                              "，无一人在卡口登记", confidence=0.8))
    changed_flats = set(category.index[category != schema.F_PRESENT_UNREGISTERED].tolist())

    # --- person findings from registrations -------------------------------------------------------------------
    seen_flats = registered - changed_flats
    matched = placed[placed["person_id"].notna() & ~placed["member"]]
    matched = matched.drop_duplicates(["flat_key", "person_id"])
    matched = matched.assign(person_name=matched["person_id"].map(person_name))
    for rec in matched.itertuples(index=False):
        pid = int(rec.person_id)
        add(dict(category=schema.F_ID_AT_TWO_FLATS, flat_key=rec.flat_key, household_id=flat_household(rec.flat_key),
                 person_id=pid, checkpoint_id=int(rec.reg_id), name=rec.person_name,
                 evidence=f"卡口登记于本户室（{_ROLE_TEXT.get(rec.role, '身份未填')} {rec.name}，"
                          f"{REASON_LABELS[rec.reason]}），登记表中此人在 {rec.person_flat} "
                          f"（身份证 {mask_id(rec.id_number) if isinstance(rec.id_number, str) else '未填'}）",
                 confidence=float(rec.confidence)))
    newcomers = placed[placed["person_id"].isna() & ~placed["ambiguous"]
                       & placed["flat_key"].isin(seen_flats) & (placed["role"] != schema.CP_OWNER)]
    newcomers = newcomers.assign(name_n=newcomers["name"].map(normalise_name))
    for rec in newcomers.drop_duplicates(["flat_key", "name_n"]).itertuples(index=False):
        add(dict(category=schema.F_NEW_MEMBER, flat_key=rec.flat_key, household_id=flat_household(rec.flat_key),
                 checkpoint_id=int(rec.reg_id), name=rec.name,
                 evidence=f"卡口登记 {rec.name}（{_ROLE_TEXT.get(rec.role, '身份未填')}），"
                          f"{household_text(rec.flat_key)} 的在册成员中无此人", confidence=0.8))
    amb = regs[regs["ambiguous"]]
    for rec in amb.itertuples(index=False):
        ids = candidates[rec.reg_id]
        listed = "、".join(f"{person_flat[c]} {person_name[c]}" for c in ids[:_EVIDENCE_NAMES])
        key = rec.flat_key if isinstance(rec.flat_key, str) else person_flat[ids[0]]
        add(dict(category=schema.F_AMBIGUOUS_MATCH, flat_key=key, checkpoint_id=int(rec.reg_id), name=rec.name,
                 evidence=f"卡口登记 {rec.name}（电话 {mask_phone(rec.phone) if isinstance(rec.phone, str) else '未填'}）"
                          f"按{REASON_LABELS[rec.reason]}"
                          f"可对应 {len(ids)} 人：{listed}", confidence=0.5))

    # --- person findings of the register ------------------------------------------------------------------------
    p = persons
    # A register ID that passes the check but is the checkpoint's number with '000' for the last three digits.
    zeros = p[p["id_status"].isin(VALID_ID) & p["id_number"].str.endswith("000").fillna(False).astype(bool)]
    seen_ids = regs.loc[regs["person_id"].isin(set(zeros["person_id"].tolist())) & regs["id_status"].isin(VALID_ID),
                        ["person_id", "id_number"]]
    seen_ids = seen_ids.merge(zeros[["person_id", "id_number"]], on="person_id", suffixes=("_cp", ""))
    damaged = seen_ids[excel_damaged_pair(seen_ids["id_number"], seen_ids["id_number_cp"])
                       & seen_ids["id_number"].str.endswith("000").fillna(False).astype(bool)]
    row_of = pd.Series(p.index, index=p["person_id"].to_numpy())
    for pid in sorted(set(int(x) for x in damaged["person_id"])):
        rec = p.loc[row_of[pid]]
        add(dict(category=schema.F_ID_CORRUPTED, flat_key=rec.flat_key, household_id=int(rec.household_id),
                 person_id=pid, name=rec["name"],
                 evidence=f"{rec['name']} 的身份证号 {mask_id(rec.id_number)} 末三位为000，卡口登记的号码前15位相同而末三位"
                          "不同：疑被Excel存为数字后损坏，需重新采集", confidence=0.9))
    for key, hid, pid, name, idn in _rows(p[p["id_status"] == schema.ID_EXCEL_FLOAT], *_PERSON_REF, "id_number"):
        # 18 digits ending in 000 are the text a CSV or a retyped cell keeps of such a number: damage is inferred
        # (bad check character, or a 男 row where the 17th digit 0 reads female), so say so.
        inferred = isinstance(idn, str) and len(idn) == 18 and idn.isdigit()
        add(dict(category=schema.F_ID_CORRUPTED, flat_key=key, household_id=hid, person_id=pid, name=name,
                 evidence=(f"{name} 的身份证号 {mask_id(idn)} 末三位为000，与校验位或性别不符：疑被Excel存为数字后损坏，需重新采集"
                           if inferred else f"{name} 的身份证号被Excel存为数字（{mask_id(idn)}），末位已丢失，需重新采集"),
                 confidence=0.9 if inferred else 1.0))
    for key, hid, pid, name, idn, status in _rows(p[p["id_status"].isin(INVALID_ID)], *_PERSON_REF, "id_number",
                                                   "id_status"):
        add(dict(category=schema.F_ID_INVALID, flat_key=key, household_id=hid, person_id=pid, name=name,
                 evidence=f"{name} 的身份证号{schema.ID_STATUS_LABELS[status]}（{mask_id(idn)}）", confidence=1.0))
    valid = p[p["id_status"].isin(VALID_ID) & p["id_number"].notna()]
    valid = valid[valid["id_number"].duplicated(keep=False)]
    flats_per_id = valid.groupby("id_number")["flat_key"].nunique()
    shared = valid[valid["id_number"].isin(flats_per_id.index[flats_per_id > 1])]
    places = shared.groupby("id_number")["flat_key"].agg(lambda s: "、".join(sorted(set(s))))
    for key, hid, pid, name, idn in _rows(shared, *_PERSON_REF, "id_number"):
        add(dict(category=schema.F_ID_AT_TWO_FLATS, flat_key=key, household_id=hid, person_id=pid, name=name,
                 evidence=f"身份证号 {mask_id(idn)} 在登记表中同时出现在 {places[idn]}", confidence=1.0))
    id_birth = _id_birth(p["id_number"], p["id_status"])
    # Where the register's ID is unreadable, the ID its person gave at the checkpoint tells the birth date.
    unreadable = set(p.loc[id_birth.isna(), "person_id"].tolist())
    cp_valid = regs[regs["person_id"].isin(unreadable) & regs["id_status"].isin(VALID_ID)]
    cp_birth = (pd.Series(_id_birth(cp_valid["id_number"], cp_valid["id_status"]).to_numpy(),
                          index=cp_valid["person_id"].astype("int64").to_numpy())
                .dropna().groupby(level=0).first())
    from_cp = id_birth.isna() & p["person_id"].isin(cp_birth.index)
    check_birth = id_birth.copy()
    if from_cp.any():
        check_birth[from_cp] = p.loc[from_cp, "person_id"].map(cp_birth).to_numpy()
    bad = _birth_disagreements(p["birth_raw"], check_birth, p["id_status"], from_cp)
    mismatched = p.loc[bad].assign(ref=check_birth[bad].dt.strftime("%Y-%m-%d"), from_cp=from_cp[bad])
    for key, hid, pid, name, raw, ref, cp in _rows(mismatched, *_PERSON_REF, "birth_raw", "ref", "from_cp"):
        add(dict(category=schema.F_BIRTH_MISMATCH, flat_key=key, household_id=hid, person_id=pid, name=name,
                 evidence=f"{name} 的出生年月 {raw} 与{'卡口登记的身份证' if cp else '身份证'}（{ref}）不符",
                 confidence=0.9 if cp else 1.0))
    no_phone = p["phone"].isna() & p["phone2"].isna()
    no_phone[no_phone] = p.loc[no_phone, "phone_raw"].fillna("").astype(str).str.count(r"\d") < 5
    for key, hid, pid, name, raw in _rows(p[no_phone], *_PERSON_REF, "phone_raw"):
        add(dict(category=schema.F_MISSING_PHONE, flat_key=key, household_id=hid, person_id=pid, name=name,
                 evidence=f"{name} 无联系电话" + (f"（原文“{raw}”）" if isinstance(raw, str) and raw.strip() else ""),
                 confidence=1.0))

    # --- households to confirm -----------------------------------------------------------------------------------
    birth = id_birth.fillna(pd.to_datetime(p["birth_date"], errors="coerce"))
    old_enough = birth <= pd.Timestamp(elderly_cutoff(as_of))
    is_party = p["political_status"].isin(schema.PARTY_CODES)
    later = (birth.dt.month > as_of.month) | ((birth.dt.month == as_of.month) & (birth.dt.day > as_of.day))
    age = as_of.year - birth.dt.year - later.astype(int)
    sel = (old_enough | is_party).to_numpy()
    head_of = dict(zip(households["household_id"].tolist(), households["head_name"].tolist()))
    elderly: dict[int, list[str]] = defaultdict(list)
    party: dict[int, list[str]] = defaultdict(list)
    flat_of_household: dict[int, str] = {}
    for hid, key, name, year, years, old, pol in zip(*(col[sel].tolist() for col in (
            p["household_id"], p["flat_key"], p["name"], birth.dt.year, age, old_enough, p["political_status"]))):
        if old:
            elderly[hid].append(f"{name}（{int(year)}年生，{int(years)}岁）")
        if pol in schema.PARTY_CODES:
            party[hid].append(f"{name}（{schema.POLITICAL_STATUS_LABELS[pol]}）")
        flat_of_household[hid] = key
    for hid in sorted(elderly):
        add(dict(category=schema.F_CONFIRM_ELDERLY, flat_key=flat_of_household[hid], household_id=int(hid),
                 evidence=f"户主 {head_of.get(hid) or '（无）'}：60岁以上 {len(elderly[hid])} 人："
                          f"{_names(elderly[hid])}", confidence=1.0))
    for hid in sorted(party):
        add(dict(category=schema.F_CONFIRM_PARTY, flat_key=flat_of_household[hid], household_id=int(hid),
                 evidence=f"户主 {head_of.get(hid) or '（无）'}：{_names(party[hid])}", confidence=1.0))
    return _frame(records)


def _age(birth: dt.date, as_of: dt.date) -> int:
    return as_of.year - birth.year - ((as_of.month, as_of.day) < (birth.month, birth.day))


# --- The store side --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Frames:
    """One community loaded for the core, plus what is needed to write findings back."""

    flats: pd.DataFrame
    households: pd.DataFrame
    persons: pd.DataFrame
    registrations: pd.DataFrame
    #: registrations that name a building of the community but no flat that can exist there, or no building at all
    unplaced: int


@dataclasses.dataclass(frozen=True)
class ReconcileResult:
    """What one run found and what it did to the stored findings."""

    community_id: int
    as_of: dt.date
    counts: dict[str, int]              # findings of this run per category (every category of schema, 0 included)
    inserted: int                       # new open findings written
    updated: int                        # open findings of the previous run found again (evidence refreshed)
    removed: int                        # open findings of the previous run no longer found (no visit: deleted)
    settled: int                        # found again but already closed / pending / visited: not raised again
    registrations: int
    outside: int                        # registrations outside the community (ignored for findings)
    unplaced: int                       # in-community registrations whose address names no possible flat
    matched: dict[str, int]             # registrations matched per reason
    ambiguous: int
    seconds: float
    findings: pd.DataFrame = dataclasses.field(repr=False)   # FINDING_COLUMNS + flat_id, building, unit, room
    matches: pd.DataFrame = dataclasses.field(repr=False)    # MATCH_COLUMNS


def load_frames(session: Session, community_id: int) -> Frames:
    """The community's flats, active households and persons, and checkpoint registrations as the core's frames."""
    B, F, H, P, C = models.Building, models.Flat, models.Household, models.Person, models.CheckpointRegistration
    flat_rows = session.execute(select(F.id, B.number, F.unit, F.room, F.residence_status)
                                .join(B, B.id == F.building_id).where(B.community_id == community_id)).all()
    flats = pd.DataFrame(flat_rows, columns=["flat_id", "building", "unit", "room", "residence_status"])
    flats.insert(0, "flat_key", [flat_key(b, u, r) for b, u, r in zip(flats["building"], flats["unit"],
                                                                        flats["room"])])
    key_of = dict(zip(flats["flat_id"], flats["flat_key"]))
    hh_rows = session.execute(select(H.id, H.flat_id, H.head_name, H.residence_status, H.landlord)
                              .join(F, F.id == H.flat_id).join(B, B.id == F.building_id)
                              .where(B.community_id == community_id, H.active.is_(True))).all()
    households = pd.DataFrame(hh_rows, columns=["household_id", "flat_id", "head_name", "residence_status",
                                                "landlord"])
    households["flat_key"] = households["flat_id"].map(key_of)
    person_rows = session.execute(
        select(P.id, P.household_id, H.flat_id, P.name, P.id_number, P.id_status, P.phone, P.phone2, P.phone_raw,
               P.birth_date, P.birth_raw, P.political_status)
        .join(H, H.id == P.household_id).join(F, F.id == H.flat_id).join(B, B.id == F.building_id)
        .where(B.community_id == community_id, H.active.is_(True), P.active.is_(True))
        .order_by(P.id)).all()
    persons = pd.DataFrame(person_rows, columns=["person_id", "household_id", "flat_id", "name", "id_number",
                                                 "id_status", "phone", "phone2", "phone_raw", "birth_date",
                                                 "birth_raw", "political_status"])
    persons["flat_key"] = persons["flat_id"].map(key_of)
    buildings = {n: (floors, units) for n, floors, units in session.execute(
        select(B.number, B.floors, B.units).where(B.community_id == community_id))}
    reg_rows = session.execute(select(C.id, C.flat_id, C.building_no, C.unit, C.room, C.name, C.id_number,
                                      C.id_status, C.phone, C.role, C.in_community)
                               .where(C.community_id == community_id).order_by(C.id)).all()
    keys, unplaced = [], 0
    for r in reg_rows:
        key = _registration_key(r, key_of, buildings)
        keys.append(key)
        unplaced += key is None and bool(r.in_community)
    registrations = pd.DataFrame(
        {"reg_id": pd.Series([r.id for r in reg_rows], dtype="int64"), "flat_key": pd.Series(keys, dtype=object),
         "name": [r.name for r in reg_rows], "id_number": [r.id_number for r in reg_rows],
         "id_status": [r.id_status for r in reg_rows], "phone": [r.phone for r in reg_rows],
         "role": [r.role for r in reg_rows],
         "in_community": pd.Series([bool(r.in_community) for r in reg_rows], dtype=bool)})
    return Frames(flats[list(FLAT_COLUMNS)], households[list(HOUSEHOLD_COLUMNS)], persons[list(PERSON_COLUMNS)],
                  registrations[list(REGISTRATION_COLUMNS)], unplaced)


def _registration_key(r: Any, key_of: dict[int, str], buildings: dict[str, tuple[int | None, int | None]]
                      ) -> str | None:
    """The flat a registration's address names: its parsed building/unit/room when the building is the
    community's and the flat can exist there (unit and floor within the building), else its stored flat."""
    if not r.in_community:
        return None
    if r.building_no and r.room and r.building_no in buildings:
        floors, units = buildings[r.building_no]
        unit = r.unit or 1
        floor = int(r.room) // 100 if str(r.room).isdigit() else None
        if (units and unit > units) or (floors and floor and floor > floors):
            return key_of.get(r.flat_id) if r.flat_id else None
        return flat_key(r.building_no, unit, r.room)
    return key_of.get(r.flat_id) if r.flat_id else None


_KEY = ("category", "flat_id", "household_id", "person_id", "checkpoint_id")


def _subject(category: str, flat_id: Any, household_id: Any, person_id: Any, checkpoint_id: Any) -> tuple:
    return (category, _int(flat_id), _int(household_id), _int(person_id), _int(checkpoint_id))


def reconcile(session: Session, community_id: int, *, as_of: dt.date | None = None) -> ReconcileResult:
    """Cross-check a community's checkpoint registrations against its register and store the findings.

    The open findings of the previous run are replaced: those found again keep their id (evidence and confidence
    refreshed), those no longer found are deleted — unless a visit refers to them (never deleted). A finding already
    closed, pending approval or visited is not raised again for the same subject (category, flat, household,
    person, registration). Running twice gives the same open set. Flushes; the caller commits.
    """
    started = time.perf_counter()
    as_of = as_of or dt.date.today()
    frames = load_frames(session, community_id)
    matches = match_registrations(frames.persons, frames.registrations)
    found = cross_check(frames.flats, frames.households, frames.persons, frames.registrations, matches,
                        as_of=as_of)
    flat_ids = dict(zip(frames.flats["flat_key"], frames.flats["flat_id"]))
    found["flat_id"] = found["flat_key"].map(flat_ids).astype("Int64")
    parts = [split_flat_key(k) if isinstance(k, str) else (None, None, None) for k in found["flat_key"]]
    found["building"] = [b for b, _, _ in parts]
    found["unit"] = pd.Series([u for _, u, _ in parts], dtype="Int64")
    found["room"] = [r for _, _, r in parts]
    # A finding at a flat the register has never listed keeps its place through its registration.
    first_reg = (frames.registrations.dropna(subset=["flat_key"]).groupby("flat_key")["reg_id"].min())
    no_flat = found["flat_id"].isna() & found["checkpoint_id"].isna() & found["flat_key"].notna()
    found.loc[no_flat, "checkpoint_id"] = found.loc[no_flat, "flat_key"].map(first_reg).astype("Int64")

    inserted, updated, removed, settled = _store_findings(session, community_id, found, as_of)
    in_comm = frames.registrations["in_community"]
    counts = {c: 0 for c in schema.FLAT_FINDINGS + schema.PERSON_FINDINGS + schema.HOUSEHOLD_FINDINGS}
    counts.update(found["category"].value_counts().astype(int).to_dict())
    matched = matches.loc[matches["person_id"].notna(), "reason"].value_counts().astype(int).to_dict()
    return ReconcileResult(
        community_id=community_id, as_of=as_of, counts=counts, inserted=inserted, updated=updated, removed=removed,
        settled=settled, registrations=len(frames.registrations), outside=int((~in_comm).sum()),
        unplaced=frames.unplaced, matched={r: int(matched.get(r, 0)) for r in REASONS},
        ambiguous=int(matches["ambiguous"].sum()), seconds=time.perf_counter() - started, findings=found,
        matches=matches)


def _store_findings(session: Session, community_id: int, found: pd.DataFrame, as_of: dt.date
                    ) -> tuple[int, int, int, int]:
    Fd, V = models.Finding, models.Visit
    session.flush()
    visited = set(session.scalars(select(V.finding_id).join(Fd, Fd.id == V.finding_id)
                                  .where(Fd.community_id == community_id)))
    existing = session.execute(select(Fd.id, Fd.status, *(getattr(Fd, k) for k in _KEY), Fd.evidence,
                                      Fd.confidence).where(Fd.community_id == community_id)).all()
    replaceable: dict[tuple, tuple[int, str | None, float | None]] = {}
    settled_keys: set[tuple] = set()
    for row in existing:
        key = _subject(row.category, row.flat_id, row.household_id, row.person_id, row.checkpoint_id)
        if row.status == schema.FINDING_OPEN and row.id not in visited:
            replaceable[key] = (row.id, row.evidence, row.confidence)
        else:
            settled_keys.add(key)
    new_rows, updates, keep_ids, settled = [], [], set(), 0
    seen: set[tuple] = set()
    for rec in found[list(_KEY) + ["evidence", "confidence"]].itertuples(index=False):
        key = _subject(rec.category, rec.flat_id, rec.household_id, rec.person_id, rec.checkpoint_id)
        if key in seen:
            continue
        seen.add(key)
        if key in settled_keys:
            settled += 1
        elif key in replaceable:
            fid, evidence, confidence = replaceable[key]
            keep_ids.add(fid)
            if evidence != rec.evidence or confidence != rec.confidence:
                updates.append({"id": fid, "evidence": rec.evidence, "confidence": float(rec.confidence),
                                "run_as_of": as_of})
        else:
            new_rows.append({"community_id": community_id, "category": rec.category, "flat_id": key[1],
                             "household_id": key[2], "person_id": key[3], "checkpoint_id": key[4],
                             "evidence": rec.evidence, "confidence": float(rec.confidence),
                             "status": schema.FINDING_OPEN, "run_as_of": as_of, "created_at": models.utcnow()})
    stale = sorted(fid for fid, _, _ in replaceable.values() if fid not in keep_ids)
    for i in range(0, len(stale), 500):
        session.execute(delete(Fd).where(Fd.id.in_(stale[i:i + 500])))
    if updates:
        session.execute(update(Fd), updates)
    if new_rows:
        store.bulk_insert(session, Fd.__table__, new_rows)
    session.flush()
    return len(new_rows), len(updates), len(stale), settled


# --- Reports ----------------------------------------------------------------------------------------------------
FLAT_REPORT_COLUMNS: Final = ("building", "unit", "room", "category", "evidence")
PERSON_REPORT_COLUMNS: Final = ("building", "unit", "room", "name", "category", "evidence")


def report_rows(found: pd.DataFrame) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(flat rows, person and household rows) of a run's findings, in building/unit/room order, for CSV reports."""
    frame = found.assign(_b=found["building"].map(_natural), _r=found["room"].map(_natural))
    frame = frame.sort_values(["_b", "unit", "_r", "category", "name"], na_position="last", kind="stable")
    flat, other = [], []
    for rec in frame.itertuples(index=False):
        row = {"building": rec.building or "", "unit": "" if pd.isna(rec.unit) else int(rec.unit),
               "room": rec.room or "", "category": rec.category, "evidence": rec.evidence}
        if rec.category in schema.FLAT_FINDINGS:
            flat.append(row)
        else:
            other.append({**row, "name": rec.name if isinstance(rec.name, str) else ""})
    return flat, [{k: r[k] for k in PERSON_REPORT_COLUMNS} for r in other]


def _natural(text: Any) -> tuple:
    """Sort key of building numbers and rooms: '7A' after '7', '12' after '9'."""
    if not isinstance(text, str):
        return (1, 0, "")
    m = re.match(r"(\d+)(.*)", text)
    return (0, int(m.group(1)), m.group(2)) if m else (0, 10**9, text)
