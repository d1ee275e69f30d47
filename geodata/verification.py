"""Recording what grid workers find: verification outcomes (核实走访) and reported events (事件上报).

Each function is one unit of work on a Session (the caller commits). Register fields change only through
`geodata.history.apply_changes`, so every change keeps who, when, how, old and new value.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from geodata import history, indicators, models, schema
from geodata.errors import ConflictError, InputError, NotFoundError

#: Household fields a visit may correct directly; anything else goes through the import or approval workflow.
CORRECTABLE_FIELDS = ("head_name", "residence_status", "landlord", "note")


def _check_code(value: str, allowed: Mapping[str, str], what: str) -> None:
    if value not in allowed:
        raise InputError(f"{what}: expected one of {', '.join(allowed)}, got {value!r}")


def _check_visit(method: str, result: str, corrections: Mapping[str, Any]) -> None:
    _check_code(method, schema.METHOD_LABELS, "method")
    _check_code(result, schema.RESULT_LABELS, "result")
    unknown = sorted(set(corrections) - set(CORRECTABLE_FIELDS))
    if unknown:
        raise InputError(f"corrections: expected fields among {', '.join(CORRECTABLE_FIELDS)}, "
                         f"got {', '.join(unknown)}")


def record_visit(session: Session, household_id: int, *, by: str, method: str, result: str, note: str | None,
                 corrections: Mapping[str, Any] | None = None, expected_version: int | None = None,
                 at: dt.datetime | None = None) -> models.Visit:
    """Record a verification outcome for a household and apply what it implies.

    Creates a `models.Visit`; applies `corrections` (household fields in CORRECTABLE_FIELDS) through the change log;
    when `result` is one of schema.CLOSING_RESULTS also sets `verified_at` (the local date) / `verified_by` (logged)
    and closes the open findings of the household (its own, its members', and the flat's findings not tied to
    another household). Raises ConflictError when `expected_version` is given and the household changed since it
    was read.
    """
    household = session.get(models.Household, household_id)
    if household is None:
        raise NotFoundError(f"household {household_id} does not exist")
    corrections = dict(corrections or {})
    _check_visit(method, result, corrections)
    if expected_version is not None and expected_version != household.version:
        raise ConflictError(f"household {household_id} was changed by someone else "
                            f"(version {household.version}, expected {expected_version}); reload and retry")
    at = at or models.utcnow()
    visit = models.Visit(household_id=household.id, flat_id=household.flat_id, at=at, by=by, method=method,
                         result=result, note=note or None,
                         corrections=json.dumps(corrections, ensure_ascii=False) if corrections else None)
    session.add(visit)
    try:
        session.flush()
        changes: dict[str, Any] = dict(corrections)
        if result in schema.CLOSING_RESULTS:
            changes.update(verified_at=indicators.local_time(at).date(), verified_by=by)
        history.apply_changes(session, household, changes, by=by, how=schema.HOW_VISIT, at=at, visit_id=visit.id)
        if result in schema.CLOSING_RESULTS:
            _link(visit, _close_findings(session, household.flat_id, household, at))
        session.flush()
    except StaleDataError as exc:
        raise ConflictError(f"household {household_id} was changed by someone else while saving; "
                            "reload and retry") from exc
    return visit


def record_flat_visit(session: Session, flat_id: int, *, by: str, method: str, result: str, note: str | None,
                      at: dt.datetime | None = None) -> models.Visit:
    """Record a verification outcome for a flat without a household (an empty flat, 人在户不在).

    A closing result closes the flat's open findings that belong to no household or person (the flat's own, or a
    checkpoint registration placed at the flat).
    """
    flat = session.get(models.Flat, flat_id)
    if flat is None:
        raise NotFoundError(f"flat {flat_id} does not exist")
    _check_visit(method, result, {})
    at = at or models.utcnow()
    visit = models.Visit(household_id=None, flat_id=flat.id, at=at, by=by, method=method, result=result,
                         note=note or None)
    session.add(visit)
    session.flush()
    if result in schema.CLOSING_RESULTS:
        _link(visit, _close_findings(session, flat.id, None, at))
        session.flush()
    return visit


def _link(visit: models.Visit, closed: list[models.Finding]) -> None:
    if len(closed) == 1:
        visit.finding_id = closed[0].id


def _close_findings(session: Session, flat_id: int, household: models.Household | None,
                    at: dt.datetime) -> list[models.Finding]:
    at_flat = select(models.CheckpointRegistration.id).where(models.CheckpointRegistration.flat_id == flat_id)
    unattached = models.Finding.household_id.is_(None) & models.Finding.person_id.is_(None)
    clauses = [unattached & (models.Finding.flat_id == flat_id),
               unattached & models.Finding.flat_id.is_(None) & models.Finding.checkpoint_id.in_(at_flat)]
    if household is not None:
        member_ids = select(models.Person.id).where(models.Person.household_id == household.id)
        clauses += [models.Finding.household_id == household.id, models.Finding.person_id.in_(member_ids)]
    findings = list(session.scalars(select(models.Finding)
                                    .where(models.Finding.status == schema.FINDING_OPEN, or_(*clauses))
                                    .order_by(models.Finding.id)))
    for finding in findings:
        finding.status = schema.FINDING_CLOSED
        finding.closed_at = at
    return findings


def report_event(session: Session, flat_id: int, *, category: str, description: str, reporter: str | None,
                 by: str, at: dt.datetime | None = None) -> models.Event:
    """Report an event (事件) at a flat: a `models.Event` in state 上报 and its first logged transition."""
    flat = session.get(models.Flat, flat_id)
    if flat is None:
        raise NotFoundError(f"flat {flat_id} does not exist")
    _check_code(category, schema.EVENT_CATEGORY_LABELS, "category")
    description = (description or "").strip()
    if not description:
        raise InputError("description: expected a text describing the event, got nothing")
    at = at or models.utcnow()
    event = models.Event(community_id=flat.building.community_id, building_id=flat.building_id, flat_id=flat.id,
                         category=category, description=description, reporter=(reporter or "").strip() or None,
                         state=schema.E_REPORTED, reported_at=at)
    session.add(event)
    session.flush()
    session.add(models.EventTransition(event_id=event.id, from_state=None, to_state=schema.E_REPORTED, at=at, by=by))
    session.flush()
    return event


def transition_event(session: Session, event_id: int, to_state: str, *, by: str, comment: str | None,
                     at: dt.datetime | None = None) -> models.Event:
    """Move an event to `to_state` along schema.EVENT_TRANSITIONS and log it (models.EventTransition: who, when,
    from, to, comment). Closing (E_CLOSED) or rejecting needs a comment and sets `closed_at`.

    Raises NotFoundError for an unknown event, InputError for a transition the procedure does not allow or a
    missing comment.
    """
    event = session.get(models.Event, event_id)
    if event is None:
        raise NotFoundError(f"event {event_id} does not exist")
    allowed = schema.EVENT_TRANSITIONS.get(event.state, ())
    if to_state not in allowed:
        raise InputError(f"event {event_id}: expected a next state among {', '.join(allowed) or 'none'} "
                         f"(from {event.state}), got {to_state!r}")
    comment = (comment or "").strip() or None
    if to_state in (schema.E_CLOSED, schema.E_REJECTED) and comment is None:
        raise InputError(f"comment: expected a text saying how event {event_id} was settled, got nothing")
    at = at or models.utcnow()
    session.add(models.EventTransition(event_id=event.id, from_state=event.state, to_state=to_state, at=at, by=by,
                                       comment=comment))
    event.state = to_state
    if to_state in (schema.E_CLOSED, schema.E_REJECTED):
        event.closed_at = at
    session.flush()
    return event


def close_event(session: Session, event_id: int, *, by: str, comment: str,
                at: dt.datetime | None = None) -> models.Event:
    """Close an open event (结案) with a comment, logged as a transition (`transition_event`)."""
    return transition_event(session, event_id, schema.E_CLOSED, by=by, comment=comment, at=at)
