"""Who to call about a flat, and where a leak may come from (the seed's story, on the demo's 兰翔社区)."""
from __future__ import annotations

import shutil

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from geodata import contacts, history, models, schema, store
from geodata.errors import NotFoundError
from geodata.synthetic import STORY_PREVIOUS_OWNER


def _story_event(s: Session) -> models.Event:
    """The leak in 丁单元501 reported on 2020-03-18 (geodata.synthetic's story)."""
    return s.scalars(select(models.Event).join(models.Flat, models.Event.flat_id == models.Flat.id)
                     .where(models.Flat.unit == 4, models.Flat.room == "501",
                            models.Event.category == schema.EC_REPAIR)
                     .order_by(models.Event.reported_at)).first()


def test_leak_in_501_points_up_the_stack_and_to_the_recently_sold_flat(lanxiang_store):
    url, _, _ = lanxiang_store
    engine = store.make_engine(url)
    with Session(engine) as s:
        event = _story_event(s)
        assert event is not None
        leak = contacts.leak_sources(s, event.flat_id)
        assert (leak.flat.unit, leak.flat.room) == (4, "501")
        # the stack above: 601 (6-storey building), nearest first, same unit and flat position
        assert [fc.room for fc in leak.above] == ["601"] and leak.top_floor == 6
        assert all(fc.unit == 4 and fc.building == leak.flat.building for fc in leak.above)
        above = leak.above[0]
        assert above.contacts and above.contacts[0].is_head and above.contacts[0].phone
        # the roof: 202 was just sold; the register still has the former owner, the checkpoint saw the new one
        assert leak.changed_in_unit[0].room == "202" and schema.F_OWNER_CHANGED in leak.changed_in_unit[0].changed
        sold = leak.changed_in_unit[0]
        assert sold.contacts[0].source == contacts.SRC_REGISTER and sold.contacts[0].is_head
        assert sold.contacts[0].name == STORY_PREVIOUS_OWNER
        new_owner = next(c for c in sold.contacts if c.source == contacts.SRC_CHECKPOINT)
        assert new_owner.name != STORY_PREVIOUS_OWNER and new_owner.phone and new_owner.since is not None
        # nothing outside the unit, the flat itself is not its own suspect
        assert all(fc.unit == 4 for fc in leak.changed_in_unit)
        assert leak.flat.flat_id not in {fc.flat_id for fc in (*leak.above, *leak.changed_in_unit)}
    engine.dispose()


def test_a_household_that_left_the_register_stays_a_contact_with_its_date(lanxiang_store, tmp_path):
    url, _, _ = lanxiang_store
    copy = tmp_path / "store.db"
    shutil.copyfile(url.split("///", 1)[1], copy)
    engine = store.make_engine(f"sqlite:///{copy}")
    with Session(engine) as s:
        hh = s.scalars(select(models.Household).where(models.Household.active.is_(True))
                       .order_by(models.Household.id)).first()
        head = next(p for p in hh.persons if p.relation == schema.HEAD_RELATION)
        before = contacts.flat_contacts(s, hh.flat_id)
        assert any(c.source == contacts.SRC_REGISTER and c.person_id == head.id for c in before.contacts)
        history.apply_changes(s, hh, {"active": False}, by="tester", how=schema.HOW_VISIT)
        s.flush()
        after = contacts.flat_contacts(s, hh.flat_id)
        former = [c for c in after.contacts if c.person_id == head.id]
        assert len(former) == 1 and former[0].source == contacts.SRC_FORMER and former[0].since is not None
        assert former[0].phone == (head.phone or head.phone2)
        # a checkpoint registrant is listed once, and not again when the register already has them
        names = [(c.name, c.phone) for c in after.contacts if c.source != contacts.SRC_FORMER]
        assert len(names) == len(set(names))
    engine.dispose()


def test_unknown_flat_is_a_clear_error(lanxiang_store):
    url, _, _ = lanxiang_store
    engine = store.make_engine(url)
    with Session(engine) as s, pytest.raises(NotFoundError):
        contacts.leak_sources(s, 10**9)
    engine.dispose()
