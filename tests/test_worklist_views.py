"""The worklist and approvals pages' pure functions (dashboard.worklist_views) and the per-finding verification
form's (dashboard.verify_views): scope, walking order, counts, downloads with their audit entries, the form's
boundary checks, and approvals by area — without a browser."""
from __future__ import annotations

import datetime as dt
import io
import re

import openpyxl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from dashboard import verify_views, worklist_views
from geodata import access, models, schema, store, verification
from geodata.errors import AccessDenied, GridMapError, InputError
from tests import factories

PASSWORD = "worklist-test-1"
USERS = {"admin": (schema.ROLE_COMMUNITY_ADMIN, None), "leader": (schema.ROLE_GRID_LEADER, 1),
         "worker": (schema.ROLE_GRID_WORKER, 1), "worker1": (schema.ROLE_GRID_WORKER, 0),
         "leader1": (schema.ROLE_GRID_LEADER, 0), "street": (schema.ROLE_STREET, None),
         "other": (schema.ROLE_COMMUNITY_ADMIN, "other")}


def _finding(s: Session, built: factories.Built, category: str, key: tuple[str, int, str] | None = None,
             **ids) -> int:
    flat_id = built.flat_ids[key] if key else None
    f = models.Finding(community_id=built.community_id, category=category, flat_id=flat_id,
                       status=schema.FINDING_OPEN, evidence=f"{category} test", **ids)
    s.add(f)
    s.flush()
    return f.id


@pytest.fixture
def env(tmp_path, monkeypatch):
    """The factory store, one user per role, and open findings in both grids and outside any grid."""
    # passwords play no part here: a cheap hash keeps seven accounts per test fast
    monkeypatch.setattr(access, "hash_password", lambda pw: generate_password_hash(pw, method="pbkdf2:sha256:1"))
    engine, built = factories.make_store(tmp_path / "store.db")
    with store.session_scope(engine) as s:
        for name, (role, grid) in USERS.items():
            kwargs: dict = {}
            if role == schema.ROLE_STREET:
                kwargs["street_id"] = built.street_id
            elif grid == "other":
                kwargs["community_id"] = built.other_community_id
            elif grid is None:
                kwargs["community_id"] = built.community_id
            else:
                kwargs["grid_ids"] = [built.grid_ids[grid]]
            access.create_user(s, name, PASSWORD, role, **kwargs)
        head = {key: s.scalars(select(models.Person).where(models.Person.household_id == hid)
                               .order_by(models.Person.id)).first().id for key, hid in built.household_ids.items()}
        # grid 2 (buildings 3, 4), deliberately created out of walking order
        _finding(s, built, schema.F_MISSING_PHONE, person_id=head[("4", 2, "302")])
        _finding(s, built, schema.F_TENANT_CHANGED, ("3", 2, "602"))
        _finding(s, built, schema.F_CONFIRM_ELDERLY, household_id=built.household_ids[("3", 1, "201")])
        # grid 1 (buildings 1, 2)
        _finding(s, built, schema.F_OWNER_CHANGED, ("2", 1, "102"))
        _finding(s, built, schema.F_MISSING_PHONE, person_id=head[("1", 2, "501")])
        # a checkpoint registration at a building the store does not know: no grid
        reg = models.CheckpointRegistration(community_id=built.community_id, name="赵六", id_status=schema.ID_MISSING,
                                            building_no="99", unit=1, room="101", address_raw="兰翔新村99幢1单元101室")
        s.add(reg)
        s.flush()
        _finding(s, built, schema.F_PRESENT_UNREGISTERED, checkpoint_id=reg.id)
    with Session(engine) as s:
        scopes = {name: access.scope_for(s, name) for name in USERS}
    yield engine, built, scopes, head
    engine.dispose()


def _keys(rows):
    return [(int(r["building"]), r["unit"], r["floor"], int(r["room"])) for r in rows]


