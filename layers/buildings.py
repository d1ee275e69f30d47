"""The buildings layer: one feature per building with its status, counts, flags and a colour per theme.

Colours are computed here (pure Python, `layers.colors`) for every theme at once, so the map's JS style function
only picks `properties.colors[hideout.theme]`: switching theme, filtering or selecting restyles without sending
geometry again. The findings theme has one colour per category that occurs in the building (`"f:<category>"`
keys); a missing key means none of that category (the theme's zero colour, which the hideout carries).
`flags` (legend.FILTERS codes) drive the filters (`only=`) and the glyph row next to the building number.
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
PROPERTY_COLUMNS = ("number", "label", "grid_id", "status", "households", "verified", "open_findings",
                    "open_mismatches", "elderly_60", "elderly_only", "living_alone", "party_families", "open_events")
#: Prefix of the per-category colour keys of the findings theme.
CATEGORY_KEY = "f:"
#: The colour of a category count of zero (what the JS uses when a building has no `f:<category>` key).
ZERO_FINDINGS_COLOR = colors.FINDING_COLORS[0]

_COUNT_THEMES = ((legend.THEME_ELDERLY_ONLY, "elderly_only"), (legend.THEME_LIVING_ALONE, "living_alone"),
                 (legend.THEME_EVENTS, "open_events"), (legend.THEME_FINDINGS, "open_findings"))


def theme_colors(status: pd.DataFrame) -> pd.DataFrame:
    """One colour column per theme (legend.THEMES) for a `indicators.building_status` frame."""
    out = pd.DataFrame(index=status.index)
    out[legend.THEME_STATUS] = colors.status_colors(status["status"])
    for theme, column in ((legend.THEME_ELDERLY, "elderly_60"), (legend.THEME_PARTY, "party_families")):
        breaks, palette, _ = legend.THEME_CLASSES[theme]
        out[theme] = colors.class_colors(colors.shares(status[column], status["households"]), breaks, palette)
    for theme, column in _COUNT_THEMES:
        breaks, palette, _ = legend.THEME_CLASSES[theme]
        out[theme] = colors.class_colors(status[column], breaks, palette)
    return out


def category_colors(counts: pd.DataFrame) -> dict[int, dict[str, str]]:
    """building id → {"f:<category>": colour} from an `indicators.findings_by_category` frame (non-zero only)."""
    if counts.empty:
        return {}
    breaks, palette, _ = legend.THEME_CLASSES[legend.THEME_FINDINGS]
    shades = colors.class_colors(counts["n"], breaks, palette)
    out: dict[int, dict[str, str]] = {}
    for building_id, category, shade in zip(counts["building_id"], counts["category"], shades):
        out.setdefault(int(building_id), {})[CATEGORY_KEY + str(category)] = shade
    return out


def building_flags(status: pd.DataFrame) -> list[list[str]]:
    """The legend.FILTERS codes that hold for each building of a `building_status` frame, in FILTERS order."""
    tests = {
        legend.FLAG_NOT_VERIFIED: (status["verified"] < status["households"]).to_numpy(),
        legend.FLAG_MISMATCHES: (status["open_mismatches"] > 0).to_numpy(),
        legend.FLAG_OPEN_ISSUES: (status["open_events"] > 0).to_numpy(),
        legend.FLAG_ELDERLY_60: (status["elderly_60"] > 0).to_numpy(),
        legend.FLAG_ELDERLY_ONLY: (status["elderly_only"] > 0).to_numpy(),
        legend.FLAG_LIVING_ALONE: (status["living_alone"] > 0).to_numpy(),
        legend.FLAG_PARTY: (status["party_families"] > 0).to_numpy(),
    }
    return [[flag for flag in legend.FILTERS if tests[flag][i]] for i in range(len(status))]


def buildings_geojson(session: Session, community_id: int, *, status: pd.DataFrame | None = None,
                      visible: Collection[int] | None = None, offset: str | None = None,
                      as_of: dt.date | None = None, categories: pd.DataFrame | None = None) -> dict[str, Any]:
    """FeatureCollection of the community's buildings (only `visible` ids when given), id = building id.

    `categories` is an `indicators.findings_by_category` frame (computed when not given).
    """
    rows = session.execute(select(models.Building.id, models.Building.label, models.Building.geom_wkb)
                           .where(models.Building.community_id == community_id)
                           .order_by(models.Building.id)).all()
    frame = pd.DataFrame(rows, columns=["building_id", "label", "geom_wkb"])
    if visible is not None:
        frame = frame[frame["building_id"].isin(list(visible))]
    if status is None:
        status = indicators.building_status(session, community_id, as_of=as_of)
    if categories is None:
        categories = indicators.findings_by_category(session, community_id)
    frame = frame.merge(status, on="building_id", how="left").reset_index(drop=True)
    frame["label"] = frame["label"].where(frame["label"].notna(), frame["number"])
    palette = theme_colors(frame)
    per_category = category_colors(categories)
    flags = building_flags(frame)
    properties = []
    for i, (record, color_row) in enumerate(zip(frame[list(PROPERTY_COLUMNS)].to_dict("records"),
                                                palette.to_dict("records"))):
        record["colors"] = {**color_row, **per_category.get(int(frame["building_id"].iat[i]), {})}
        record["flags"] = flags[i]
        properties.append(record)
    return geojson.feature_collection(geojson.geometries_from_wkb(frame["geom_wkb"]), frame["building_id"].tolist(),
                                      properties, offset=offset)

