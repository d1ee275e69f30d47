"""The flat page's data without a browser: the one verification form's whole-flat mode for a flat without a
household (findings listed, settled, a flat that gained a household meanwhile refused)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dashboard import verify_views, views
from geodata import models, schema, store
from geodata.errors import ConflictError
from tests import factories
from tests.test_views import env  # noqa: F401  (fixture)


def _vacant_flat(built: factories.Built) -> int:
    return built.flat_ids[next(key for key in built.flat_ids if key[0] == "4" and key not in built.household_ids)]


def test_a_flat_without_household_is_verified_as_a_whole(env):  # noqa: F811
    """What the old household form did at an empty flat: the 人在户不在 finding (a checkpoint registration placed at
    the flat) is listed by the one form and settled by a whole-flat outcome."""
    engine, built, scopes = env
    flat_id = _vacant_flat(built)
    with store.session_scope(engine) as s:
        registration = models.CheckpointRegistration(community_id=built.community_id, name="赵六",
                                                     id_status=schema.ID_OK, flat_id=flat_id, role=schema.CP_TENANT)
        s.add(registration)
        s.flush()
        s.add(models.Finding(community_id=built.community_id, category=schema.F_PRESENT_UNREGISTERED,
                             flat_id=flat_id, checkpoint_id=registration.id, evidence="卡口登记租户赵六"))
    with Session(engine) as s:
        data = verify_views.verify_data(s, scopes["worker"], flat_id)
    assert data["households"] == []
    assert [(f["category"], f["evidence"]) for f in data["flat_findings"]] == [(schema.F_PRESENT_UNREGISTERED,
                                                                                 "卡口登记租户赵六")]
    with store.session_scope(engine) as s:
        visit = views.save_flat_visit(s, scopes["worker"], flat_id, method=schema.M_DOOR, result=schema.R_CONFIRMED,
                                      note="租户赵六在住，已告知登记")
        assert (visit.household_id, visit.flat_id, visit.by) == (None, flat_id, "worker")
    with Session(engine) as s:
        assert verify_views.verify_data(s, scopes["worker"], flat_id)["flat_findings"] == []
        assert views.flat_detail(s, scopes["worker"], flat_id)["visits"][0]["note"] == "租户赵六在住，已告知登记"
        # a flat with households offers no whole-flat findings
        assert verify_views.verify_data(s, scopes["worker"], built.flat_ids[built.finding_flat])["flat_findings"] == []


def test_a_whole_flat_outcome_for_a_flat_that_gained_a_household_is_refused(env):  # noqa: F811
    engine, built, scopes = env
    flat_id = _vacant_flat(built)
    with store.session_scope(engine) as s:
        s.add(models.Household(flat_id=flat_id, head_name="新住户", residence_status=schema.RES_RENTED))
    with store.session_scope(engine) as s, pytest.raises(ConflictError, match="household"):
        views.save_flat_visit(s, scopes["worker"], flat_id, method=schema.M_PHONE, result=schema.R_CONFIRMED,
                              note="房屋空置")
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(models.Visit).where(models.Visit.flat_id == flat_id)) == 0