def test_a_worker_sees_their_grid_in_walking_order_with_links(env):
    engine, built, scopes, head = env
    with Session(engine) as s:
        data = worklist_views.worklist_data(s, scopes["worker"])
    assert [g["grid_name"] for g in data["groups"]] == ["第二网格"]
    assert [g["name"] for g in data["grids"]] == ["第二网格"]
    rows = data["groups"][0]["rows"]
    assert {r["building"] for r in rows} == {"3", "4"}
    assert _keys(rows) == sorted(_keys(rows)) and len(rows) == 4          # 3 new + the factory's at 3-1-101
    for r in rows:
        assert r["href"] == f'/flat/{built.flat_ids[(r["building"], r["unit"], r["room"])]}'
        assert not re.search(r"\d{11}", r["phone"] or "")                 # masked contacts only
    assert data["counts"] == {schema.F_ABSENT_REGISTERED: 1, schema.F_TENANT_CHANGED: 1,
                              schema.F_CONFIRM_ELDERLY: 1, schema.F_MISSING_PHONE: 1}
    assert data["total"] == 4 and data["may_export_register"] is False


def test_an_admin_sees_every_grid_and_rows_outside_any_grid(env):
    engine, built, scopes, head = env
    with Session(engine) as s:
        data = worklist_views.worklist_data(s, scopes["admin"])
        one = worklist_views.worklist_data(s, scopes["admin"], grid_id=built.grid_ids[0])
    assert [g["grid_name"] for g in data["groups"]] == ["第一网格", "第二网格", "未分网格"]
    assert data["total"] == 7 and data["may_export_register"] is True
    loose = data["groups"][-1]["rows"]
    assert len(loose) == 1 and loose[0]["href"] is None and loose[0]["head_name"] == "赵六（卡口登记）"
    assert [g["grid_name"] for g in one["groups"]] == ["第一网格"]
    assert _keys(one["groups"][0]["rows"]) == [(1, 2, 5, 501), (2, 1, 1, 102)]


def test_the_category_filter_keeps_the_counts(env):
    engine, built, scopes, head = env
    with Session(engine) as s:
        data = worklist_views.worklist_data(s, scopes["admin"], category=schema.F_MISSING_PHONE)
    rows = [r for g in data["groups"] for r in g["rows"]]
    assert {r["category"] for r in rows} == {schema.F_MISSING_PHONE} and len(rows) == 2
    assert data["counts"][schema.F_MISSING_PHONE] == 2 and sum(data["counts"].values()) == 7


def test_outside_the_scope_there_is_no_worklist(env):
    engine, built, scopes, head = env
    with Session(engine) as s:
        assert worklist_views.worklist_data(s, scopes["street"]) is None           # aggregates only
        assert worklist_views.worklist_data(s, scopes["other"], community_id=built.community_id) is None
        assert worklist_views.worklist_data(s, scopes["worker"], grid_id=built.grid_ids[0]) is None
        assert worklist_views.worklist_data(s, None) is None
        leader1 = worklist_views.worklist_data(s, scopes["leader1"])
    assert {r["building"] for g in leader1["groups"] for r in g["rows"]} == {"1", "2"}


def test_downloads_are_scoped_masked_and_logged(env):
    engine, built, scopes, head = env
    with store.session_scope(engine) as s:
        name, body = worklist_views.worklist_xlsx(s, scopes["worker"], built.community_id)
        with pytest.raises(AccessDenied):
            worklist_views.worklist_xlsx(s, scopes["worker"], built.community_id, built.grid_ids[0])
        with pytest.raises(AccessDenied):
            worklist_views.register_xlsx(s, scopes["leader"], built.community_id)
        with pytest.raises(AccessDenied):
            worklist_views.register_xlsx(s, scopes["other"], built.community_id)
        with pytest.raises(GridMapError, match="原因"):   # an unmasked export needs a stated reason
            worklist_views.register_xlsx(s, scopes["admin"], built.community_id, "  ")
        reg_name, reg_body = worklist_views.register_xlsx(s, scopes["admin"], built.community_id, "季度核对")
    assert name.endswith(".xlsx") and "第二网格" in name and "平铺表" in reg_name
    wb = openpyxl.load_workbook(io.BytesIO(body))
    assert wb.sheetnames == ["第二网格"]
    cells = [c.value for row in wb.active.iter_rows(min_row=3) for c in row if c.value]
    assert len([row for row in wb.active.iter_rows(min_row=3)]) == 4
    assert not any(re.search(r"\d{11}", str(v)) for v in cells)
    reg = openpyxl.load_workbook(io.BytesIO(reg_body))
    assert reg.sheetnames == ["第一网格", "第二网格"]
    assert "导出人：admin" in reg.properties.description                 # watermark: who and when
    assert all("导出人：admin" in ws.oddHeader.center.text for ws in reg.worksheets)
    with Session(engine) as s:
        audit = s.scalars(select(models.AuditLog).where(models.AuditLog.action == schema.A_EXPORT)
                          .order_by(models.AuditLog.id)).all()
    assert [(a.username, a.reason) for a in audit] == [("worker", "入户情况汇总表"), ("admin", "季度核对")]


