"""The open-issues layer: one point marker per open event (事件) at its building, coloured by category and sized
by age in days (the label is the age).

Several events of one building are spread on a small ring around the building's centre so that each stays
clickable. No personal data travels: category, state, age and ids only (the description stays on the flat page).
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from geodata import indicators, models, schema
from layers import colors, geojson

#: Radius (degrees, ~6 m) of the ring on which several events of one building are spread.
RING = 0.00006


def open_events_frame(session: Session, community_id: int, *, as_of: dt.date | None = None) -> pd.DataFrame:
    """Open events of a community: event_id, building_id, flat_id, category, state, reported_at, age_days."""
    as_of = as_of or indicators.local_today()
    flat = aliased(models.Flat)
    building = func.coalesce(models.Event.building_id, flat.building_id)
    rows = session.execute(
        select(models.Event.id, building.label("building_id"), models.Event.flat_id, models.Event.category,
               models.Event.state, models.Event.reported_at)
        .outerjoin(flat, flat.id == models.Event.flat_id)
        .where(models.Event.community_id == community_id, models.Event.state.in_(schema.EVENT_OPEN_STATES))
        .order_by(models.Event.id)).all()
    frame = pd.DataFrame(rows, columns=["event_id", "building_id", "flat_id", "category", "state", "reported_at"])
    frame["age_days"] = [event_age(r, as_of) for r in frame["reported_at"]]
    return frame


def event_age(reported_at: dt.datetime | None, as_of: dt.date) -> int | None:
    """Whole days between the (local) reporting date and `as_of`; never negative."""
    if reported_at is None or pd.isna(reported_at):
        return None
    return max(0, (as_of - indicators.local_time(pd.Timestamp(reported_at).to_pydatetime()).date()).days)


def ring_offsets(n: int, radius: float = RING) -> np.ndarray:
    """(dx, dy) of n markers around one centre: none for one, else evenly on a ring starting north."""
    if n <= 1:
        return np.zeros((max(n, 0), 2))
    angles = np.pi / 2 - 2 * np.pi * np.arange(n) / n
    return np.column_stack([radius * np.cos(angles), radius * np.sin(angles)])


def issues_geojson(session: Session, community_id: int, *, visible: Collection[int] | None = None,
                   offset: str | None = None, as_of: dt.date | None = None) -> dict[str, Any]:
    """FeatureCollection of points (id = event id) with category, state, age_days, color, size, building_id, flat_id.

    Only events whose building is `visible` (when given); events without a building are left out.
    """
    events = open_events_frame(session, community_id, as_of=as_of)
    events = events[events["building_id"].notna()]
    if visible is not None:
        events = events[events["building_id"].isin(list(visible))]
    events = events.reset_index(drop=True)
    ids = sorted({int(b) for b in events["building_id"]})
    rows = session.execute(select(models.Building.id, models.Building.geom_wkb)
                           .where(models.Building.id.in_(ids))).all() if ids else []
    centres = {r.id: shapely.from_wkb(bytes(r.geom_wkb)).representative_point() for r in rows if r.geom_wkb}
    points, props, ids_out = [], [], []
    for building_id, group in events.groupby("building_id", sort=True):
        centre = centres.get(int(building_id))
        if centre is None:
            continue
        for (dx, dy), row in zip(ring_offsets(len(group)), group.itertuples()):
            points.append(shapely.Point(centre.x + dx, centre.y + dy))
            ids_out.append(int(row.event_id))
            age = None if row.age_days is None or pd.isna(row.age_days) else int(row.age_days)
            props.append({"category": row.category, "state": row.state, "age_days": age,
                          "color": colors.event_color(row.category),
                          "size": colors.issue_sizes([math.nan if age is None else age])[0],
                          "building_id": int(building_id),
                          "flat_id": None if pd.isna(row.flat_id) else int(row.flat_id)})
    return geojson.feature_collection(np.asarray(points, dtype=object), ids_out, props, offset=offset)
