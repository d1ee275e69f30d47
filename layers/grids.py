"""The grids layer (网格): one feature per grid coloured by verification coverage (share of verified households)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from geodata import indicators, models
from layers import colors, geojson


def grids_geojson(session: Session, community_id: int, *, coverage: pd.DataFrame | None = None,
                  visible: Collection[int] | None = None, offset: str | None = None,
                  as_of: dt.date | None = None) -> dict[str, Any]:
    """FeatureCollection of the community's grids (only `visible` ids when given), id = grid id.

    Properties: code, name, households, verified, share (0..1, None without households), percent, color.
    """
    rows = session.execute(select(models.Grid.id, models.Grid.geom_wkb)
                           .where(models.Grid.community_id == community_id).order_by(models.Grid.id)).all()
    frame = pd.DataFrame(rows, columns=["grid_id", "geom_wkb"])
    if visible is not None:
        frame = frame[frame["grid_id"].isin(list(visible))]
    if coverage is None:
        coverage = indicators.grid_coverage(session, community_id, as_of=as_of)
    frame = frame.merge(coverage, on="grid_id", how="left")
    frame["color"] = colors.coverage_colors(frame["share"])
    frame["percent"] = [None if pd.isna(s) else round(float(s) * 100) for s in frame["share"]]
    columns = ["code", "name", "households", "verified", "share", "percent", "color"]
    return geojson.feature_collection(geojson.geometries_from_wkb(frame["geom_wkb"]), frame["grid_id"].tolist(),
                                      frame[columns].to_dict("records"), offset=offset)
