"""Revealing a masked ID on the flat page: needs a reason, shows the value once, and is audited without it."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from geodata import models, schema, store


def test_admin_reveals_an_id_with_a_reason(admin_page, server):
    page, errors = admin_page
    built = server["built"]
    flat_id = next(iter(built.flat_ids.values()))
    engine = store.make_engine(server["db_url"])
    with Session(engine) as s:
        person = s.scalars(select(models.Person).join(models.Household)
                           .where(models.Household.flat_id == flat_id, models.Person.id_number.is_not(None))).first()
        full_id = person.id_number
    page.goto(f"{server['base_url']}/flat/{flat_id}")
    page.wait_for_selector("#reveal-form")
    assert full_id not in page.content()                      # masked by default
    page.locator("#reveal-person").click()
    page.locator(".Select-menu-outer, [role='option']").filter(has_text=person.name).first.click()
    page.click("#reveal-submit")                               # no reason: refused
    page.wait_for_selector("#reveal-error")
    page.fill("#reveal-reason", "核对户主身份")
    page.click("#reveal-submit")
    page.wait_for_selector("#reveal-value")
    assert full_id in page.locator("#reveal-value").inner_text()
    with Session(engine) as s:
        log = s.scalars(select(models.AuditLog).where(models.AuditLog.action == schema.A_REVEAL)).all()
    assert [(a.target_id, a.reason, a.detail) for a in log][-1] == (str(person.id), "核对户主身份", "field=id_number")
    assert all(full_id not in (a.detail or "") + (a.reason or "") for a in log)
    engine.dispose()
    assert errors == []
