"""The change log: every change to a person, household or flat keeps who, when, how, old value and new value.

Code that changes a register record goes through `apply_changes`; nothing writes those columns directly.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from geodata import models, schema

_ENTITY = {models.Person: schema.ENTITY_PERSON, models.Household: schema.ENTITY_HOUSEHOLD,
           models.Flat: schema.ENTITY_FLAT}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def apply_changes(session: Session, obj: models.Person | models.Household | models.Flat,
                  changes: Mapping[str, Any], *, by: str | None, how: str, at: dt.datetime | None = None,
                  batch_id: int | None = None, visit_id: int | None = None) -> list[models.ChangeLog]:
    """Set `changes` on `obj` and log each field whose value really changes. Returns the log rows added."""
    entity = _ENTITY[type(obj)]
    session.flush()  # obj needs its id for the log
    rows = []
    for field, new in changes.items():
        if not hasattr(type(obj), field):
            raise ValueError(f"{entity} has no field {field!r}")
        old = getattr(obj, field)
        if _text(old) == _text(new):
            continue
        setattr(obj, field, new)
        rows.append(models.ChangeLog(at=at or models.utcnow(), by=by, how=how, entity=entity, entity_id=obj.id,
                                     field=field, old=_text(old), new=_text(new), batch_id=batch_id,
                                     visit_id=visit_id))
    session.add_all(rows)
    return rows


def log_creation(session: Session, obj: models.Person | models.Household | models.Flat, *, by: str | None,
                 how: str, batch_id: int | None = None, visit_id: int | None = None,
                 at: dt.datetime | None = None) -> models.ChangeLog:
    """Record that a record came into being (old value empty)."""
    session.flush()
    row = models.ChangeLog(at=at or models.utcnow(), by=by, how=how, entity=_ENTITY[type(obj)], entity_id=obj.id,
                           field="created", old=None, new="1", batch_id=batch_id, visit_id=visit_id)
    session.add(row)
    return row


def history_of(session: Session, entity: str, entity_id: int) -> list[models.ChangeLog]:
    """The change log of one record, oldest first."""
    return list(session.scalars(select(models.ChangeLog).where(models.ChangeLog.entity == entity,
                                                               models.ChangeLog.entity_id == entity_id)
                                .order_by(models.ChangeLog.at, models.ChangeLog.id)))