def test_a_leader_with_two_grids_chooses_one_to_download(env):
    engine, built, scopes, head = env
    with store.session_scope(engine) as s:
        access.create_user(s, "both", PASSWORD, schema.ROLE_GRID_LEADER, grid_ids=built.grid_ids)
    with store.session_scope(engine) as s:
        scope = access.scope_for(s, "both")
        with pytest.raises(InputError, match="请先选择一个网格"):
            worklist_views.worklist_xlsx(s, scope, built.community_id)
        name, _ = worklist_views.worklist_xlsx(s, scope, built.community_id, built.grid_ids[0])
    assert "第一网格" in name


# --- the verification form (verify_views) ---------------------------------------------------------------------
def _household(built, key=("4", 2, "302")):
    return built.household_ids[key]


def test_verify_data_lists_open_findings_per_household(env):
    engine, built, scopes, head = env
    with Session(engine) as s:
        data = verify_views.verify_data(s, scopes["worker"], built.flat_ids[("4", 2, "302")])
        assert verify_views.verify_data(s, scopes["worker1"], built.flat_ids[("4", 2, "302")]) is None
        assert verify_views.verify_data(s, scopes["street"], built.flat_ids[("4", 2, "302")]) is None
    (hh,) = data["households"]
    assert [f["category"] for f in hh["findings"]] == [schema.F_MISSING_PHONE]
    assert hh["members"][0]["id"] == head[("4", 2, "302")] and hh["pending"] == 0


def test_the_form_is_checked_at_the_boundary(env):
    engine, built, scopes, head = env
    hid, pid = _household(built), head[("4", 2, "302")]
    good = factories.id_number(dt.date(2001, 7, 7), 5)
    wide = good.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789X"})      # typed on a Chinese keyboard
    wrong = good[:17] + ("1" if good[17] != "1" else "2")
    with Session(engine) as s:
        person = s.get(models.Person, pid)
        form = {"household": {"head_name": person.household.head_name, "residence_status": schema.RES_OWNER,
                              "landlord": ""},
                "persons": {pid: {"name": person.name, "phone": " 139-1234-5678 ", "political_status": "13",
                                  "hukou_type": schema.HUKOU_LOCAL, "relation": schema.HEAD_RELATION, "active": []}},
                "new_members": [{"name": "", "relation": None, "id_number": "", "phone": ""},
                                {"name": "孙小红", "relation": "30", "id_number": wide,
                                 "phone": ""}]}
        out = verify_views.outcome_from_form(s, hid, form)
        assert out["household_changes"] == {} and out["person_changes"] == {pid: {"phone": "13912345678",
                                                                                  "phone2": None}}
        assert [m["name"] for m in out["new_members"]] == ["孙小红"]
        assert (out["new_members"][0]["id_number"], out["new_members"][0]["id_status"]) == (good, schema.ID_OK)
        bad = {"persons": {pid: {"phone": "12345"}},
               "new_members": [{"name": "李四", "id_number": wrong}, {"relation": "20"}]}
        with pytest.raises(InputError) as exc:
            verify_views.outcome_from_form(s, hid, bad)
    assert "联系电话无法识别" in str(exc.value) and "身份证号码有误" in str(exc.value) and "需要填写姓名" in str(exc.value)


