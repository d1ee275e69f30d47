"""The event page's pure functions: detail with the procedure's log and next steps, leak sources with masked
contacts, and moving an event along the procedure within the user's area."""
from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard import views
from geodata import models, schema, store
from geodata.errors import AccessDenied, InputError
from tests.test_views import env  # noqa: F401 - the factory store with one user per role


def _event_id(engine) -> int:  # noqa: ANN001
    with Session(engine) as s:
        return s.scalars(select(models.Event.id).where(models.Event.state == schema.E_REPORTED)).one()


def test_issue_detail_for_person_level_roles_only(env):  # noqa: F811
    engine, built, scopes = env
    event_id = _event_id(engine)
    with Session(engine) as s:
        d = views.issue_detail(s, scopes["admin"], event_id)
        assert d["flat_id"] == built.flat_ids[built.event_flat] and d["place"].endswith("502室")
        assert d["state"] == schema.E_REPORTED
        assert d["next_states"] == list(schema.EVENT_TRANSITIONS[schema.E_REPORTED])
        flat = s.get(models.Flat, d["flat_id"])
        leak = d["leak"]
        assert leak is not None and leak["top_floor"] == flat.building.floors
        # 502 is on the top floor of a 5-storey building: nothing above, the roof is next (the stack above a lower
        # flat is tested on the demo in test_contacts)
        assert flat.floor == flat.building.floors == 5 and leak["above"] == []
        shown = [c for f in leak["above"] + leak["changed"] for c in f["contacts"]]
        assert all(c["phone"] == "" or "*" in c["phone"] for c in shown)   # phones masked
        assert views.issue_detail(s, scopes["worker"], event_id) is not None
        # street staff see issues at building level only; another community sees nothing
        assert views.issue_detail(s, scopes["street"], event_id) is None
        assert views.issue_detail(s, scopes["other"], event_id) is None
        assert views.issue_detail(s, None, event_id) is None
        assert views.issue_detail(s, scopes["admin"], 10**9) is None


def test_advance_issue_logs_each_step_and_keeps_to_the_procedure(env):  # noqa: F811
    engine, _, scopes = env
    event_id = _event_id(engine)
    with store.session_scope(engine) as s:
        with pytest.raises(AccessDenied):
            views.advance_issue(s, scopes["other"], event_id, schema.E_ACCEPTED, comment=None)
        with pytest.raises(AccessDenied):
            views.advance_issue(s, scopes["street"], event_id, schema.E_ACCEPTED, comment=None)
        with pytest.raises(InputError, match="expected a next state"):
            views.advance_issue(s, scopes["worker"], event_id, schema.E_VERIFYING, comment=None)
    with store.session_scope(engine) as s:
        views.advance_issue(s, scopes["worker"], event_id, schema.E_ACCEPTED, comment="居民来电")
    with store.session_scope(engine) as s:
        views.advance_issue(s, scopes["admin"], event_id, schema.E_DISPATCHED, comment="派遣至网格长")
    with Session(engine) as s:
        d = views.issue_detail(s, scopes["admin"], event_id)
        assert d["state"] == schema.E_DISPATCHED
        assert [(x["from"], x["to"], x["by"], x["comment"]) for x in d["transitions"][-2:]] == [
            (schema.E_REPORTED, schema.E_ACCEPTED, "worker", "居民来电"),
            (schema.E_ACCEPTED, schema.E_DISPATCHED, "admin", "派遣至网格长")]
        assert d["next_states"] == list(schema.EVENT_TRANSITIONS[schema.E_DISPATCHED])
    with store.session_scope(engine) as s, pytest.raises(InputError, match="comment"):
        views.advance_issue(s, scopes["worker"], event_id, schema.E_CLOSED, comment=None)
