"""The street layer: one polygon per community coloured by verification coverage (share of verified households).

Aggregates only (no person, flat or building data), so it serves street-office staff as well.
"""
from __future__ import annotations

from collections.abc import Collection
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from geodata import models
from layers import colors, geojson

PROPERTY_COLUMNS = ("name", "households", "verified", "share", "percent", "open_mismatches", "open_events",
                    "buildings", "color")


def communities_geojson(session: Session, street_id: int, coverage: pd.DataFrame, *,
                        visible: Collection[int] | None = None, offset: str | None = None) -> dict[str, Any]:
    """FeatureCollection of a street's communities (id = community id) from an
    `indicators.community_coverage` frame; only `visible` ids when given."""
    rows = session.execute(select(models.Community.id, models.Community.geom_wkb)
                           .where(models.Community.street_id == street_id).order_by(models.Community.id)).all()
    frame = pd.DataFrame(rows, columns=["community_id", "geom_wkb"])
    if visible is not None:
        frame = frame[frame["community_id"].isin(list(visible))]
    frame = frame.merge(coverage, on="community_id", how="left").reset_index(drop=True)
    frame["color"] = colors.coverage_colors(frame["share"])
    frame["percent"] = [None if pd.isna(s) else round(float(s) * 100) for s in frame["share"]]
    return geojson.feature_collection(geojson.geometries_from_wkb(frame["geom_wkb"]),
                                      frame["community_id"].tolist(), frame[list(PROPERTY_COLUMNS)]
                                      .to_dict("records"), offset=offset)