def test_save_outcome_needs_corrections_for_corrected_and_respects_the_scope(env):
    engine, built, scopes, head = env
    hid, pid = _household(built), head[("4", 2, "302")]
    kwargs = dict(method=schema.M_PHONE, note=None, finding_ids=None, expected_version=None, require_approval=False)
    with store.session_scope(engine) as s:
        with pytest.raises(InputError, match="至少填写一项"):
            verify_views.save_outcome(s, scopes["worker"], hid, result=schema.R_CORRECTED, form={}, **kwargs)
        with pytest.raises(InputError, match="请选择核实结果"):
            verify_views.save_outcome(s, scopes["worker"], hid, result=schema.R_CONFIRMED,
                                      form={"persons": {pid: {"phone": "13912345678"}}}, **kwargs)
        with pytest.raises(AccessDenied):
            verify_views.save_outcome(s, scopes["worker1"], hid, result=schema.R_CONFIRMED, form={}, **kwargs)
        visits = verify_views.save_outcome(s, scopes["worker"], hid, result=schema.R_CORRECTED,
                                           form={"persons": {pid: {"phone": "13912345678"}}}, **kwargs)
        assert visits[0].approval is None
    with Session(engine) as s:
        assert s.get(models.Person, pid).phone == "13912345678"
        assert worklist_views.worklist_data(s, scopes["worker"])["total"] == 3      # its finding is closed


# --- approvals ------------------------------------------------------------------------------------------------
def test_a_workers_correction_waits_for_the_leader_of_the_grid(env):
    engine, built, scopes, head = env
    hid, pid = _household(built), head[("4", 2, "302")]
    with store.session_scope(engine) as s:
        visits = verify_views.save_outcome(
            s, scopes["worker"], hid, method=schema.M_DOOR, result=schema.R_CORRECTED, note="换号", finding_ids=None,
            form={"persons": {pid: {"phone": "13912345678", "political_status": "01"}}}, expected_version=None,
            require_approval=True)
        visit_id = visits[0].id
        assert visits[0].approval == verification.APPROVAL_PENDING
    with Session(engine) as s:
        assert s.get(models.Person, pid).phone is None or s.get(models.Person, pid).phone != "13912345678"
        assert worklist_views.pending_approvals(s, scopes["worker"]) is None
        assert worklist_views.pending_approvals(s, scopes["leader1"]) == []
        (item,) = worklist_views.pending_approvals(s, scopes["leader"])
        assert [i["visit_id"] for i in worklist_views.pending_approvals(s, scopes["admin"])] == [visit_id]
        # the finding waits: not on the worklist any more
        assert worklist_views.worklist_data(s, scopes["worker"])["total"] == 3
    assert item["by"] == "worker" and item["findings"] == [schema.F_MISSING_PHONE] and not item["own"]
    changes = {c["field"]: (c["old"], c["new"]) for c in item["changes"]}
    assert changes["phone"][1] == "139****5678" and changes["political_status"] == ("13", "01")
    with store.session_scope(engine) as s:
        with pytest.raises(AccessDenied):
            worklist_views.decide(s, scopes["worker"], visit_id, approve=True)
        with pytest.raises(AccessDenied):
            worklist_views.decide(s, scopes["leader1"], visit_id, approve=True)
        worklist_views.decide(s, scopes["leader"], visit_id, approve=True)
    with Session(engine) as s:
        assert s.get(models.Person, pid).phone == "13912345678"
        assert worklist_views.pending_approvals(s, scopes["leader"]) == []


def test_a_leaders_own_corrections_apply_at_once(env):
    engine, built, scopes, head = env
    hid, pid = _household(built), head[("4", 2, "302")]
    assert verify_views.needs_approval(scopes["worker"], True) and not verify_views.needs_approval(scopes["leader"],
                                                                                                   True)
    with store.session_scope(engine) as s:
        visits = verify_views.save_outcome(s, scopes["leader"], hid, method=schema.M_PHONE,
                                           result=schema.R_CORRECTED, note=None, finding_ids=None,
                                           form={"persons": {pid: {"phone": "13912345678"}}}, expected_version=None,
                                           require_approval=True)
        assert visits[0].approval is None
    with Session(engine) as s:
        assert s.get(models.Person, pid).phone == "13912345678"


def test_the_pages_texts_exist_in_both_languages():
    from dashboard import i18n

    zh, en = i18n.catalog("zh"), i18n.catalog("en")
    keys = {k for k in zh if k.startswith(("worklist.", "verify.", "approvals."))} | {"nav.worklist", "nav.approvals"}
    assert len(keys) > 40 and keys <= set(en) and keys <= set(zh)
    assert zh["verify.conflict"] == "该户信息已被他人修改，请刷新后重试"
