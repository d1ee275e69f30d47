"""The buildings layer: one feature per building with its status, counts and a colour per theme.

Colours are computed here (pure Python, `layers.colors`) for every theme at once, so the map's JS style function
only picks `properties.colors[hideout.theme]`: switching theme restyles without sending geometry again.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from geodata import indicators, models
from layers import colors, geojson, legend

#: Status columns copied into each feature's properties.
PROPERTY_COLUMNS = ("number", "label", "grid_id", "status", "households", "verified", "open_findings", "elderly_60",
                    "elderly_only", "living_alone", "party_families", "open_events")


def theme_colors(status: pd.DataFrame) -> pd.DataFrame:
    """One colour column per theme (legend.THEMES) for a `indicators.building_status` frame."""
    out = pd.DataFrame(index=status.index)
    out[legend.THEME_STATUS] = colors.status_colors(status["status"])
    for theme, column in ((legend.THEME_ELDERLY, "elderly_60"), (legend.THEME_PARTY, "party_families")):
        breaks, palette, _ = legend.THEME_CLASSES[theme]
        out[theme] = colors.class_colors(colors.shares(status[column], status["households"]), breaks, palette)
    for theme, column in ((legend.THEME_EVENTS, "open_events"), (legend.THEME_FINDINGS, "open_findings")):
        breaks, palette, _ = legend.THEME_CLASSES[theme]
        out[theme] = colors.class_colors(status[column], breaks, palette)
    return out


def buildings_geojson(session: Session, community_id: int, *, status: pd.DataFrame | None = None,
                      visible: Collection[int] | None = None, offset: str | None = None,
                      as_of: dt.date | None = None) -> dict[str, Any]:
    """FeatureCollection of the community's buildings (only `visible` ids when given), id = building id."""
    rows = session.execute(select(models.Building.id, models.Building.label, models.Building.geom_wkb)
                           .where(models.Building.community_id == community_id)
                           .order_by(models.Building.id)).all()
    frame = pd.DataFrame(rows, columns=["building_id", "label", "geom_wkb"])
    if visible is not None:
        frame = frame[frame["building_id"].isin(list(visible))]
    if status is None:
        status = indicators.building_status(session, community_id, as_of=as_of)
    frame = frame.merge(status, on="building_id", how="left")
    frame["label"] = frame["label"].where(frame["label"].notna(), frame["number"])
    palette = theme_colors(frame)
    properties = []
    for record, color_row in zip(frame[list(PROPERTY_COLUMNS)].to_dict("records"), palette.to_dict("records")):
        record["colors"] = color_row
        properties.append(record)
    return geojson.feature_collection(geojson.geometries_from_wkb(frame["geom_wkb"]), frame["building_id"].tolist(),
                                      properties, offset=offset)
